"""BigCodeBench: its tasks, the program that runs a solution, its verdicts (hostile solutions
included), the ground truth, and agreement with upstream's own ``untrusted_check``."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fgit.data import BIGCODEBENCH_BENCHMARKS, DataError, bigcodebench_files
from fgit.data import files as data_files
from fgit.evaluation import bigcodebench as bcb_data
from fgit.evaluation import bigcodebench_groundtruth as gt
from fgit.evaluation.bigcodebench_scoring import (
    BigCodeBenchSettings,
    bigcodebench_limits,
    bigcodebench_program,
    bigcodebench_workers,
    calibrate,
    run_bigcodebench,
)
from fgit.evaluation.scores import TaskScore
from fgit.evaluation.scoring import ScoreSettings, score_solutions
from fgit.evaluation.tasks import Benchmark, EvalTask, load_benchmark
from fgit.execution import BIGCODEBENCH, describe_sandbox

REPO = Path(__file__).resolve().parents[1]
BCB_FILE = "bigcodebench/BigCodeBench-v0.1.0.jsonl.gz"
# stdlib-only tasks that start processes and write files (CI has no BigCodeBench extra)
# (not /205: its Pool hangs in some runs, upstream's harness too; docs/sandbox.md)
LIGHT_IDS = ["BigCodeBench/16", "BigCodeBench/19", "BigCodeBench/15"]
STUB = "def task_func(*args, **kwargs):\n    return None\n"

needs_namespaces = pytest.mark.skipif(
    describe_sandbox()["processes"] != "namespace" or describe_sandbox()["network"] != "namespace",
    reason="the BIGCODEBENCH policy needs PID and network namespaces (root or user namespaces)",
)


@pytest.fixture(scope="module")
def complete(shared_data: Path) -> Benchmark:
    return load_benchmark("bigcodebench-complete", shared_data)


def subset(benchmark: Benchmark, ids: list[str]) -> Benchmark:
    return replace(benchmark, tasks=[benchmark.task(i) for i in ids])


def manifest_sha256(shared_data: Path, name: str) -> str:
    for line in (shared_data / "MANIFEST.tsv").read_text().splitlines()[1:]:
        path, _, _, sha = line.split("\t")
        if path == f"data/{name}":
            return sha
    raise KeyError(name)


# --------------------------------------------------------------------------------- the tasks


def test_four_benchmarks_split_by_prompt_and_subset(shared_data: Path) -> None:
    with gzip.open(shared_data / BCB_FILE, "rt", encoding="utf-8") as f:
        raw = {r["task_id"]: r for r in map(json.loads, f)}
    hard = (shared_data / "bigcodebench/BigCodeBench-Hard-ids.txt").read_text().split()
    loaded = {name: load_benchmark(name, shared_data) for name in BIGCODEBENCH_BENCHMARKS}
    assert {name: len(b.tasks) for name, b in loaded.items()} == {
        "bigcodebench-complete": 1140,
        "bigcodebench-instruct": 1140,
        "bigcodebench-hard-complete": 148,
        "bigcodebench-hard-instruct": 148,
    }
    assert [t.task_id for t in loaded["bigcodebench-complete"].tasks] == list(raw)
    assert [t.task_id for t in loaded["bigcodebench-hard-instruct"].tasks] == [
        i for i in raw if i in set(hard)
    ]
    sha = manifest_sha256(shared_data, BCB_FILE)
    for name, bench in loaded.items():
        assert bench.version == "v0.1.0" and bench.sha256 == sha and not bench.has_plus
        assert bench.source.startswith(str(shared_data / BCB_FILE))
        assert ("Hard ids" in bench.source) == ("hard" in name)
        for task in bench.tasks[:50]:
            r = raw[task.task_id]
            field = "instruct_prompt" if name.endswith("instruct") else "complete_prompt"
            assert task.prompt == r[field] and task.test == r["test"]
            # upstream's ground truth program, and its calibration prefix
            assert task.canonical_solution == r["complete_prompt"] + "\n" + r["canonical_solution"]
            assert task.code_prompt == r["code_prompt"] and task.entry_point == "task_func"
            assert task.dataset == "bigcodebench"


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    fields = "task_id complete_prompt instruct_prompt canonical_solution code_prompt test"
    good = {k: "x" for k in [*fields.split(), "entry_point"]}
    path.write_text(json.dumps(good) + "\n{oops\n")
    with pytest.raises(DataError, match=r"x\.jsonl, line 2"):
        bcb_data.read_records(path)
    path.write_text(json.dumps({**good, "test": None}) + "\n")
    with pytest.raises(DataError, match=r"line 1: no test"):
        bcb_data.read_records(path)


def test_a_data_folder_without_the_file_is_an_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"BigCodeBench-v0\.1\.0"):
        bigcodebench_files("bigcodebench-complete", tmp_path)


def test_without_a_data_folder_upstreams_release_is_downloaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    site = tmp_path / "site-packages" / "fgit" / "data"  # an installed fgit, no checkout
    site.mkdir(parents=True)
    monkeypatch.setattr(data_files, "__file__", str(site / "files.py"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FGIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    full = (shared_data / BCB_FILE).read_bytes()
    hard = set((shared_data / "bigcodebench/BigCodeBench-Hard-ids.txt").read_text().split())
    records = gzip.decompress(full).decode().splitlines()
    hard_file = gzip.compress(
        "".join(r + "\n" for r in records if json.loads(r)["task_id"] in hard).encode()
    )
    asked: list[str] = []

    def urlopen(url: str, timeout: float) -> io.BytesIO:
        asked.append(url)
        return io.BytesIO(hard_file if "Hard" in url else full)

    monkeypatch.setattr(bcb_data.urllib.request, "urlopen", urlopen)
    bench = load_benchmark("bigcodebench-hard-instruct")
    assert len(bench.tasks) == 148 and asked == [bcb_data.URL, bcb_data.HARD_URL]
    assert bench.source.startswith(str(tmp_path / "cache" / "bigcodebench"))
    load_benchmark("bigcodebench-complete")
    assert len(asked) == 2  # cached

    def offline(url: str, timeout: float) -> io.BytesIO:
        raise bcb_data.urllib.error.URLError("no network")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(bcb_data.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="--data-dir"):
        load_benchmark("bigcodebench-complete")


# ------------------------------------------------------------------------------- the program


def test_program_is_calibrated_as_upstream(complete: Benchmark) -> None:
    task = complete.task("BigCodeBench/16")
    assert calibrate("X", task) == task.code_prompt + "\n    pass\nX"
    program = bigcodebench_program("X", task, BigCodeBenchSettings())
    assert program == (
        f"__fgit_bigcodebench__({calibrate('X', task)!r}, {task.test!r}, 241.0, 10)\n"
    )
    plain = bigcodebench_program("X", task, BigCodeBenchSettings(calibrated=False))
    assert plain.startswith("__fgit_bigcodebench__('X', ")
    limits = bigcodebench_limits(BigCodeBenchSettings())
    assert (limits.timeout_s, limits.memory_mb, limits.max_processes) == (242.0, 8192, 256)


def test_completion_rows_follow_complete_prompt_on_both_splits(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A samples file's ``completion`` follows ``complete_prompt`` on the instruct split too (the
    instruct prompt is prose), as upstream's evaluate.py builds the solution."""
    from fgit.evaluation import sampling, stage

    seen: list[str] = []

    def score(bench, sets, settings, progress=False, expected=None):
        seen.extend(v for solutions in sets for v in solutions.values())
        return [[TaskScore(task.task_id, "passed") for task in bench.tasks] for _ in sets]

    monkeypatch.setattr(sampling, "score_solution_sets", score)
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "BigCodeBench/16", "completion": "    return 1\n"}))
    raw = {r.task_id: r for r in load_benchmark("bigcodebench-complete", shared_data).tasks}
    for name in ("bigcodebench-complete", "bigcodebench-instruct"):
        seen.clear()
        stage.evaluate_samples(
            samples, name, tmp_path / f"{name}.json", data_dir=shared_data, quiet=True,
            task_ids=["BigCodeBench/16"],
        )  # fmt: skip
        assert seen == [raw["BigCodeBench/16"].prompt + "    return 1\n"], name


