"""Your own benchmark: ``problems:PATH``, any problems file whose records carry tests.

The file is fgit's record schema (:class:`fgit.records.Problem`, read by
:func:`fgit.records.read_problems`, which also takes Alpaca and TRL records) or LeetCodeDataset's
format (``task_id``, ``prompt``, ``entry_point``, ``test``, ``query``, ``completion``: mapped by
:func:`fgit.problems.leetcode_problem`, the training loader's mapping). The file's first
record decides its format (:func:`is_leetcode_record`), so a LeetCodeDataset line is never
mistaken for TRL's ``prompt``/``completion``.

Each problem with tests is one task, scored like ``humaneval``: one sandboxed program of the
problem's prelude, the solution, its tests, and ``check(entry_point)`` when the tests define
``check(candidate)`` without calling it (:func:`fgit.execution.check_program`, the builder
``fgit validate`` and selection use too). Plain ``assert`` tests run as they are. This is
LeetCodeDataset's own program (``prompt + completion + test + check(entry_point)``,
newfacade/LeetCodeDataset ``eval_lcd/execution.py``) and human-eval's.

The prompt is evalplus's, as for every benchmark (:mod:`fgit.evaluation.prompts`):

- a problem whose instruction is prose gets it as evalplus gets an MBPP task: the instruction
  inside a docstring, in the chat prompt's fenced block, or completed by a base model with
  MBPP's stop strings;
- a completion-style problem (``metadata["style"] == "completion"``, e.g. the HumanEval halves of
  :func:`fgit.problems.humaneval_split`: the instruction is code that the answer continues) gets
  its instruction as the code prompt, as a HumanEval task, with HumanEval's stop strings.

Records without tests cannot be scored: they are counted, named in the benchmark
(``without_tests``) and in the results file, never silently dropped. Neither can records whose
tests define ``check(candidate)`` without calling it but that have no ``entry_point``: nothing
would call ``check``, so every answer would pass; they are counted and named the same way
(``without_entry_point``). A file with no scorable record is an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fgit.data import DataError
from fgit.errors import FgitError
from fgit.io import sha256_file
from fgit.records import Problem

if TYPE_CHECKING:  # imported where used: tasks, scoring and the CLI import this module
    from fgit.evaluation.tasks import Benchmark, EvalTask

__all__ = [
    "PREFIX",
    "ProblemsSpecError",
    "benchmark_name",
    "has_tests",
    "is_leetcode_record",
    "is_problems_benchmark",
    "is_scorable",
    "lacks_entry_point",
    "load_problems_benchmark",
    "problem_task",
    "problems_benchmark",
    "problems_path",
    "read_benchmark_problems",
    "results_label",
]

PREFIX = "problems:"
FGIT_FORMAT = "fgit problems"
LEETCODE_FORMAT = "LeetCodeDataset"


class ProblemsSpecError(FgitError, ValueError):
    """A ``problems:`` benchmark without a path (one line for the user; a ValueError for
    callers that check specs)."""


def is_problems_benchmark(name: str) -> bool:
    """Whether ``name`` is a ``problems:…`` benchmark (a spec ``problems:PATH`` or the name a
    run records, ``problems:<file name>``)."""
    return name.startswith(PREFIX)


def problems_path(spec: str) -> Path:
    """The file of a ``problems:PATH`` spec (relative paths: to the current folder)."""
    if not is_problems_benchmark(spec) or not spec.removeprefix(PREFIX).strip():
        raise ProblemsSpecError(f"expected problems:PATH, got {spec!r}")
    return Path(spec.removeprefix(PREFIX)).expanduser()


def benchmark_name(path: str | os.PathLike[str]) -> str:
    """The benchmark name runs record: ``problems:<file name>``. The folder is left out, so a
    run's name does not depend on where the file sits; the file's sha256 (in the run's data)
    is what says two runs scored the same problems."""
    return PREFIX + Path(path).name


def results_label(spec: str) -> str:
    """The file-name part of a ``problems:`` benchmark's results: ``problems-<file name>``
    (``problems-held-out.jsonl``), characters unsafe in a file name replaced."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", problems_path(spec).name).strip("-")
    return f"problems-{name or 'file'}"


def has_tests(problem: Problem) -> bool:
    return bool(problem.tests and problem.tests.strip())


def lacks_entry_point(problem: Problem) -> bool:
    """Whether the problem's tests need an entry point that it does not name: they define
    ``check(candidate)`` without calling it (so the harness must call ``check(entry_point)``,
    :func:`fgit.execution.check_program`'s rule) and ``entry_point`` is empty."""
    from fgit.execution.programs import check_program

    if not has_tests(problem) or (problem.entry_point or "").strip():
        return False
    tests = problem.tests or ""
    return check_program("", tests, "entry_point") != check_program("", tests, None)


