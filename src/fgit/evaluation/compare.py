"""Compare evaluation runs on the same benchmark, each against the first (the baseline).

Runs are paired by task id, so differences are tested with paired statistics (McNemar's exact
test, a bootstrap CI of the pass@1 difference) and listed task by task.

Runs with n > 1 samples per task (``fgit evaluate --n-samples``, an on-policy stage's attempts)
are compared with each other the same way, on each task's share of passing samples, whose mean
is the run's pass@1: the sign test over the tasks whose share moved (McNemar's exact test is its
one-sample case) and a bootstrap CI of the mean difference. A greedy run is not paired with a
sampled one: they estimate different things (the greedy answer, the sampling distribution).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from fgit.evaluation.benchmark_names import (
    benchmark_display,
    bigcodebench_split,
    has_base_and_plus,
)
from fgit.evaluation.problems import is_problems_benchmark
from fgit.evaluation.results import EvalRun, run_sample_scores
from fgit.evaluation.scores import TaskScore
from fgit.evaluation.stats import (
    McNemarResult,
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_bootstrap_mean_ci,
    sign_test,
)

__all__ = [
    "Comparison",
    "Flip",
    "PairedStats",
    "RunEntry",
    "TaskRow",
    "compare_runs",
    "comparison_to_dict",
    "format_delta",
    "format_p",
    "names_from_paths",
    "render_comparison",
    "verdict_outcome",
]

TestSet = Literal["base", "plus"]
MAX_TASK_ROWS = 50


@dataclass(frozen=True)
class PairedStats:
    """A run against the first run on one test set; differences in percentage points."""

    delta_pp: float
    ci_low_pp: float
    ci_high_pp: float
    # b_only: fail -> pass vs the first run, a_only: pass -> fail (sampled runs: the tasks whose
    # share of passing samples rose / fell, and p is the sign test's)
    mcnemar: McNemarResult


@dataclass(frozen=True)
class Flip:
    """A task that passes in one of the two runs only. Verdicts are the base verdict, or
    ``"base/plus"`` for the plus test set; in sampled runs, a task whose share of passing
    samples differs, as ``"passing/n"``."""

    task_id: str
    tests: TestSet
    first: str  # verdict in the first run
    other: str  # verdict in this run
    gained: bool  # fail -> pass (else pass -> fail); sampled: the share rose


@dataclass(frozen=True)
class RunEntry:
    name: str
    model: str
    pass_at_1_base: float
    pass_at_1_plus: float | None
    base: PairedStats | None = None  # None for the first run
    plus: PairedStats | None = None  # also None when either run has no plus tests
    flips: tuple[Flip, ...] = ()


@dataclass(frozen=True)
class TaskRow:
    """A task whose pass/fail differs from the first run in some run; one verdict per run
    (sampled runs: ``"passing/n"`` of the base tests, ``"base | plus"`` with plus tests)."""

    task_id: str
    verdicts: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    benchmark: str
    tasks: int
    confidence: float
    runs: tuple[RunEntry, ...]
    differing: tuple[TaskRow, ...]  # in the first run's task order
    notes: tuple[str, ...] = ()  # setting differences that may make the runs incomparable
    sampled: bool = False  # drawn at T > 0 (EvalRun.sampled): shares of passing samples, sign test

    @property
    def test_name(self) -> str:
        """The paired test behind each p: ``McNemar`` or ``sign test``."""
        return "sign test" if self.sampled else "McNemar"

    @property
    def what_changes(self) -> str:
        """What of a task differs between two runs: its pass/fail, or its share of passes."""
        return "share of passing samples" if self.sampled else "pass/fail"


def _names(runs: Sequence[EvalRun], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(runs):
            raise ValueError(f"{len(names)} names for {len(runs)} runs")
        if len(set(names)) != len(names):
            raise ValueError(f"run names must be unique, got {list(names)}")
        return list(names)
    # Default to the model; the same model evaluated twice gets a "#2" suffix.
    seen: Counter[str] = Counter()
    out = []
    for run in runs:
        seen[run.model] += 1
        out.append(run.model if seen[run.model] == 1 else f"{run.model} #{seen[run.model]}")
    return out


def names_from_paths(paths: Sequence[Path]) -> list[str]:
    """Short distinct run names for results files: the file stems when they differ, else the
    shortest folder suffix that tells the files apart (``runs/X/eval/base/humaneval.json`` and
    ``runs/X/eval/fgit/humaneval.json`` are ``base`` and ``fgit``), else that suffix with the
    stem; the same file given twice gets ``#2``. Pure (paths are resolved, not read)."""
    resolved = [Path(path).resolve() for path in paths]
    stems = [path.stem for path in resolved]
    if len(set(stems)) == len(stems):
        return stems
    depth = max(len(path.parent.parts) for path in resolved)
    for d in range(1, depth + 1):
        folders = ["/".join(path.parent.parts[-d:]) for path in resolved]
        for candidates in (folders, [f"{f}/{s}" for f, s in zip(folders, stems, strict=True)]):
            if len(set(candidates)) == len(candidates):
                return candidates
    seen: Counter[str] = Counter()  # the same file more than once
    out = []
    for name in stems:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _ids_preview(ids: set[str], order: dict[str, int]) -> str:
    shown = sorted(ids, key=lambda tid: (order.get(tid, len(order)), tid))
    more = f", ... ({len(ids)} in all)" if len(ids) > 5 else ""
    return ", ".join(shown[:5]) + more


