"""One progress bar style for every long fgit operation: counts, elapsed time and ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(
    quiet: bool, unit: str = "sequences", *, detail: str = "", transient: bool = False
) -> Progress:
    """A rich progress bar on stderr: done / total ``unit``, elapsed and ETA.

    ``detail`` is a rich format string over the task's fields (``"{task.fields[counts]}"``),
    shown last: its width changes as it runs, and rich shortens the last column first on a
    narrow terminal. ``transient`` removes the bar once done, for commands that print a table.
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
    return Progress(*columns, console=Console(stderr=True), disable=quiet, transient=transient)
