"""One progress bar style for every long fgit operation: counts, elapsed time and ETA.

On a terminal, rich redraws the bar in place. Anywhere else (a log file under nohup, a job
scheduler, CI) rich prints the bar only when it stops, so an hour of generation would log nothing;
there the bar prints one plain line per running task every ``FGIT_PROGRESS_EVERY`` seconds
(default 60; 0 prints on every step) instead.
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
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

DEFAULT_LOG_EVERY_S = 60.0


def _log_every() -> float:
    raw = os.environ.get("FGIT_PROGRESS_EVERY", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_LOG_EVERY_S
    except ValueError:
        return DEFAULT_LOG_EVERY_S


def _clock(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=int(seconds)))


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
                    f"elapsed {_clock(task.elapsed)}, eta {_clock(task.time_remaining)}",
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
        TimeRemainingColumn(),
    ]
    if detail:
        columns.append(TextColumn(detail))
    return _Bar(
        *columns, unit=unit, console=Console(stderr=True), disable=quiet, transient=transient
    )
