"""Error-sensitive segments: where a correct and an incorrect response differ, as token masks.

``diff`` finds changed characters (pure string functions), ``encode`` maps them onto a
tokenizer's tokens, ``render`` shows them in a terminal.
"""

from fgit.segments.diff import DiffMarks, SideMarks, diff_marks, normalize_response, split_lines
from fgit.segments.encode import (
    IGNORE_INDEX,
    EncodedPair,
    EncodedSide,
    PromptFormat,
    SegmentError,
    encode_pair,
    encode_pairs,
    render_prompt,
    token_mask_from_char_marks,
)

__all__ = [
    "IGNORE_INDEX",
    "DiffMarks",
    "EncodedPair",
    "EncodedSide",
    "PromptFormat",
    "SegmentError",
    "SideMarks",
    "diff_marks",
    "encode_pair",
    "encode_pairs",
    "normalize_response",
    "render_prompt",
    "split_lines",
    "token_mask_from_char_marks",
]
