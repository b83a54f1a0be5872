"""Variants stage: the paper's prompt, code extraction, candidate shaping, crash-safe resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fgit.records import Problem, VariantSet, iter_records
from fgit.variants.extract import extract_code, incorrect_response, is_markdown
from fgit.variants.prompt import PAPER_TEMPLATE, render_teacher_prompt
from fgit.variants.stage import build_candidate, generate_variants, summary_path


def test_paper_prompt_is_verbatim_and_brace_safe():
    prompt = render_teacher_prompt("Sum {a, b}", "def f(d):\n    return {1: d}")
    assert prompt == (
        "Generate an incorrect response based on the provided question and original answer. "
        "Your response should be similar to the original answer while introducing subtle but "
        "meaningful errors. Do not explicitly state, explain the errors introduced. Present your "
        "output in markdown format.\nQuestion:\n```text\nSum {a, b}\n```\nOriginal answer:\n"
        "def f(d):\n    return {1: d}"
    )


def test_custom_template_needs_both_fields():
    with pytest.raises(ValueError, match="both"):
        render_teacher_prompt("q", "a", "Only {instruction}")
    assert render_teacher_prompt("q", "a", "<{instruction}|{response}>") == "<q|a>"
    assert "{instruction}" in PAPER_TEMPLATE


@pytest.mark.parametrize(
    ("text", "kind", "code"),
    [
        (
            "Here you go:\n```python\ndef f():\n    return 1\n```\nDone.",
            "fenced",
            "def f():\n    return 1",
        ),
        ("```\nx = 1\n```", "fenced", "x = 1"),
        ("~~~py\nx = 2\n~~~", "fenced", "x = 2"),
        ("```python\ndef f():\n    return", "unclosed_fence", "def f():\n    return"),
        ("def f(x):\n    return x", "unfenced", "def f(x):\n    return x"),
        ("Use recursion; it is elegant.", "prose", None),
        ("", "prose", None),
        ("```python\r\nx = 3\r\n```", "fenced", "x = 3"),
    ],
)
def test_extract_code(text, kind, code):
    got = extract_code(text)
    assert (got.kind, got.code) == (kind, code)


def test_several_blocks_take_the_one_most_like_the_reference():
    text = "```python\nprint(f(2))\n```\nthen\n```python\ndef f(x):\n    return x - 1\n```"
    got = extract_code(text, reference="def f(x):\n    return x + 1")
    assert got.kind == "fenced_multi" and got.blocks == 2
    assert got.code == "def f(x):\n    return x - 1"


def test_python_blocks_win_over_other_languages():
    text = "```bash\npip install x\n```\n```python\nimport x\n```"
    assert extract_code(text).code == "import x"


@pytest.mark.parametrize(
    "text",
    [
        # failures seen from a 0.5B teacher (docs/variants.md): nested fences around the code.
        "```markdown\n```text\ndef f(x):\n    return x - 1\n```\n```",
        "Incorrect response:\n```markdown\nHere:\n```python\ndef f(x):\n    return x - 1\n```\n```",
        "```text\nSome words\n```python\ndef f(x):\n    return x - 1\n```\n```",
        "````markdown\n```python\ndef f(x):\n    return x - 1\n```\n````",
    ],
)
def test_nested_fences_give_the_inner_code(text):
    got = extract_code(text)
    assert got.code == "def f(x):\n    return x - 1", got


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # A bare ``` inside a ```` block opens an inner block rather than closing the outer one.
        (
            "````markdown\n```\ndef f(x):\n    return x - 1\n```\n````",
            "def f(x):\n    return x - 1",
        ),
        # An empty block is no candidate.
        ("```python\n```\n```python\nx = 1\n```", "x = 1"),
        # A fence line inside a string cuts the first block short: the parsing block wins.
        ('```python\ns = """\n```\n"""\n```\n```python\ny = 2\n```', "y = 2"),
    ],
)
def test_fence_edge_cases(text, code):
    assert extract_code(text).code == code


def test_is_markdown_agrees_with_extraction():
    four = "````python\nx = 1\n````"
    assert is_markdown(four) and extract_code(four).code == "x = 1"
    assert not is_markdown("x = 1\nprint(x)")


def test_a_non_python_leaf_is_taken_only_if_it_parses():
    text = "```text\nnot code at all\n```\n```text\nx = [1, 2]\n```"
    assert extract_code(text).code == "x = [1, 2]"


