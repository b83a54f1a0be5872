"""Where a correct and an incorrect response differ, as marks on the characters of each side.

This is the tokenizer-free half of error-sensitive segment extraction: pure functions on strings.
``encode.py`` projects these character marks onto a tokenizer's tokens.

Conventions (docs/segments.md explains each choice):

* The incorrect response is "before", the correct one "after"; edits go incorrect -> correct.
* Every mark array has ``len(text) + 1`` entries. The extra last entry is the *end-of-text*
  position, which the token projection maps to the EOS token: it is where a pure deletion or
  insertion at the very end of a response is recorded ("the model should have stopped here").
* Line level: ``difflib`` aligns the two texts by lines (compared without their newline). Every
  character of a line in a changed block is marked, newline included.
* Token level: Levenshtein edit operations (rapidfuzz) *within each changed line block*, so a
  character edit can never land on a line that the line alignment calls unchanged: token marks
  are always a subset of line marks, and hybrid = line + token is 0, 1 or 2.
* A gap (text present on the other side only) is marked on the side that lacks the text:
  inside a changed block, on the characters just before and just after the gap (the model
  must write one of them *instead of* the missing text, and a tokenizer may merge the missing
  text into either); at the end of the text, on the end-of-text position too (the model should
  have stopped). Whole lines missing: the first character of the line after the gap (or
  end-of-text) at token level and that whole line at line level (``line_gap="next-line"``, the
  default). ``line_gap="none"`` is the paper read literally: whole lines only in the incorrect
  text leave the correct side unmarked (docs/segments.md, "Whole lines only in the incorrect
  response").
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz.distance import Levenshtein

__all__ = [
    "DiffMarks",
    "LineGap",
    "SideMarks",
    "diff_marks",
    "normalize_response",
    "split_lines",
]

LineGap = Literal["next-line", "none"]


@dataclass(frozen=True)
class SideMarks:
    """Character marks of one side: ``levels[0]`` line marks, ``levels[1]`` token marks, bool,
    each with ``len(text) + 1`` entries (one array so both levels project onto tokens at once).
    """

    text: str
    levels: np.ndarray

    @property
    def line(self) -> np.ndarray:
        return self.levels[0]

    @property
    def token(self) -> np.ndarray:
        return self.levels[1]

    @property
    def hybrid(self) -> np.ndarray:
        return self.levels.sum(axis=0, dtype=np.int8)


@dataclass(frozen=True)
class DiffMarks:
    correct: SideMarks
    incorrect: SideMarks


def normalize_response(text: str) -> str:
    """Make line endings ``\\n`` and drop trailing whitespace at the end of the response.

    A CRLF file would otherwise differ on every line, and a trailing newline is not part of the
    answer: the EOS token ends the response. Everything else (tabs vs spaces, trailing spaces
    inside the text, unicode) is kept exactly, because in code it can matter.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping each line's newline (``str.splitlines`` also splits on
    form feeds and unicode separators, which may sit inside string literals)."""
    if not text:
        return []
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _line_starts(lines: list[str]) -> np.ndarray:
    """Character offset where each line starts, plus the total length at the end."""
    starts = np.zeros(len(lines) + 1, dtype=np.int64)
    if lines:
        np.cumsum([len(line) for line in lines], out=starts[1:])
    return starts


class _Side:
    """Mutable builder for one side's marks."""

    def __init__(self, text: str, lines: list[str]) -> None:
        self.text = text
        self.starts = _line_starts(lines)
        self.n_lines = len(lines)
        self.levels = np.zeros((2, len(text) + 1), dtype=bool)
        self.line, self.token = self.levels  # views

    def span(self, first_line: int, end_line: int) -> tuple[int, int]:
        return int(self.starts[first_line]), int(self.starts[end_line])

    def mark_lines(self, first_line: int, end_line: int) -> None:
        """A whole block of lines is changed: every character is marked at both levels."""
        start, end = self.span(first_line, end_line)
        self.line[start:end] = True
        self.token[start:end] = True

    def mark_line_gap(self, line_index: int) -> None:
        """Lines missing before ``line_index``: mark the first character of the next line at
        token level and that whole line at line level, or end-of-text after the last line."""
        if line_index >= self.n_lines:
            self.line[-1] = self.token[-1] = True
            return
        start, end = self.span(line_index, line_index + 1)
        self.line[start:end] = True
        self.token[start] = True


def _mark_gap_in_block(side: _Side, pos: int, block_start: int, block_end: int) -> None:
    """Text missing at ``pos`` inside a changed block: mark the characters on both sides of
    the gap (a tokenizer may merge the missing text into either neighbour, e.g. ``<`` vs
    ``<=``). At the end of the text, the right neighbour is end-of-text: the model should have
    stopped. Marks never leave the block, so they stay on marked lines."""
    if pos > block_start:
        side.token[pos - 1] = True
    if pos < block_end:
        side.token[pos] = True
    elif block_end == len(side.text):
        side.line[-1] = side.token[-1] = True


def _mark_replaced_block(cor: _Side, inc: _Side, opcode: tuple[str, int, int, int, int]) -> None:
    """Line marks for the whole block, token marks from character edits inside it."""
    _, i1, i2, j1, j2 = opcode
    c_start, c_end = cor.span(j1, j2)
    i_start, i_end = inc.span(i1, i2)
    cor.line[c_start:c_end] = True
    inc.line[i_start:i_end] = True
    ops = Levenshtein.editops(inc.text[i_start:i_end], cor.text[c_start:c_end])
    for tag, src, dest in ops:
        if tag == "replace":
            cor.token[c_start + dest] = True
            inc.token[i_start + src] = True
        elif tag == "insert":  # in the correct text only
            cor.token[c_start + dest] = True
            _mark_gap_in_block(inc, i_start + src, i_start, i_end)
        else:  # "delete": in the incorrect text only
            inc.token[i_start + src] = True
            _mark_gap_in_block(cor, c_start + dest, c_start, c_end)


def diff_marks(correct: str, incorrect: str, *, line_gap: LineGap = "next-line") -> DiffMarks:
    """Character marks of both sides. Texts are used as given: normalise them first with
    :func:`normalize_response` (``encode_pair`` does).

    ``line_gap``: where whole lines exist only in the incorrect text, ``next-line`` marks the
    correct side's next line (or end-of-text); ``none`` marks nothing there (paper-literal)."""
    if line_gap not in ("next-line", "none"):
        raise ValueError(f"line_gap must be 'next-line' or 'none', got {line_gap!r}")
    cor_lines, inc_lines = split_lines(correct), split_lines(incorrect)
    cor, inc = _Side(correct, cor_lines), _Side(incorrect, inc_lines)
    matcher = difflib.SequenceMatcher(
        None,
        [line.rstrip("\n") for line in inc_lines],
        [line.rstrip("\n") for line in cor_lines],
        autojunk=False,  # autojunk treats frequent lines (blank, "else:") as noise: wrong for code
    )
    for opcode in matcher.get_opcodes():
        tag, i1, i2, j1, j2 = opcode
        if tag == "replace":
            _mark_replaced_block(cor, inc, opcode)
        elif tag == "insert":  # lines only in the correct text
            cor.mark_lines(j1, j2)
            inc.mark_line_gap(i1)
        elif tag == "delete":  # lines only in the incorrect text
            inc.mark_lines(i1, i2)
            if line_gap == "next-line":
                cor.mark_line_gap(j1)
    return DiffMarks(
        correct=SideMarks(correct, cor.levels), incorrect=SideMarks(incorrect, inc.levels)
    )
