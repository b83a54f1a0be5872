"""A pair with its error-sensitive tokens marked: coloured for a terminal (rich), or with
plain-text marks that survive a pipe or a file (``⟦…⟧`` around changed tokens, ``>`` before
lines with tokens in a changed line).

Both read the marks of each response character from the tokens' spans (:func:`char_marks`),
which the report's pair views (:mod:`fgit.report.pairs`) also use.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from fgit.segments.encode import EncodedPair, EncodedSide

__all__ = [
    "CORRECT_TITLE",
    "HYBRID_STYLES",
    "INCORRECT_TITLE",
    "PLAIN_LEGEND",
    "char_marks",
    "eos_mark",
    "plain_pair",
    "plain_side",
    "render_pair",
    "render_side",
    "side_pieces",
]

# 1 = token in a changed line, 2 = token that is itself changed.
HYBRID_STYLES = {0: "", 1: "black on khaki1", 2: "bold white on red3"}
EOS_LABEL = "⟨eos⟩"
# Plain marks: brackets no code uses, so they cannot be mistaken for the code's own.
OPEN, CLOSE, LINE_MARK, NEWLINE_MARK = "⟦", "⟧", "> ", "↵"
CORRECT_TITLE, INCORRECT_TITLE = "correct response", "incorrect variant"
PLAIN_LEGEND = (
    f"legend: {OPEN}…{CLOSE} changed token (2); '{LINE_MARK.strip()}' a line with marked "
    f"tokens (1 or 2); {NEWLINE_MARK} a changed newline; {EOS_LABEL} end of text"
)


def char_marks(side: EncodedSide) -> np.ndarray:
    """The hybrid mark of each character of ``side.response``: the highest mark of the tokens
    whose span covers it (byte-fallback tokens can share one character); characters no token
    covers (e.g. after truncation) are 0. Response tokens are ``input_ids[prompt_length:]``,
    aligned one to one with ``response_offsets`` (EOS last, with an empty span)."""
    text = side.response
    marks = side.hybrid_mask[side.prompt_length :]
    spans = np.asarray(side.response_offsets, dtype=np.int64).reshape(-1, 2)
    if len(marks) != len(spans):
        raise ValueError(f"{len(marks)} response mask values for {len(spans)} token spans")
    chars = np.zeros(len(text), dtype=np.int8)
    for (start, end), mark in zip(spans.tolist(), marks, strict=True):
        if mark and end > start:
            np.maximum(chars[start:end], mark, out=chars[start:end])
    return chars


def side_pieces(side: EncodedSide) -> list[dict[str, Any]]:
    """``[{"text", "mark"}]`` covering ``side.response`` exactly, adjacent marks merged."""
    text = side.response
    if not text:
        return []
    chars = char_marks(side)
    # Boundaries where the mark changes: one piece per run of equal marks.
    cuts = [0, *(np.flatnonzero(np.diff(chars)) + 1).tolist(), len(text)]
    return [{"text": text[a:b], "mark": int(chars[a])} for a, b in itertools.pairwise(cuts)]


def eos_mark(side: EncodedSide) -> int | None:
    """The EOS token's mark (end-of-text changes, e.g. a deleted last line), None without one."""
    if not len(side.response_offsets) or side.truncated:
        return None
    start, end = (int(v) for v in side.response_offsets[-1])
    if start == end == len(side.response):
        return int(side.hybrid_mask[-1])
    return None


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
    table.add_column(CORRECT_TITLE, ratio=1, overflow="fold")
    table.add_column(INCORRECT_TITLE, ratio=1, overflow="fold")
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


def plain_side(side: EncodedSide, *, show_boundaries: bool = False) -> list[str]:
    """The response as plain lines: changed tokens (2) in ``⟦…⟧`` (closed at each line end
    and reopened, so every line stands alone), ``> `` before a line with a changed character
    or a marked (1) non-blank one, ``  `` before the others; a changed newline shows as ``↵``,
    EOS as ``⟨eos⟩``. Blank marks of 1 do not count: a newline token with the next line's
    indentation is marked when either line changed, and would flag its unchanged neighbours."""
    text = side.response
    marks = char_marks(side)
    cuts: set[int] = set()
    if show_boundaries:
        cuts = {int(start) for start, _ in side.response_offsets.tolist() if 0 < start < len(text)}
    lines: list[str] = []
    out: list[str] = []
    inside = flagged = False  # in ⟦…⟧; the line has a marked character that counts

    def end_line(newline_mark: int = 0) -> None:
        nonlocal out, inside, flagged
        if inside:
            out.append(CLOSE)
            inside = False
        lines.append((LINE_MARK if flagged or newline_mark == 2 else "  ") + "".join(out))
        out, flagged = [], False

    for k, char in enumerate(text):
        mark = int(marks[k])
        if inside and mark != 2:
            out.append(CLOSE)
            inside = False
        if k in cuts:
            out.append("│")
        if mark == 2 and not inside:
            out.append(OPEN)
            inside = True
        if char == "\n":
            if mark == 2:
                out.append(NEWLINE_MARK)
            end_line(mark)
            continue
        out.append(char)
        flagged = flagged or mark == 2 or (mark == 1 and not char.isspace())
    if inside:
        out.append(CLOSE)
        inside = False
    eos = eos_mark(side)
    if eos is not None:
        out.append(f"{OPEN}{EOS_LABEL}{CLOSE}" if eos == 2 else EOS_LABEL)
        flagged = flagged or eos == 2
    end_line()  # one output line per line of the response, the last one too
    return lines


def plain_pair(pair: EncodedPair, *, title: str = "", show_boundaries: bool = False) -> str:
    """Both responses one after the other (80 columns hold no two code columns), each under
    its name and counts, then the legend: every mark is a character, so it survives a pipe."""
    parts = [f"== {title} ==" if title else ""]
    for name, side in ((CORRECT_TITLE, pair.correct), (INCORRECT_TITLE, pair.incorrect)):
        parts.append(f"-- {name} · {_summary(side)} --")
        parts += plain_side(side, show_boundaries=show_boundaries)
    parts.append(PLAIN_LEGEND)
    return "\n".join(part for part in parts if part) + "\n"