def _same_problems_file(first: EvalRun, first_name: str, run: EvalRun, name: str) -> bool:
    """Whether both runs are on ``problems:`` benchmarks, and then they must be on the same
    file's content (ValueError otherwise): a run's benchmark name is the file's name alone, so
    two files may share a name, and a renamed copy is still the same benchmark."""
    if not (is_problems_benchmark(first.benchmark) and is_problems_benchmark(run.benchmark)):
        return False
    a, b = first.data.get("sha256"), run.data.get("sha256")
    if a != b or a is None:
        raise ValueError(
            f"different problems files: {first_name} scored {first.data.get('source')} "
            f"(sha256 {str(a)[:12]}), {name} scored {run.data.get('source')} (sha256 {str(b)[:12]})"
        )
    return True


def _check_comparable(runs: Sequence[EvalRun], names: list[str]) -> None:
    first, first_name = runs[0], names[0]
    for run, name in zip(runs[1:], names[1:], strict=True):
        if run.sampled != first.sampled:
            raise ValueError(
                f"{first_name} is {first.decoding} and {name} {run.decoding}: fgit compare "
                "pairs greedy runs with greedy runs and sampled runs with sampled runs (the "
                "greedy answer and the sampling distribution are different things)"
            )
    order = {t.task_id: i for i, t in enumerate(first.tasks)}
    for run, name in zip(runs[1:], names[1:], strict=True):
        same_file = _same_problems_file(first, first_name, run, name)
        if run.benchmark != first.benchmark and not same_file:
            raise ValueError(
                f"different benchmarks: {first_name} is on {first.benchmark!r}, "
                f"{name} on {run.benchmark!r}"
            )
        ids = {t.task_id for t in run.tasks}
        missing, extra = set(order) - ids, ids - set(order)
        problems = []
        if missing:
            problems.append(f"{name} lacks tasks of {first_name}: {_ids_preview(missing, order)}")
        if extra:
            problems.append(f"{name} has tasks {first_name} lacks: {_ids_preview(extra, order)}")
        if problems:
            raise ValueError("different task ids: " + "; ".join(problems))


def _test_side(run: EvalRun, field: str) -> Any:
    """What of ``field`` decides this run's verdicts. The BigCodeBench profile (its sandbox
    limits) is recorded in every results file since fgit had it, but only BigCodeBench's
    verdicts depend on it: an older MBPP+ file without it scored the same way."""
    value = getattr(run, field)
    if field == "scoring" and bigcodebench_split(run.benchmark) is None:
        return {key: v for key, v in value.items() if key != "bigcodebench"}
    return value


def _notes(runs: Sequence[EvalRun], names: list[str]) -> tuple[str, ...]:
    # The test side must match for a paired comparison; the model side is what is compared.
    notes = []
    for field in ("data", "scoring"):
        reference = _test_side(runs[0], field)
        differ = [
            n for r, n in zip(runs[1:], names[1:], strict=True) if _test_side(r, field) != reference
        ]
        if differ:
            notes.append(f"{field} settings differ from {names[0]}: {', '.join(differ)}")
    if len({run.n_samples for run in runs}) > 1:
        counts = ", ".join(f"{n} {r.n_samples}" for r, n in zip(runs, names, strict=True))
        notes.append(f"samples per task differ ({counts}): each task's share still pairs")
    return tuple(notes)


def _verdict(score: TaskScore, tests: TestSet) -> str:
    return score.base if tests == "base" else f"{score.base}/{score.plus}"


def _passed(score: TaskScore, tests: TestSet) -> bool:
    return score.base_passed if tests == "base" else score.plus_passed


def _count(samples: list[TaskScore], tests: TestSet) -> str:
    return f"{sum(_passed(s, tests) for s in samples)}/{len(samples)}"


def _share(samples: list[TaskScore], tests: TestSet) -> float:
    return sum(_passed(s, tests) for s in samples) / len(samples)