def test_incorrect_response_takes_the_correct_responses_form():
    teacher = "Sure:\n```python\ndef f(x):\n    return x - 1\n```"
    extraction = extract_code(teacher)
    code_only = "def f(x):\n    return x + 1"
    markdown = "Add one:\n```python\ndef f(x):\n    return x + 1\n```"
    assert not is_markdown(code_only) and is_markdown(markdown)
    assert incorrect_response(teacher, code_only, extraction) == "def f(x):\n    return x - 1"
    assert incorrect_response(teacher, markdown, extraction) == teacher
    prose = extract_code("No idea.")
    assert incorrect_response("No idea.", code_only, prose) is None


def test_build_candidate_counts_prose_as_unusable():
    problem = Problem(id="p", instruction="q", response="def f():\n    return 1")
    cand = build_candidate(problem, "I cannot do that.")
    assert cand.extraction == "prose" and cand.response is None and cand.code is None


class CannedSource:
    """Returns canned candidates; can crash on a given call to simulate a killed run."""

    def __init__(self, crash_on_call: int | None = None):
        self.calls = 0
        self.seen: list[str] = []
        self.crash_on_call = crash_on_call

    def variants(self, problems, k):
        self.calls += 1
        if self.calls == self.crash_on_call:
            raise KeyboardInterrupt("simulated crash")
        self.seen += [p.id for p in problems]
        return [[f"```python\n{p.response} + {j}\n```" for j in range(k)] for p in problems]

    def describe(self):
        return {"kind": "canned"}


def problems(n: int) -> list[Problem]:
    return [Problem(id=f"p{i}", instruction=f"q{i}", response=f"x = {i}") for i in range(n)]


def test_stage_writes_k_candidates_and_a_summary(tmp_path):
    out = tmp_path / "variants.jsonl"
    summary = generate_variants(problems(5), CannedSource(), out, k=3, batch_size=2, quiet=True)
    sets = [r for _, r in iter_records(out, VariantSet)]
    assert [s.id for s in sets] == [f"p{i}" for i in range(5)]
    assert all(len(s.candidates) == 3 for s in sets)
    assert sets[0].candidates[1].response == "x = 0 + 1"  # code-only correct -> code-only
    assert sets[0].teacher == {"kind": "canned"}
    assert summary.candidates == 15 and summary.usable == 15
    saved = json.loads(summary_path(out).read_text())
    assert saved["extraction"] == {"fenced": 15}


def test_stage_resumes_after_a_crash_without_duplicates_or_losses(tmp_path):
    out = tmp_path / "variants.jsonl"
    with pytest.raises(KeyboardInterrupt):
        generate_variants(
            problems(7), CannedSource(crash_on_call=3), out, k=2, batch_size=2, quiet=True
        )
    first = [r.id for _, r in iter_records(out, VariantSet)]
    assert first == ["p0", "p1", "p2", "p3"]  # two batches finished before the crash
    # A half-written last line (killed mid-write) is repaired, not mistaken for a record.
    with out.open("a") as fh:
        fh.write('{"id": "p4", "instruc')
    source = CannedSource()
    summary = generate_variants(problems(7), source, out, k=2, batch_size=2, quiet=True)
    assert source.seen == ["p4", "p5", "p6"]
    ids = [r.id for _, r in iter_records(out, VariantSet)]
    assert Counter(ids) == Counter(f"p{i}" for i in range(7))
    assert summary.resumed == 4 and summary.generated == 3


def test_quiet_reaches_the_teacher_backend():
    """fgit variants --quiet (and fgit run --quiet) silence the teacher's progress bar too."""
    from fgit.variants.sources import load_source

    assert load_source("openai:m@http://127.0.0.1:9/v1", quiet=True).backend.quiet
    assert not load_source("openai:m@http://127.0.0.1:9/v1").backend.quiet


def test_teacher_server_concurrency_is_passed_and_not_keyed():
    """variants.concurrency reaches an openai: backend and stays out of the stage key."""
    from fgit.pipeline.config import parse_run_config
    from fgit.pipeline.stages import build_plan
    from fgit.variants.sources import load_source

    source = load_source("openai:m@http://127.0.0.1:9/v1", concurrency=1)
    assert source.backend.max_concurrency == 1
    assert load_source("openai:m@http://127.0.0.1:9/v1").backend.max_concurrency == 8
    base = {"name": "x", "output_dir": "out", "model": "m", "problems": {"preset": "mbpp"}}
    keys = []
    for concurrency in (None, 1):
        config = parse_run_config(
            {**base, "variants": {"teacher": "mutation", "concurrency": concurrency}},
            "t",
            Path("."),
        )
        [stage] = [s for s in build_plan(config) if s.name == "variants"]
        keys.append(stage.settings)
    assert keys[0] == keys[1] and "concurrency" not in keys[0]
