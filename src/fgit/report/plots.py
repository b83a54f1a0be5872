"""The report's plots as PNG bytes (matplotlib, no display, no pyplot state).

Figures are built with :class:`matplotlib.figure.Figure` directly, so nothing touches the
global backend or pyplot's figure registry, and saved without the ``Software`` tag so the same
data gives the same bytes. Each function returns ``None`` when there is nothing to plot.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fgit.evaluation.stats import wilson_interval

__all__ = [
    "evaluation_figure",
    "evaluation_plot",
    "selection_plot",
    "training_figure",
    "training_plot",
    "zoomed_limits",
]

# Fixed style, independent of any user matplotlibrc, so the plots look the same everywhere.
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "fgit",
    "path.simplify": True,
}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
DPI = 100


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the rows that have a numeric ``key`` (and a step)."""
    steps, values = [], []
    for k, row in enumerate(rows):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            step = row.get("step", k + 1)
            steps.append(float(step) if isinstance(step, (int, float)) else float(k + 1))
            values.append(float(value))
    return steps, values


def training_figure(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure | None:
    """NLL on sensitive (solid) and shared (dashed) tokens vs step, one colour per run, and
    a second panel of the mean FGIT weight W for runs that log it. A run that logs neither
    NLL is drawn with its total loss (dotted). Steps are whole numbers: integer ticks."""
    curves: list[tuple[str, str, str, tuple[list[float], list[float]]]] = []
    weights: list[tuple[str, str, tuple[list[float], list[float]]]] = []
    for k, (name, rows) in enumerate(logs.items()):
        color = COLORS[k % len(COLORS)]
        sensitive, shared = _series(rows, "nll_sensitive"), _series(rows, "nll_shared")
        if sensitive[0]:
            curves.append((f"{name}: NLL sensitive", color, "-", sensitive))
        if shared[0]:
            curves.append((f"{name}: NLL shared", color, "--", shared))
        if not sensitive[0] and not shared[0] and (loss := _series(rows, "loss"))[0]:
            curves.append((f"{name}: loss", color, ":", loss))
        if (weight := _series(rows, "mean_weight"))[0]:
            weights.append((name, color, weight))
    if not curves:
        return None
    with rc_context(STYLE):
        panels = 2 if weights else 1
        fig = Figure(figsize=(6.5 * panels, 3.6), layout="constrained")
        axes = fig.subplots(1, panels, squeeze=False)[0]
        for label, color, style, (x, y) in curves:
            axes[0].plot(x, y, style, color=color, label=label, marker="." if len(x) < 3 else None)
        axes[0].set(title="Training NLL per token", xlabel="optimizer step", ylabel="NLL (nats)")
        axes[0].legend(fontsize=8)
        if weights:
            for name, color, (x, y) in weights:
                axes[1].plot(x, y, color=color, label=name, marker="." if len(x) < 3 else None)
            axes[1].set(title="Mean FGIT weight W", xlabel="optimizer step", ylabel="W")
            axes[1].legend(fontsize=8)
        for ax in axes:  # no "step 1.5": a few steps would otherwise get fractional ticks
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return fig


def training_plot(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes | None:
    """:func:`training_figure` as PNG bytes."""
    fig = training_figure(logs)
    return None if fig is None else _png(fig)


def zoomed_limits(low: float, high: float, margin: float = 0.15) -> tuple[float, float]:
    """Axis limits (percent) around ``[low, high]`` with ``margin`` of the span on each side
    (at least 2 points), clipped to [0, 100]: differences of a few points stay visible."""
    pad = max(2.0, margin * (high - low))
    return max(0.0, low - pad), min(100.0, high + pad)


def evaluation_figure(
    scores: Mapping[str, Mapping[str, tuple[float, float | None]]],
    tasks: Mapping[str, int] | None = None,
) -> Figure | None:
    """pass@1 (%) as points with a 95% Wilson interval (when ``tasks`` gives the benchmark's
    task count): one group per benchmark and test set (base, and plus where present), one
    point per model. ``scores``: benchmark -> model -> (base, plus or None).

    The y axis is zoomed to the data (:func:`zoomed_limits`) and says so: on a 0-100 axis a
    few points of difference are invisible. Points, not bars: a bar's length would lie on an
    axis that does not start at 0.
    """
    from fgit.evaluation.benchmark_names import benchmark_label, has_base_and_plus

    tasks = tasks or {}
    groups: list[tuple[str, str, dict[str, float]]] = []  # (label, benchmark, model -> value)
    for benchmark, by_model in scores.items():
        # One test set (BigCodeBench): its label alone, e.g. "BigCodeBench-Hard\n(instruct)".
        base = (
            f"{benchmark}\nbase"
            if has_base_and_plus(benchmark)
            else (benchmark_label(benchmark).replace(" (", "\n("))
        )
        groups.append((base, benchmark, {m: v[0] for m, v in by_model.items()}))
        plus = {m: v[1] for m, v in by_model.items() if v[1] is not None}
        if plus:
            groups.append((f"{benchmark}\nplus", benchmark, plus))
    models = list(dict.fromkeys(m for _, _, values in groups for m in values))
    if not models:
        return None
    width = 0.8 / len(models)
    lows, highs = [], []
    with rc_context(STYLE):
        fig = Figure(figsize=(max(4.0, 1.2 + 1.4 * len(groups) * max(1, len(models) / 2)), 3.6),
                     layout="constrained")  # fmt: skip
        ax = fig.subplots()
        for j, model in enumerate(models):
            color = COLORS[j % len(COLORS)]
            for g, (_, benchmark, values) in enumerate(groups):
                if model not in values:
                    continue
                x = g + (j - (len(models) - 1) / 2) * width
                y = 100 * values[model]
                n = tasks.get(benchmark, 0)
                if n > 0:
                    low, high = (100 * v for v in wilson_interval(round(values[model] * n), n))
                    ax.errorbar(x, y, yerr=[[y - low], [high - y]], color=color, capsize=3,
                                linewidth=1.2)  # fmt: skip
                else:
                    low = high = y
                lows.append(low)
                highs.append(high)
                ax.plot(x, y, "o", color=color, label=model if g == _first_group(groups, model)
                        else None)  # fmt: skip
                ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(5, 0),
                            fontsize=7, va="center")  # fmt: skip
        bottom, top = zoomed_limits(min(lows), max(highs))
        zoomed = bottom > 0 or top < 100
        ci = ", 95% Wilson CI" if tasks else ""
        ax.set_xticks(range(len(groups)), [name for name, _, _ in groups])
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set(
            title="pass@1 (greedy)",
            ylabel=f"pass@1 (%){ci}" + (f"\naxis zoomed to {bottom:.0f}-{top:.0f}" if zoomed
                                        else ""),
            ylim=(bottom, top),
        )  # fmt: skip
        ax.grid(axis="x", visible=False)
        ax.legend(fontsize=8, ncols=min(len(models), 4), loc="best")
        return fig


def _first_group(groups: Sequence[tuple[str, str, Mapping[str, float]]], model: str) -> int:
    """The first group with ``model``: its point carries the legend label, once."""
    return next(g for g, (_, _, values) in enumerate(groups) if model in values)


def evaluation_plot(
    scores: Mapping[str, Mapping[str, tuple[float, float | None]]],
    tasks: Mapping[str, int] | None = None,
) -> bytes | None:
    """:func:`evaluation_figure` as PNG bytes."""
    fig = evaluation_figure(scores, tasks)
    return None if fig is None else _png(fig)


def _selection_counts(summary: Mapping[str, Any] | None) -> list[tuple[str, int]]:
    if not summary:
        return []
    out = []
    for key, prefix in (("verdicts", "verdict"), ("dropped", "dropped"), ("skipped", "skipped")):
        counts = summary.get(key) or {}
        if isinstance(counts, Mapping):
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            out += [(f"{prefix}: {name}", int(n)) for name, n in ranked]
    return out


def selection_plot(
    summary: Mapping[str, Any] | None, sensitive_shares: Sequence[float] = ()
) -> bytes | None:
    """Candidate verdicts, drop reasons and problem skips (horizontal bars), and a histogram
    of the share of sensitive tokens per pair (correct side) when shares are given."""
    counts = _selection_counts(summary)
    shares = [100 * s for s in sensitive_shares]
    panels = [p for p, present in (("counts", counts), ("shares", shares)) if present]
    if not panels:
        return None
    with rc_context(STYLE):
        height = max(3.0, 0.8 + 0.28 * len(counts))
        fig = Figure(figsize=(5.5 * len(panels), height), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, panel in zip(axes, panels, strict=True):
            if panel == "counts":
                labels = [name for name, _ in counts][::-1]  # largest at the top
                bars = ax.barh(labels, [n for _, n in counts][::-1], color=COLORS[0])
                ax.bar_label(bars, fontsize=7, padding=2)
                ax.set(title="Selection: candidates and problems", xlabel="count")
                ax.grid(axis="y", visible=False)
            else:
                ax.hist(shares, bins=20, range=(0, 100), color=COLORS[2], edgecolor="white")
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set(title=f"Sensitive-token share, correct side ({len(shares)} pairs)",
                       xlabel="tokens marked 1 or 2 (%)", ylabel="pairs")  # fmt: skip
        return _png(fig)