def test_requirements_file_and_extra_agree() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    block = re.search(r"\nbigcodebench = \[\n(.*?)\n\]", pyproject, re.S)
    assert block is not None
    extra = re.findall(r'"([^"]+)"', block.group(1))
    pins = [
        line.strip()
        for line in (REPO / "requirements/bigcodebench.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(extra, key=str.lower) == sorted(pins, key=str.lower)


# ------------------------------------------------------------------------------- verdicts

TINY_TEST = """
import unittest
class TestCases(unittest.TestCase):
    def test_value(self):
        self.assertEqual(task_func(2), 4)
    def test_type(self):
        self.assertIsInstance(task_func(3), int)
"""
TINY = EvalTask(
    task_id="Tiny/0",
    prompt="",
    entry_point="task_func",
    canonical_solution="def task_func(x):\n    return 2 * x\n",
    dataset="bigcodebench",
    test=TINY_TEST,
    code_prompt="import os\ndef task_func(x):\n",
)
WRONG = "def task_func(x):\n    return x + 3\n"
# Each would pass (or look like a pass) without the harness's checks.
HOSTILE = {
    "patch-wasSuccessful": "import unittest\nunittest.TestResult.wasSuccessful = lambda s: True\n"
    + WRONG,
    "patch-assertEqual": "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None\n"
    "unittest.TestCase.assertIsInstance = lambda *a, **k: None\n" + WRONG,
    "patch-TestCase-run": "import unittest\n"
    "unittest.TestCase.run = lambda self, result=None: None\n" + WRONG,
    "fake-unittest-module": "import sys, types, unittest\n"
    "fake = types.ModuleType('unittest')\n"
    "class TestCase:\n    pass\n"
    "fake.TestCase = TestCase\nsys.modules['unittest'] = fake\n" + WRONG,
    "patch-isinstance": "import builtins\n_real = builtins.isinstance\n"
    "builtins.isinstance = lambda o, t: t is int or _real(o, t)\n"
    "def task_func(x):\n    return 4 if x == 2 else 4.0\n",
    "build-class-hook": "import builtins\n_real = builtins.__build_class__\n"
    "def hook(func, name, *bases, **kw):\n"
    "    cls = _real(func, name, *bases, **kw)\n"
    "    if name == 'TestCases':\n"
    "        for attr in [a for a in vars(cls) if a.startswith('test')]:\n"
    "            setattr(cls, attr, lambda self: None)\n"
    "    return cls\n"
    "builtins.__build_class__ = hook\n" + WRONG,
    "skip-every-test": "import unittest\ndef task_func(x):\n    raise unittest.SkipTest('no')\n",
    "sys-exit-at-import": "import sys\nsys.exit(0)\n",
    "os-exit-at-import": "import os\nos._exit(0)\n",
    "exit-in-task": "def task_func(x):\n    raise SystemExit(0)\n",
    "fake-marker": "print('PASS')\nimport os\nos.write(1, b'PASS\\n')\n" + WRONG,
    "define-own-TestCases": "import unittest\nclass TestCases(unittest.TestCase):\n"
    "    def test_ok(self):\n        pass\n" + WRONG,
}
# Patches that undo themselves before the run ends, so that a snapshot compared only after
# the run finds nothing; each passed before the harness checked at every step.
SELF_RESTORING = {
    # a fake TestCase.run reports success, and the last call puts the real one back
    "fake-run-restored": "import unittest\n_real = unittest.TestCase.run\n_n = [0]\n"
    "def _fake(self, result=None):\n"
    "    result.startTest(self)\n    result.addSuccess(self)\n    result.stopTest(self)\n"
    "    _n[0] += 1\n"
    "    if _n[0] == 2:\n        unittest.TestCase.run = _real\n"
    "try:\n    unittest.TestCase.run = _fake\nexcept TypeError:\n    pass\n" + WRONG,
    # the loader finds no test (0 expected, 0 run) and puts itself back
    "no-tests-restored": "import unittest\n_real = unittest.TestLoader.getTestCaseNames\n"
    "def _fake(self, cls):\n    unittest.TestLoader.getTestCaseNames = _real\n    return []\n"
    "try:\n    unittest.TestLoader.getTestCaseNames = _fake\nexcept TypeError:\n    pass\n" + WRONG,
    # a class-building hook drops the failing test, then removes itself from the builtins
    "drop-test-restored": "import builtins\n_real = builtins.__build_class__\n"
    "def hook(func, name, *bases, **kw):\n"
    "    cls = _real(func, name, *bases, **kw)\n"
    "    if name == 'TestCases':\n"
    "        builtins.__build_class__ = _real\n"
    "        del cls.test_type\n"
    "    return cls\n"
    "builtins.__build_class__ = hook\n"
    "def task_func(x):\n    return 4 if x == 2 else 'no'\n",
    # ... or makes the failing test run the code of the passing one
    "swap-test-restored": "import builtins\n_real = builtins.__build_class__\n"
    "def hook(func, name, *bases, **kw):\n"
    "    cls = _real(func, name, *bases, **kw)\n"
    "    if name == 'TestCases':\n"
    "        builtins.__build_class__ = _real\n"
    "        cls.test_type = cls.test_value\n"
    "    return cls\n"
    "builtins.__build_class__ = hook\n"
    "def task_func(x):\n    return 4 if x == 2 else 'no'\n",
    # ... or wraps it (functools.wraps, as mock.patch does) in a wrapper that never calls it
    "wrap-test-restored": "import builtins, functools\n_real = builtins.__build_class__\n"
    "def hook(func, name, *bases, **kw):\n"
    "    cls = _real(func, name, *bases, **kw)\n"
    "    if name == 'TestCases':\n"
    "        builtins.__build_class__ = _real\n"
    "        cls.test_type = functools.wraps(cls.test_type)(lambda self: None)\n"
    "    return cls\n"
    "builtins.__build_class__ = hook\n"
    "def task_func(x):\n    return 4 if x == 2 else 'no'\n",
    # during the first test (test_type), the second one is replaced by a test that passes
    "replace-next-test": "import sys\ndef task_func(x):\n"
    "    sys.modules['__test__'].TestCases.test_value = lambda self: None\n"
    "    return 3 if x == 3 else 5\n",
    # ... or given the code of a test that passes
    "recode-next-test": "import sys\ndef task_func(x):\n"
    "    sys.modules['__test__'].TestCases.test_value.__code__ = (lambda self: None).__code__\n"
    "    return 3 if x == 3 else 5\n",
}


@pytest.fixture(scope="module")
def tiny_scores() -> dict[str, TaskScore]:
    """Every solution of the tiny task in one batch (one sandboxed program each)."""
    solutions = {"canonical": TINY.canonical_solution, "wrong": WRONG, **HOSTILE, **SELF_RESTORING}
    tasks = [replace(TINY, task_id=name) for name in solutions]
    bench = Benchmark("bigcodebench-tiny", tasks, "test", "v0", "0" * 64, False)
    scores = score_solutions(bench, solutions, ScoreSettings(workers=2), progress=False)
    return {s.task_id: s for s in scores}


@needs_namespaces
def test_canonical_passes_and_wrong_fails(tiny_scores: dict[str, TaskScore]) -> None:
    assert tiny_scores["canonical"].base == "passed", tiny_scores["canonical"]
    wrong = tiny_scores["wrong"]
    assert wrong.base == "failed"
    assert wrong.detail == "base: TestsFailed: 1 of 2: test_value: AssertionError: 5 != 4"


@needs_namespaces
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_solutions_never_pass(tiny_scores: dict[str, TaskScore], name: str) -> None:
    score = tiny_scores[name]
    assert score.base != "passed", score
    tampering = {
        "patch-wasSuccessful",
        "patch-assertEqual",
        "patch-TestCase-run",
        "fake-unittest-module",
        "patch-isinstance",
        "build-class-hook",
    }
    if name in tampering:  # refused as it patches (an immutable class) or found afterwards
        refused = "FgitTampering" in score.detail or "immutable type" in score.detail
        assert score.base == "error" and refused, score
    if name == "skip-every-test":
        assert score.base == "failed" and "2 of 2 skipped" in score.detail
    if name in ("sys-exit-at-import", "os-exit-at-import"):
        assert score.base == "exited"


DECORATED_TEST = """
import functools, os, unittest
from unittest.mock import patch
def library_decorator(func):  # a library's wraps decorator (requests_mock.mock's kind)
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper
class TestCases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = 2
    @patch("os.getcwd", return_value="/nowhere")
    def test_value(self, getcwd):
        self.assertEqual(task_func(self.shared), 4)
        self.assertEqual(os.getcwd(), "/nowhere")
    @library_decorator
    def test_type(self):
        self.assertIsInstance(task_func(3), int)
    def test_subtests(self):
        for x in (1, 2):
            with self.subTest(x=x):
                self.assertEqual(task_func(x), 2 * x)
"""


@needs_namespaces
def test_honest_tests_with_decorators_and_class_state_pass() -> None:
    """mock.patch and a library's functools.wraps decorators, setUpClass setting class
    attributes and subtests are the test code's own: they pass, and a wrong solution fails."""
    task = replace(TINY, test=DECORATED_TEST)
    settings = BigCodeBenchSettings(timeout_s=20.0)
    good = run_bigcodebench(TINY.canonical_solution, task, settings)
    assert good.passed, (good.detail, good.stderr[-2000:])
    bad = run_bigcodebench(WRONG, task, settings)
    assert bad.verdict.value == "failed" and "TestsFailed" in bad.detail, bad.detail


@needs_namespaces
@pytest.mark.parametrize("name", SELF_RESTORING)
def test_self_restoring_patches_never_pass(tiny_scores: dict[str, TaskScore], name: str) -> None:
    score = tiny_scores[name]
    assert score.base != "passed", score
    if name in ("fake-run-restored", "no-tests-restored"):
        # TestCase and TestLoader are immutable: the patch never happened, the real run failed
        assert score.base == "failed" and "1 of 2: test_value" in score.detail, score
    else:
        assert score.base == "error" and "FgitTampering" in score.detail, score


def test_default_workers_fit_the_memory() -> None:
    settings = BigCodeBenchSettings()  # 8 GiB + 1.5 GiB of tmpfs per run
    assert bigcodebench_workers(settings, memory_bytes=24 * 2**30, cores=16) == 2
    assert bigcodebench_workers(settings, memory_bytes=128 * 2**30, cores=8) == 8
    assert bigcodebench_workers(settings, memory_bytes=4 * 2**30, cores=8) == 1
    assert 1 <= bigcodebench_workers(settings) <= (os.cpu_count() or 1)


@needs_namespaces
def test_time_and_memory_limits_are_verdicts() -> None:
    slow = "import time\ndef task_func(x):\n    time.sleep(30)\n"
    greedy = "def task_func(x):\n    return len(bytearray(4 * 2**30))\n"
    def score(task_id: str, solution: str, timeout_s: float) -> str:
        bench = Benchmark(
            "bigcodebench-tiny", [replace(TINY, task_id=task_id)], "test", "v0", "0" * 64, False
        )
        limits = BigCodeBenchSettings(timeout_s=timeout_s, memory_mb=2048)
        settings = ScoreSettings(workers=1, bigcodebench=limits)
        [result] = score_solutions(bench, {task_id: solution}, settings, progress=False)
        return result.base

    # the tests' limit (3 s) or, on a loaded machine, the program's (4 s) comes first
    assert score("slow", slow, timeout_s=2.0) == "timeout"
    # a time limit far from reach, so a slow start on a loaded machine is not a timeout
    assert score("greedy", greedy, timeout_s=120.0) == "memory"


@needs_namespaces
def test_light_tasks_canonical_pass_and_stubs_fail(complete: Benchmark) -> None:
    """Real stdlib-only tasks (processes, archives, files) through the whole scoring path."""
    bench = subset(complete, LIGHT_IDS)
    canonical = {t.task_id: t.canonical_solution for t in bench.tasks}
    stubs = {t.task_id: STUB for t in bench.tasks}
    settings = ScoreSettings(workers=2)
    good = score_solutions(bench, canonical, settings, progress=False)
    assert [s.base for s in good] == ["passed"] * len(LIGHT_IDS), good
    bad = score_solutions(bench, stubs, settings, progress=False)
    assert all(s.base in ("failed", "error") for s in bad), bad


# --------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize(
    ("verdict", "detail", "stderr", "reason"),
    [
        ("passed", "", "", "passed"),
        ("error", "TestsRaised: 3 of 3: test_a: ModuleNotFoundError: No module named 'x'", "",
         "missing-library"),
        ("error", "TestsRaised: 1 of 2: test_a: ConnectionError: Max retries exceeded", "",
         "network"),
        ("failed", "TestsFailed: 1 of 2: test_a: AssertionError", "socket.gaierror: [Errno -3]",
         "network"),
        ("error", "TestsRaised: 1 of 1: test_a: LookupError:", "Resource stopwords not found.",
         "missing-data"),
        ("timeout", "the tests ran past 241.0 s", "", "timeout"),
        ("memory", "MemoryError", "", "memory"),
        ("sandbox_error", "could not start", "", "sandbox"),
        ("failed", "TestsFailed: 1 of 5: test_a: AssertionError: 1.0 != 1.5", "", "failed"),
        ("error", "TestsRaised: 3 of 7: test_a: TypeError: Axes.boxplot() got an unexpected "
         "keyword argument 'labels'", "", "library-version"),
        ("error", "TestsRaised: 1 of 2: test_a: AttributeError: module 'numpy' has no "
         "attribute 'float_'", "", "library-version"),
    ],
)  # fmt: skip
def test_reasons(verdict: str, detail: str, stderr: str, reason: str) -> None:
    assert gt.classify(verdict, detail, stderr) == reason


@needs_namespaces
def test_groundtruth_records_every_task_resumes_and_names_the_runnable_set(
    complete: Benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = replace(complete.task(LIGHT_IDS[0]), canonical_solution=STUB)
    bench = replace(complete, tasks=[complete.task(LIGHT_IDS[1]), broken])
    out = tmp_path / "gt.json"
    results = gt.run_groundtruth(bench, out, workers=2, progress=True)  # the bar renders
    rows = {row["task_id"]: row for row in results["tasks"]}
    assert rows[LIGHT_IDS[1]]["reason"] == "passed"
    assert rows[LIGHT_IDS[0]]["reason"] == "failed" and rows[LIGHT_IDS[0]]["detail"]
    assert results["summary"] == {"tasks": 2, "passed": 1, "by_reason": {"passed": 1, "failed": 1}}
    assert results["settings"]["calibrated"] is False  # upstream's ground truth is uncalibrated
    name, digest = gt.runnable_name([LIGHT_IDS[1]])
    assert results["runnable"] == {
        "name": name, "sha256": digest, "count": 1, "file": "gt.runnable.txt"
    }  # fmt: skip
    assert gt.read_runnable(out) == [LIGHT_IDS[1]]
    assert json.loads(out.read_text()) == results
    # A rerun reads the rows it has and runs nothing.
    monkeypatch.setattr(gt, "run_bigcodebench", lambda *a: pytest.fail("ran again"))
    assert gt.run_groundtruth(bench, out, workers=2, progress=False) == results
    # Other settings: refused, not mixed.
    with pytest.raises(gt.GroundTruthError, match="other data or settings"):
        gt.run_groundtruth(bench, out, BigCodeBenchSettings(timeout_s=5), progress=False)
    split = gt.pass_at_1_split(
        [[TaskScore(LIGHT_IDS[1], "passed")], [TaskScore(LIGHT_IDS[0], "failed")],
         [TaskScore("BigCodeBench/999", "passed")]],
        gt.read_runnable(out),
    )  # fmt: skip
    assert split["all"] == {"tasks": 3, "passed": 2}
    assert split["runnable"]["tasks"] == 1 and split["runnable"]["passed"] == 1
    assert split["runnable"]["name"] == name


def test_groundtruth_report_uses_every_sample_and_refuses_other_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report`` of an n = 2 run: pass@1 is the mean share of passing samples over all tasks and
    over the runnable ones; a run on other data (sha256) is refused in one line."""
    from fgit.evaluation.results import build_run, write_run

    spec = importlib.util.spec_from_file_location(
        "gt_script", REPO / "scripts/bigcodebench_groundtruth.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    ids = ["BigCodeBench/0", "BigCodeBench/1", "BigCodeBench/2"]
    (tmp_path / "gt.runnable.txt").write_text("BigCodeBench/0\nBigCodeBench/1\n")
    runnable = {"name": "r", "sha256": gt.runnable_name(ids[:2])[1], "file": "gt.runnable.txt"}
    groundtruth = tmp_path / "gt.json"
    groundtruth.write_text(json.dumps({"data": {"sha256": "abc"}, "runnable": runnable}))
    verdicts = {ids[0]: ["passed", "failed"], ids[1]: ["passed", "passed"], ids[2]: ["failed"] * 2}
    scores = [[TaskScore(t, v) for v in verdicts[t]] for t in ids]
    data = {"source": "s", "version": "v0.1.0", "sha256": "abc"}
    run = build_run(
        model="m", benchmark="bigcodebench-complete", data=data, sample_scores=scores, ks=[1]
    )
    write_run(tmp_path / "run.json", run)
    assert (
        script.main(["report", str(tmp_path / "run.json"), "--groundtruth", str(groundtruth)]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("bigcodebench-complete all: pass@1 0.5000 = 1.5/3")
    assert "runnable" in out[1] and "pass@1 0.7500 = 1.5/2" in out[1]
    groundtruth.write_text(json.dumps({"data": {"sha256": "other"}, "runnable": runnable}))
    assert (
        script.main(["report", str(tmp_path / "run.json"), "--groundtruth", str(groundtruth)]) == 2
    )
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "sha256 other" in error and "scored abc" in error


# ------------------------------------------------------------------ agreement with upstream


def _upstream_available() -> str | None:
    try:
        import bigcodebench.eval  # noqa: F401
    except ImportError as error:
        return f"bigcodebench not importable ({error}): pip install --no-deps bigcodebench==0.1.9"
    if importlib.util.find_spec("pandas") is None:  # CI installs upstream for its prompt tests
        return "the bigcodebench extra is not installed: pip install -e '.[bigcodebench]'"
    return None


@pytest.mark.slow
@needs_namespaces
@pytest.mark.skipif(_upstream_available() is not None, reason=str(_upstream_available()))
def test_verdicts_equal_upstream_untrusted_check(complete: Benchmark) -> None:
    """Canonical, mutated and hostile solutions: fgit passes exactly those upstream's
    ``untrusted_check`` passes (needs the bigcodebench extra's libraries)."""
    sys.path.insert(0, str(REPO / "scripts"))  # kept while the spawned workers start
    try:
        from check_against_bigcodebench import agreement_samples, compare

        samples = agreement_samples(complete, n_tasks=12, seed=0)
        disagree, rows, unstable = compare(complete, samples, workers=2)
    finally:
        sys.path.remove(str(REPO / "scripts"))
    assert disagree == []
    assert len(unstable) <= 1, unstable  # a clock-reading test under load, not a pattern
    assert {label.split(":")[0] for _, label, _, _ in rows} == {
        "canonical", "mutant", "hostile", "stricter"
    }  # fmt: skip


def test_a_difference_that_goes_away_when_scored_again_is_unstable_not_a_disagreement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import check_against_bigcodebench as check
    finally:
        sys.path.remove(str(REPO / "scripts"))

    def score(task_id: str, passed: bool) -> TaskScore:
        return TaskScore(task_id=task_id, base="passed" if passed else "failed")

    samples = [("A", "canonical", "x"), ("B", "canonical", "y"), ("C", "mutant:op", "z")]
    first = (["pass", "pass", "fail"], [score("A", True), score("B", False), score("C", True)])
    # scored again: B (a clock-reading test) agrees now, C (a real difference) does not
    again = (["pass", "fail"], [score("B", True), score("C", True)])
    calls = iter([first, again])
    seen: list[list[str]] = []

    def verdicts(benchmark, chosen, workers):
        seen.append([t for t, _, _ in chosen])
        return next(calls)

    monkeypatch.setattr(check, "_verdicts", verdicts)
    disagree, rows, unstable = check.compare(None, samples)
    assert seen == [["A", "B", "C"], ["B", "C"]]  # only the suspects are scored again
    assert [row[0] for row in rows] == ["A", "B", "C"]
    assert [row[0] for row in unstable] == ["B"] and [row[0] for row in disagree] == ["C"]


def test_policy_is_allow_subprocess_with_private_tmp_and_loopback() -> None:
    assert BIGCODEBENCH.subprocess and BIGCODEBENCH.file_changes and not BIGCODEBENCH.network
    assert BIGCODEBENCH.private_tmp and BIGCODEBENCH.loopback


# ------------------------------------------------------------------ a bad download (review)


def _offline_fgit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed fgit without a data folder, its cache under ``tmp_path``."""
    site = tmp_path / "site-packages" / "fgit" / "data"
    site.mkdir(parents=True)
    monkeypatch.setattr(data_files, "__file__", str(site / "files.py"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FGIT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "bigcodebench"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>rate limited</html>", "did not download as gzip"),
        (None, "did not download as gzip"),  # a transfer cut short: truncated gzip
        (gzip.compress(b"<html>not JSON</html>\n"), "line 1: not JSON"),
        (gzip.compress(b""), "downloaded with no tasks"),
    ],
    ids=["error-page", "truncated", "not-json", "empty"],
)
def test_a_bad_download_is_an_error_and_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path, body, message
) -> None:
    cache = _offline_fgit(tmp_path, monkeypatch)
    full = (shared_data / BCB_FILE).read_bytes()
    bad = full[: len(full) // 2] if body is None else body
    monkeypatch.setattr(bcb_data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(bad))
    with pytest.raises(DataError, match=message):
        load_benchmark("bigcodebench-complete")
    assert not any(cache.glob("*")) if cache.exists() else True  # nothing cached
    # The next run downloads again, and a good file is then cached and read.
    monkeypatch.setattr(bcb_data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(full))
    assert len(load_benchmark("bigcodebench-complete").tasks) == 1140


def test_a_corrupt_cached_file_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    cache = _offline_fgit(tmp_path, monkeypatch)
    cache.mkdir(parents=True)
    cached = cache / f"BigCodeBench-{bcb_data.VERSION}.jsonl.gz"
    full = (shared_data / BCB_FILE).read_bytes()
    cached.write_bytes(full[: len(full) // 2])  # cached by an older fgit: cut short
    with pytest.raises(DataError, match=re.escape(str(cached)) + ".*delete it"):
        load_benchmark("bigcodebench-complete")
    cached.write_bytes(b"plain text, not gzip\n")
    with pytest.raises(DataError, match=re.escape(str(cached))):
        bcb_data.read_records(cached)
