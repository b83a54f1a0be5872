"""Expected outputs and reference times of evalplus tasks, computed by evalplus itself.

``expected_outputs`` calls ``evalplus.evaluate.get_groundtruth`` with the arguments
``evalplus.evaluate.evaluate`` uses (the dataset's md5 hash as the cache key, and
``MBPP_OUTPUT_NOT_NONE_TASKS`` for MBPP), so outputs are bit-identical to evalplus's and shared
with it through evalplus's cache folder. The first call per data file runs every canonical
solution on every input (a few minutes for MBPP+); later calls read the cache.

Canonical solutions are trusted dataset code, not model output: running them in this process,
outside the sandbox, is what evalplus does too and is needed for reference times comparable to
evalplus's. Model-generated code only ever runs in :mod:`fgit.execution`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fgit.evaluation.tasks import (
    Benchmark,
    evalplus_data_override,
    evalplus_dataset,
    evalplus_problems,
)

__all__ = ["Oracle", "cache_file", "compute_expected_outputs", "dataset_hash", "expected_outputs"]

# task_id -> {"base": outputs, "plus": outputs, "base_time": seconds, "plus_time": seconds}
Oracle = dict[str, dict[str, list[Any]]]


def _data_file(benchmark: Benchmark) -> Path | None:
    path = Path(benchmark.source)
    return path if path.is_file() else None


def dataset_hash(benchmark: Benchmark) -> str:
    """evalplus's cache key for the benchmark's data file (md5 of the file)."""
    from evalplus.data import get_human_eval_plus_hash, get_mbpp_plus_hash

    with evalplus_data_override(benchmark.name, _data_file(benchmark)):
        if evalplus_dataset(benchmark.name) == "humaneval":
            return str(get_human_eval_plus_hash())
        return str(get_mbpp_plus_hash())


def cache_file(benchmark: Benchmark) -> Path:
    """Where evalplus keeps (or will keep) the expected outputs of this data file."""
    import evalplus.evaluate

    # The folder get_groundtruth itself uses (evalplus's user cache folder).
    return Path(evalplus.evaluate.CACHE_DIR) / f"{dataset_hash(benchmark)}.pkl"


def expected_outputs(benchmark: Benchmark, *, progress: bool = True) -> Oracle:
    """Expected outputs and reference times of the benchmark's tasks (evalplus benchmarks only).

    Always computed for the whole data file, whatever subset ``benchmark.tasks`` holds: evalplus
    caches the result under the file's hash, so a partial computation would poison the cache."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.evaluate import get_groundtruth

    dataset = evalplus_dataset(benchmark.name)  # ValueError for plain humaneval
    problems = evalplus_problems(benchmark.name, _data_file(benchmark))
    hashcode = dataset_hash(benchmark)
    not_none = MBPP_OUTPUT_NOT_NONE_TASKS if dataset == "mbpp" else []
    cached = cache_file(benchmark).is_file()
    # evalplus prints its own status lines on stdout; stdout may be a results pipe, so they go
    # to stderr (or nowhere when quiet).
    with (
        _stdout_to_stderr(quiet=not progress),
        _counting_trusted_exec(len(problems), enabled=progress and not cached),
    ):
        oracle: Oracle = get_groundtruth(problems, hashcode, not_none)
    missing = [t.task_id for t in benchmark.tasks if t.task_id not in oracle]
    if missing:
        raise RuntimeError(
            f"evalplus's ground-truth cache {cache_file(benchmark)} lacks {len(missing)} tasks "
            f"(e.g. {missing[0]}); delete it to recompute"
        )
    return {t.task_id: oracle[t.task_id] for t in benchmark.tasks}


def compute_expected_outputs(benchmark: Benchmark) -> Oracle:
    """Like :func:`expected_outputs` for just ``benchmark.tasks``, computed now and never
    cached: the same ``trusted_exec`` calls ``get_groundtruth`` makes, for small subsets (tests,
    smoke runs) where loading or building the whole cache would dominate."""
    from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS
    from evalplus.gen.util import trusted_exec

    dataset = evalplus_dataset(benchmark.name)
    not_none = MBPP_OUTPUT_NOT_NONE_TASKS if dataset == "mbpp" else []
    oracle: Oracle = {}
    for task in benchmark.tasks:
        entry: dict[str, list[Any]] = {"base": [], "plus": [], "base_time": [], "plus_time": []}
        for label, inputs in (("base", task.base_inputs), ("plus", task.plus_inputs)):
            if inputs is not None:
                entry[label], entry[f"{label}_time"] = trusted_exec(
                    task.canonical_solution,  # evalplus's prompt + canonical_solution
                    inputs,
                    task.entry_point,
                    record_time=True,
                    output_not_none=task.entry_point in not_none,
                )
        oracle[task.task_id] = entry
    return oracle


@contextlib.contextmanager
def _stdout_to_stderr(quiet: bool) -> Iterator[None]:
    target = open(os.devnull, "w") if quiet else sys.stderr  # noqa: SIM115
    try:
        with contextlib.redirect_stdout(target):
            yield
    finally:
        if quiet:
            target.close()


@contextlib.contextmanager
def _counting_trusted_exec(n_tasks: int, *, enabled: bool) -> Iterator[None]:
    """A progress bar over evalplus's ``trusted_exec`` calls (two per task: base and plus).
    The wrapper only counts: arguments and results pass through unchanged."""
    if not enabled:
        yield
        return
    import evalplus.evaluate

    from fgit.progress import progress_bar

    original: Callable[..., Any] = evalplus.evaluate.trusted_exec
    with progress_bar(quiet=False, unit="input sets") as bar:
        job = bar.add_task("expected outputs", total=2 * n_tasks)

        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            finally:
                bar.advance(job)

        evalplus.evaluate.trusted_exec = counted
        try:
            yield
        finally:
            evalplus.evaluate.trusted_exec = original
