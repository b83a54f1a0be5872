"""Evaluation prompts (evalplus's format), sanitising, samples files, and greedy generation that
does not depend on the batch size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fgit.evaluation.prompts import (
    INSTRUCTION_PREFIX,
    RESPONSE_PREFIX,
    build_prompt,
    prompt_format_record,
    solution_from_completion,
)
from fgit.evaluation.samples import SamplesError, read_samples, samples_per_task

TASK = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'


def test_chat_prompt_is_evalplus_instruction_with_the_answer_begun(bytelevel_tokenizer):
    prompt = build_prompt(TASK, bytelevel_tokenizer, "humaneval", "auto")
    assert prompt.kind == "chat"
    user = f"{INSTRUCTION_PREFIX}\n```\n{TASK.strip()}\n```\n"
    assert prompt.text == (
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{RESPONSE_PREFIX}\n```python\n"
    )
    assert "\n```\n" in prompt.stop and prompt.solution_prefix == ""


def test_plain_prompt_is_completion_of_the_code(bytelevel_tokenizer):
    prompt = build_prompt(TASK + "\n\n", bytelevel_tokenizer, "humaneval", "plain")
    assert prompt.text == TASK and prompt.solution_prefix == TASK
    assert "\ndef " in prompt.stop and "\nassert" not in prompt.stop
    mbpp = build_prompt(TASK, bytelevel_tokenizer, "mbpp", "plain")
    assert "\nassert" in mbpp.stop and "\ndef " not in mbpp.stop


def test_chat_needs_a_template(bytelevel_tokenizer):
    import copy

    bare = copy.deepcopy(bytelevel_tokenizer)
    bare.chat_template = None
    assert build_prompt(TASK, bare, "humaneval").kind == "plain"
    with pytest.raises(ValueError, match="chat template"):
        build_prompt(TASK, bare, "humaneval", "chat")


def test_sanitizer_drops_the_models_own_tests():
    prompt = build_prompt(TASK, None, "humaneval", "plain")
    completion = "    return a + b\n\nassert add(1, 2) == 4\nprint(add(2, 2))\n"
    raw, solution = solution_from_completion(prompt, completion, "add")
    assert raw == TASK + completion
    assert "assert" not in solution and "print" not in solution
    assert "return a + b" in solution
    unsanitised = solution_from_completion(prompt, completion, "add", sanitize=False)[1]
    assert unsanitised == raw


def test_sanitizer_keeps_imports_helpers_and_globals():
    prompt = build_prompt(TASK, None, "humaneval", "plain")
    completion = (
        "    return helper(a) + b\n\nimport math\nOFFSET = 0\n\n"
        "def helper(x):\n    return x + OFFSET\n\nprint(add(1, 2))\n"
    )
    _, solution = solution_from_completion(prompt, completion, "add")
    for kept in ("import math", "OFFSET = 0", "def helper", "def add"):
        assert kept in solution
    assert "print(" not in solution


def test_prompt_format_record(bytelevel_tokenizer):
    record = prompt_format_record("auto", bytelevel_tokenizer)
    assert record["kind"] == "chat" and len(record["chat_template_sha256"]) == 64
    assert record["instruction_prefix"] == INSTRUCTION_PREFIX


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_read_samples_solutions_and_completions(tmp_path):
    path = write_lines(
        tmp_path / "s.jsonl",
        [{"task_id": "T/0", "solution": "x = 1"}, {"task_id": "T/1", "completion": "  pass"}],
    )
    assert read_samples(path, {"T/1": "def f():\n"}) == {
        "T/0": ["x = 1"],
        "T/1": ["def f():\n  pass"],
    }


def test_read_samples_keeps_every_sample_of_a_task_in_file_order(tmp_path):
    # evalplus's codegen with n_samples writes one row per sample, a task's rows together or not
    rows = [
        {"task_id": "T/0", "solution": "a0"},
        {"task_id": "T/1", "solution": "b0"},
        {"task_id": "T/0", "solution": "a1"},
        {"task_id": "T/1", "completion": "b1"},
    ]
    samples = read_samples(write_lines(tmp_path / "s.jsonl", rows), {"T/1": "p:"})
    assert samples == {"T/0": ["a0", "a1"], "T/1": ["b0", "p:b1"]}
    assert samples_per_task(samples, "s.jsonl") == 2
    assert samples_per_task({}, "s.jsonl") == 0


def test_samples_per_task_refuses_unequal_counts(tmp_path):
    with pytest.raises(SamplesError, match=r"^s\.jsonl: T/1 has 1 sample\(s\) but T/0 has 2"):
        samples_per_task({"T/0": ["a", "b"], "T/1": ["c"]}, "s.jsonl")


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (['{"task_id": "T/0", "solution": "a"}', "{not json"], r"s\.jsonl:2: invalid JSON"),
        ([{"solution": "a"}], ":1: expected an object with a task_id"),
        ([{"task_id": "T/0"}], ":1: needs a 'solution'"),
        ([{"task_id": "T/9", "completion": "x"}], ":1: a completion for T/9 needs"),
    ],
)
def test_read_samples_errors_name_file_and_line(tmp_path, rows, match):
    path = write_lines(tmp_path / "s.jsonl", rows)
    with pytest.raises(SamplesError, match=match):
        read_samples(path, {})


def test_greedy_answers_do_not_depend_on_batch_size(bytelevel_tokenizer, tiny_llama):
    from fgit.backends.transformers_backend import TransformersBackend
    from fgit.generation import SamplingParams

    # Prompts of very different lengths, so batches need a lot of left padding.
    prompts = [
        build_prompt(f"def f{i}(x):\n    " + "y = x + 1\n    " * (i % 7), bytelevel_tokenizer,
                     "humaneval").text
        for i in range(16)
    ]  # fmt: skip
    params = SamplingParams(temperature=0.0, max_new_tokens=32)
    answers = {}
    for size in (1, 8):
        backend = TransformersBackend.from_model(
            tiny_llama.float().eval(), bytelevel_tokenizer, batch_size=size, quiet=True
        )
        answers[size] = backend.complete(prompts, params)
    assert answers[1] == answers[8]
    assert len({a[0] for a in answers[1]}) > 1  # not one degenerate answer for every prompt


def test_static_kv_cache_gives_the_same_greedy_answers(bytelevel_tokenizer, tiny_llama):
    from fgit.backends.transformers_backend import TransformersBackend
    from fgit.generation import SamplingParams

    prompts = [
        build_prompt(f"def g{i}(x):\n    " + "x = x * 2\n    " * i, bytelevel_tokenizer,
                     "humaneval").text
        for i in range(6)
    ]  # fmt: skip
    params = SamplingParams(temperature=0.0, max_new_tokens=16)
    model = tiny_llama.float().eval()
    dynamic = TransformersBackend.from_model(
        model, bytelevel_tokenizer, batch_size=3, quiet=True
    ).complete(prompts, params)
    backend = TransformersBackend.from_model(
        model, bytelevel_tokenizer, batch_size=3, cache_implementation="static", quiet=True
    )
    assert backend._generation_config(params).cache_implementation == "static"
    assert backend.complete(prompts, params) == dynamic
    assert backend.describe()["cache_implementation"] == "static"