def _paired(
    first: list[list[TaskScore]],
    other: list[list[TaskScore]],
    tests: TestSet,
    *,
    sampled: bool,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[PairedStats, list[Flip]]:
    """Each task's samples' verdicts in both runs (one sample each when not ``sampled``)."""
    options = {"resamples": resamples, "confidence": confidence, "seed": seed}
    if sampled:
        a, b = [_share(t, tests) for t in first], [_share(t, tests) for t in other]
        diff, low, high = paired_bootstrap_mean_ci(a, b, **options)
        test, shown = sign_test(a, b), _count
    else:
        a, b = [_passed(t[0], tests) for t in first], [_passed(t[0], tests) for t in other]
        diff, low, high = paired_bootstrap_ci(a, b, **options)
        test, shown = mcnemar_exact(a, b), lambda t, tests: _verdict(t[0], tests)
    flips = [
        Flip(s[0].task_id, tests, shown(s, tests), shown(t, tests), gained=score_b > score_a)
        for s, t, score_a, score_b in zip(first, other, a, b, strict=True)
        if score_a != score_b
    ]
    return PairedStats(100 * diff, 100 * low, 100 * high, test), flips


def _cell(samples: list[TaskScore], sampled: bool) -> str:
    if not sampled:
        score = samples[0]
        return score.base if score.plus is None else f"{score.base}/{score.plus}"
    if samples[0].plus is None:
        return _count(samples, "base")
    return f"{_count(samples, 'base')} | {_count(samples, 'plus')}"


def compare_runs(
    runs: Sequence[EvalRun],
    names: Sequence[str] | None = None,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Each run after the first against the first, paired by task id.

    All runs must be on the same benchmark with the same task ids (ValueError naming the
    mismatch otherwise). ``names`` default to the runs' models. Plus statistics need plus
    tests in both runs.
    """
    if len(runs) < 2:
        raise ValueError(f"a comparison needs at least two runs, got {len(runs)}")
    labels = _names(runs, names)
    _check_comparable(runs, labels)
    sampled = runs[0].sampled
    first_scores = run_sample_scores(runs[0])
    order = [samples[0].task_id for samples in first_scores]
    # Every run's scores in the first run's task order: the pairing of the tests.
    aligned = [first_scores]
    for run in runs[1:]:
        by_id = {samples[0].task_id: samples for samples in run_sample_scores(run)}
        aligned.append([by_id[tid] for tid in order])
    options = {"sampled": sampled, "resamples": resamples, "confidence": confidence, "seed": seed}
    entries = [RunEntry(labels[0], runs[0].model, runs[0].pass_at_1_base, runs[0].pass_at_1_plus)]
    changed: set[str] = set()
    for run, name, scores in zip(runs[1:], labels[1:], aligned[1:], strict=True):
        base, flips = _paired(first_scores, scores, "base", **options)
        plus = None
        if runs[0].pass_at_1_plus is not None and run.pass_at_1_plus is not None:
            plus, plus_flips = _paired(first_scores, scores, "plus", **options)
            flips += plus_flips
        changed.update(flip.task_id for flip in flips)
        entries.append(
            RunEntry(
                name, run.model, run.pass_at_1_base, run.pass_at_1_plus, base, plus, tuple(flips)
            )
        )
    differing = tuple(
        TaskRow(tid, tuple(_cell(scores[i], sampled) for scores in aligned))
        for i, tid in enumerate(order)
        if tid in changed
    )
    return Comparison(
        benchmark=runs[0].benchmark,
        tasks=len(order),
        confidence=confidence,
        runs=tuple(entries),
        differing=differing,
        notes=_notes(runs, labels),
        sampled=sampled,
    )


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """Plain JSON-ready data (pass@1 as fractions, differences in percentage points)."""
    return dataclasses.asdict(comparison)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_delta(stats: PairedStats | None, missing: str = "-") -> str:
    """``+2.4 [-1.2, +6.1]``: the difference in points and its paired 95% CI."""
    if stats is None:
        return missing
    return f"{stats.delta_pp:+.1f} [{stats.ci_low_pp:+.1f}, {stats.ci_high_pp:+.1f}]"


def format_p(stats: PairedStats | None, missing: str = "-") -> str:
    """McNemar's exact p, three decimals (scientific below 0.001)."""
    if stats is None:
        return missing
    p = stats.mcnemar.p_value
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _moves(stats: PairedStats | None) -> str:
    if stats is None:
        return "-"
    return f"+{stats.mcnemar.b_only} -{stats.mcnemar.a_only}"


def _moves_meaning(comparison: Comparison) -> str:
    if comparison.sampled:
        return "tasks whose share of passing samples rose/fell"
    return "tasks gained/lost"


def _runs_table(comparison: Comparison, only: str | None = None) -> Table:
    """The runs side by side; ``only``: the columns of one test set ("base" or "plus")."""
    level = f"{comparison.confidence:.0%}"
    first = comparison.runs[0].name
    shown = benchmark_display(comparison.benchmark)
    with_plus = any(entry.pass_at_1_plus is not None for entry in comparison.runs)
    sets = ("base", "plus") if with_plus else ("base",)
    if only is not None:
        sets = (only,)
    table = Table(
        title=f"{shown} · {comparison.tasks} tasks · each run vs {first}"
        + (f" · {only} tests" if only else ""),
        caption=f"Δ: vs {first}, percentage points, {level} paired bootstrap CI; "
        f"p: exact {comparison.test_name}; ±: {_moves_meaning(comparison)}",
    )
    # One test set (BigCodeBench): its columns are just "pass@1", "Δ pp" ...
    named = has_base_and_plus(comparison.benchmark) or with_plus
    table.add_column("run", overflow="fold")  # paths: wrap, never cut
    for tests in sets:
        suffix = f" {tests}" if named else ""
        table.add_column(f"pass@1{suffix}", justify="right")
        table.add_column(f"Δ{suffix} pp ({level} CI)", justify="right", no_wrap=True)
        table.add_column(f"p{suffix}", justify="right")
        table.add_column(f"±{suffix}", justify="right")
    for entry in comparison.runs:
        cells: list[Text | str] = [Text(entry.name)]  # Text: names are not rich markup
        for tests in sets:
            stats = entry.base if tests == "base" else entry.plus
            value = entry.pass_at_1_base if tests == "base" else entry.pass_at_1_plus
            cells += [_pct(value), format_delta(stats), format_p(stats), _moves(stats)]
        table.add_row(*cells)
    return table


@dataclass(frozen=True)
class _RunsTables:
    """The runs table, split into one table per test set when the base and plus columns
    together do not fit the console (an 80-column terminal squeezed them to "5…")."""

    comparison: Comparison

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        whole = _runs_table(self.comparison)
        unbounded = options.update(width=10_000)  # a measurement is clamped to the width given
        fits = Measurement.get(console, unbounded, whole).maximum <= options.max_width
        if fits or all(entry.pass_at_1_plus is None for entry in self.comparison.runs):
            yield whole
            return
        yield _runs_table(self.comparison, "base")
        yield _runs_table(self.comparison, "plus")


def verdict_outcome(verdict: str, sampled: bool) -> Literal["pass", "fail", "some"]:
    """How a task's cell of :class:`TaskRow` reads: every test passes (``passed/passed``, or
    every sample: ``4/4 | 4/4``), none of the samples does, or something in between."""
    if not sampled:
        return "pass" if all(part == "passed" for part in verdict.split("/")) else "fail"
    counts = [part.strip().split("/") for part in verdict.split("|")]
    if all(passing == n for passing, n in counts):
        return "pass"
    return "fail" if all(passing == "0" for passing, _ in counts) else "some"


_STYLES = {"pass": "green", "fail": "red", "some": "yellow"}


def _tasks_table(comparison: Comparison, limit: int) -> Table:
    first = comparison.runs[0].name
    two = has_base_and_plus(comparison.benchmark)
    if comparison.sampled:
        which = "passing samples, base | plus" if two else "passing samples"
    else:
        which = "verdicts base/plus" if two else "verdicts of each run"
    table = Table(title=f"tasks whose {comparison.what_changes} differs from {first} ({which})")
    table.add_column("task_id", no_wrap=True)
    for entry in comparison.runs:
        table.add_column(Text(entry.name))
    for row in comparison.differing[:limit]:
        styles = [_STYLES[verdict_outcome(v, comparison.sampled)] for v in row.verdicts]
        cells = [Text(v, style=style) for v, style in zip(row.verdicts, styles, strict=True)]
        table.add_row(Text(row.task_id), *cells)
    hidden = len(comparison.differing) - limit
    if hidden > 0:
        table.add_row(Text(f"... {hidden} more"))
    return table


def render_comparison(comparison: Comparison, *, max_tasks: int = MAX_TASK_ROWS) -> Group:
    """Rich renderables: the runs side by side, then the tasks that change (``max_tasks``
    rows at most), then any notes on settings that differ."""
    parts: list[RenderableType] = [_RunsTables(comparison)]
    if comparison.differing:
        parts.append(_tasks_table(comparison, max_tasks))
    else:
        first = comparison.runs[0].name
        what = f"its {comparison.what_changes}" if comparison.sampled else "pass/fail"
        parts.append(Text(f"no task changes {what} vs {first}"))
    parts += [Text(f"note: {note}", style="yellow") for note in comparison.notes]
    return Group(*parts)
