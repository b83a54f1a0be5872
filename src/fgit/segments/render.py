"""Terminal rendering of a pair with its error-sensitive tokens coloured (rich)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from fgit.segments.encode import EncodedPair, EncodedSide

__all__ = ["HYBRID_STYLES", "render_pair", "render_side"]

# 1 = token in a changed line, 2 = token that is itself changed.
HYBRID_STYLES = {0: "", 1: "black on khaki1", 2: "bold white on red3"}
EOS_LABEL = "⟨eos⟩"


def render_side(side: EncodedSide, *, show_boundaries: bool = False) -> Text:
    """The response of one side, each token styled by its hybrid mask value."""
    text = Text()
    response = side.response
    masks = side.hybrid_mask[side.prompt_length :]
    cursor = 0  # byte-fallback tokens share one character's span: print each character once
    spans = side.response_offsets.tolist()
    for k, ((start, end), value) in enumerate(zip(spans, masks, strict=True)):
        style = HYBRID_STYLES[value]
        if start >= len(response) and start == end:  # the EOS token
            text.append(EOS_LABEL, style=style or "dim")
            continue
        if start > cursor:  # characters no token claims (trimmed offsets): unstyled
            text.append(response[cursor:start])
        piece = response[max(start, cursor) : end]
        cursor = max(cursor, end)
        if not piece:
            continue
        if value and "\n" in piece:  # a newline has no visible background: show where it is
            piece = piece.replace("\n", "↵\n")
        if show_boundaries and k > 0:
            text.append("│", style="dim")
        text.append(piece, style=style)
    if cursor < len(response):
        text.append(response[cursor:])
    return text


def _summary(side: EncodedSide) -> str:
    masks = side.hybrid_mask[side.prompt_length :]
    n_line = sum(1 for v in masks if v >= 1)
    n_token = sum(1 for v in masks if v == 2)
    cut = " (truncated)" if side.truncated else ""
    return f"{len(masks)} tokens{cut}: {n_line} in changed lines, {n_token} changed"


def render_pair(pair: EncodedPair, *, title: str = "", show_boundaries: bool = False) -> Group:
    """Correct and incorrect responses side by side, with a legend and counts."""
    table = Table(title=title or None, expand=True, show_lines=True)
    table.add_column("correct (after)", ratio=1, overflow="fold")
    table.add_column("incorrect (before)", ratio=1, overflow="fold")
    table.add_row(
        render_side(pair.correct, show_boundaries=show_boundaries),
        render_side(pair.incorrect, show_boundaries=show_boundaries),
    )
    table.add_row(Text(_summary(pair.correct), "dim"), Text(_summary(pair.incorrect), "dim"))
    legend = Text.assemble(
        "legend: ",
        ("changed token (2)", HYBRID_STYLES[2]),
        "  ",
        ("in a changed line (1)", HYBRID_STYLES[1]),
        "  shared (0)",
    )
    return Group(table, legend)
