"""Plain, aligned listings for output that is not a terminal (a pipe, a file, a log).

A rich table squeezed into 80 columns wraps and truncates cells ("…"); piped output wants
whole values. Columns are aligned with two spaces; when they do not fit the width, the widest
columns (never the first) fold onto indented ``name: value`` lines under their row.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["aligned_lines"]

GAP = "  "
FOLD_INDENT = "    "


def aligned_lines(
    header: Sequence[str], rows: Sequence[Sequence[str]], width: int = 80
) -> list[str]:
    """The header and rows as aligned lines of at most ``width`` characters where the values
    allow (a single value longer than the width is never cut). Pure."""
    widths = [max(len(str(h)), *(len(str(r[k])) for r in rows)) for k, h in enumerate(header)]
    inline = list(range(len(header)))
    folded: list[int] = []

    def line_width() -> int:
        return sum(widths[k] for k in inline) + len(GAP) * (len(inline) - 1)

    while len(inline) > 1 and line_width() > width:
        widest = max(inline[1:], key=lambda k: widths[k])
        inline.remove(widest)
        folded.append(widest)
    folded.sort()

    def join(cells: Sequence[str]) -> str:
        return GAP.join(str(cells[k]).ljust(widths[k]) for k in inline).rstrip()

    lines = [join(header)]
    for row in rows:
        lines.append(join(row))
        lines += [f"{FOLD_INDENT}{header[k]}: {row[k]}" for k in folded]
    return lines