def is_scorable(problem: Problem) -> bool:
    """A problem that is one task: tests that run, and whatever they need to be called."""
    return has_tests(problem) and not lacks_entry_point(problem)


def is_leetcode_record(obj: Any) -> bool:
    """A LeetCodeDataset record: every field of :data:`fgit.problems.LEETCODE_FIELDS`, and no
    ``instruction`` (fgit's own records have one; LeetCodeDataset's ``response`` is its
    markdown answer, so that field decides nothing)."""
    from fgit.problems import LEETCODE_FIELDS

    return (
        isinstance(obj, dict)
        and all(key in obj for key in LEETCODE_FIELDS)
        and "instruction" not in obj
    )


def _first_record(path: Path) -> Any:
    from fgit.records import first_record  # one reader: the same file:line errors everywhere

    return first_record(path)


def read_benchmark_problems(path: Path) -> tuple[list[Problem], str]:
    """``(problems, format)`` of a problems file: LeetCodeDataset's format when its first
    record is one (ids are then the file's own ``task_id``, as upstream's samples files use
    them), else fgit's record schema. A bad record raises :class:`RecordError` naming the
    file and line."""
    if not path.is_file():
        raise DataError(f"{path}: no such problems file")
    first = _first_record(path)
    if is_leetcode_record(first):
        from fgit.problems import leetcode_file

        problems = [
            p.model_copy(update={"id": str(p.metadata["task_id"])}) for p in leetcode_file(path)
        ]
        return problems, LEETCODE_FORMAT
    from fgit.records import read_problems

    return read_problems(path), FGIT_FORMAT


def _docstring(text: str) -> str:
    # evalplus's MBPP prompt form; the other quotes where the text holds a triple double quote.
    quote = "'''" if '"""' in text else '"""'
    return f"{quote}\n{text.strip()}\n{quote}\n"


def problem_task(problem: Problem) -> EvalTask:
    """The evaluation task of a problem with tests (see the module's docstring)."""
    from fgit.evaluation.tasks import EvalTask

    if not has_tests(problem):
        raise ValueError(f"{problem.id} has no tests")
    if lacks_entry_point(problem):
        raise ValueError(f"{problem.id}: its tests define check(candidate) but no entry_point")
    completion_style = problem.metadata.get("style") == "completion"
    prompt = problem.instruction if completion_style else _docstring(problem.instruction)
    prelude = problem.metadata.get("prelude") or None
    return EvalTask(
        task_id=problem.id,
        prompt=prompt,
        entry_point=problem.entry_point or "",
        # The reference answer as a whole program (a completion-style body after its prompt).
        canonical_solution=prompt + problem.response if completion_style else problem.response,
        # evalplus's dataset name: here it only picks plain completion's stop strings.
        dataset="humaneval" if completion_style else "mbpp",
        test=problem.tests,
        prelude=prelude if isinstance(prelude, str) else None,
    )


def problems_benchmark(
    problems: Sequence[Problem], *, name: str, source: str, sha256: str, version: str
) -> Benchmark:
    """The benchmark of ``problems``: one task per scorable problem, in file order; the ids
    of those without tests in ``without_tests``, of those whose ``check(candidate)`` has no
    entry point in ``without_entry_point``. :class:`DataError` when none is scorable."""
    from fgit.evaluation.tasks import Benchmark

    scored = [p for p in problems if is_scorable(p)]
    without = tuple(p.id for p in problems if not has_tests(p))
    no_entry = tuple(p.id for p in problems if lacks_entry_point(p))
    if not scored:
        why = "has tests" if not no_entry else "has tests that can be called (an entry_point)"
        raise DataError(f"{source}: none of its {len(problems)} records {why}; nothing to score")
    return Benchmark(
        name=name,
        tasks=[problem_task(p) for p in scored],
        source=source,
        version=version,
        sha256=sha256,
        has_plus=False,
        without_tests=without,
        without_entry_point=no_entry,
    )


def load_problems_benchmark(spec: str) -> Benchmark:
    """The benchmark of ``problems:PATH``: named ``problems:<file name>``, with the file's
    absolute path, format and sha256."""
    path = problems_path(spec)
    problems, fmt = read_benchmark_problems(path)
    return problems_benchmark(
        problems,
        name=benchmark_name(path),
        source=str(path.resolve()),
        sha256=sha256_file(path),
        version=fmt,
    )
