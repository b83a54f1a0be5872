"""One progress bar style for every long fgit operation: counts, elapsed time and ETA.

On a terminal, rich redraws the bar in place. Anywhere else (a log file under nohup, a job
scheduler, CI) rich prints the bar only when it stops, so an hour of generation would log nothing;
there the bar prints one plain line per running task every ``FGIT_PROGRESS_EVERY`` seconds
(default 60; 0 prints on every step) instead.

The ETA is rich's (the rate over its last 30 s) where steps come faster than that, and the mean
rate since the task began where they do not: a batch of sampled generation or a training step on
a CPU takes minutes, and rich alone would show no ETA for the whole hour.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

DEFAULT_LOG_EVERY_S = 60.0


def _log_every() -> float:
    raw = os.environ.get("FGIT_PROGRESS_EVERY", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_LOG_EVERY_S
    except ValueError:
        return DEFAULT_LOG_EVERY_S


def _clock(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=int(seconds)))


def remaining_seconds(task: Task) -> float | None:
    """Seconds left: rich's estimate, else ``elapsed · (total − done) / done``; None before the
    first step or without a total.

    rich keeps only the steps of the last 30 s and needs two of them, so it has no estimate when
    each step takes longer; the mean rate since the start (model loading included, so it errs
    long) stands in.
    """
    if task.finished:
        return 0.0
    if task.time_remaining is not None:
        return task.time_remaining
    if task.total is None or not task.completed or not task.elapsed:
        return None
    return task.elapsed * (task.total - task.completed) / task.completed


class _Remaining(ProgressColumn):
    """rich's TimeRemainingColumn, with :func:`remaining_seconds` as its estimate."""

    max_refresh = 0.5  # as rich's: no jitter

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("", style="progress.remaining")
        return Text(_clock(remaining_seconds(task)), style="progress.remaining")


class _Bar(Progress):
    """rich's Progress, plus a plain line per task now and then where it cannot redraw."""

    def __init__(self, *columns: ProgressColumn, unit: str, **options: Any) -> None:
        super().__init__(*columns, **options)
        self._unit = unit
        self._every = _log_every()
        self._logged = time.monotonic()

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log_line()

    def update(self, task_id: TaskID, **changes: Any) -> None:
        super().update(task_id, **changes)
        self._log_line()

    def _log_line(self) -> None:
        if self.disable or self.console.is_terminal:
            return
        now = time.monotonic()
        if now - self._logged < self._every:
            return
        self._logged = now
        for task in self.tasks:
            if task.visible and not task.finished:
                total = "?" if task.total is None else f"{task.total:.0f}"
                self.console.print(
                    f"{task.description}: {task.completed:.0f}/{total} {self._unit}, "
                    f"elapsed {_clock(task.elapsed)}, eta {_clock(remaining_seconds(task))}",
                    markup=False,
                    highlight=False,
                )


def progress_bar(
    quiet: bool, unit: str = "sequences", *, detail: str = "", transient: bool = False
) -> Progress:
    """A rich progress bar on stderr: done / total ``unit``, elapsed and ETA.

    ``detail`` is a rich format string over the task's fields (``"{task.fields[counts]}"``),
    shown last: its width changes as it runs, and rich shortens the last column first on a
    narrow terminal. ``transient`` removes the bar once done, for commands that print a table.
    Not on a terminal, it also logs a plain line per task every ``FGIT_PROGRESS_EVERY`` seconds.
    """
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        _Remaining(),
    ]
    if detail:
        columns.append(TextColumn(detail))
    return _Bar(
        *columns, unit=unit, console=Console(stderr=True), disable=quiet, transient=transient
    )
