"""Pairs as plain JSON views for the report: each response split into marked text pieces.

A view is what ``segments/examples.json`` stores and the HTML shows, so the report needs no
tokenizer: the pieces of a side concatenate exactly to its (normalised) response, each piece
carrying the hybrid mark (0 shared, 1 in a changed line, 2 changed) of the tokens under it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fgit.records import Pair
from fgit.segments import EncodedPair, EncodedSide, PromptFormat, SegmentError, encode_pairs
from fgit.segments.diff import LineGap
from fgit.segments.encode import DEFAULT_PROMPT_FORMAT

__all__ = ["MAX_DETAIL_CHARS", "MAX_INSTRUCTION_CHARS", "pair_view", "pair_views", "side_pieces"]

MAX_INSTRUCTION_CHARS = 2000
MAX_DETAIL_CHARS = 500


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def side_pieces(side: EncodedSide) -> list[dict[str, Any]]:
    """``[{"text", "mark"}]`` covering ``side.response`` exactly, adjacent marks merged.

    Response tokens are ``input_ids[prompt_length:]``, aligned one to one with
    ``response_offsets`` (EOS last, with an empty span). A character takes the highest mark of
    the tokens whose span covers it (byte-fallback tokens can share one character); characters
    no token covers (e.g. after truncation) are 0.
    """
    text = side.response
    marks = side.hybrid_mask[side.prompt_length :]
    spans = np.asarray(side.response_offsets, dtype=np.int64).reshape(-1, 2)
    if len(marks) != len(spans):
        raise ValueError(f"{len(marks)} response mask values for {len(spans)} token spans")
    chars = np.zeros(len(text), dtype=np.int8)
    for (start, end), mark in zip(spans.tolist(), marks, strict=True):
        if mark and end > start:
            np.maximum(chars[start:end], mark, out=chars[start:end])
    if not text:
        return []
    # Boundaries where the mark changes: one piece per run of equal marks.
    cuts = [0, *(np.flatnonzero(np.diff(chars)) + 1).tolist(), len(text)]
    return [{"text": text[a:b], "mark": int(chars[a])} for a, b in itertools.pairwise(cuts)]


def _eos_mark(side: EncodedSide) -> int | None:
    """The EOS token's mark (end-of-text changes, e.g. a deleted last line), None without one."""
    if not len(side.response_offsets) or side.truncated:
        return None
    start, end = (int(v) for v in side.response_offsets[-1])
    if start == end == len(side.response):
        return int(side.hybrid_mask[-1])
    return None


def _side_view(side: EncodedSide) -> dict[str, Any]:
    return {"pieces": side_pieces(side), "eos": _eos_mark(side), "truncated": side.truncated}


def pair_view(
    record_id: str,
    encoded: EncodedPair,
    *,
    selection: Mapping[str, Any] | None = None,
    instruction: str | None = None,
) -> dict[str, Any]:
    """A JSON-ready view of one encoded pair (pure).

    ``instruction`` defaults to the rendered prompt; ``selection`` is the pair record's
    selection dict (similarity, verdict, detail are kept).
    """
    selection = selection or {}
    detail = selection.get("detail")
    sensitive = {}
    tokens = {}
    for name, side in (("correct", encoded.correct), ("incorrect", encoded.incorrect)):
        response = side.hybrid_mask[side.prompt_length :]
        sensitive[name] = sum(1 for v in response if v)
        tokens[name] = len(response)
    return {
        "id": record_id,
        "instruction": _clip(instruction if instruction is not None else encoded.prompt,
                             MAX_INSTRUCTION_CHARS),
        "correct": _side_view(encoded.correct),
        "incorrect": _side_view(encoded.incorrect),
        "similarity": selection.get("similarity"),
        "verdict": selection.get("verdict"),
        "detail": _clip(str(detail), MAX_DETAIL_CHARS) if detail is not None else None,
        "counts": {
            "sensitive_correct": sensitive["correct"],
            "sensitive_incorrect": sensitive["incorrect"],
            "tokens_correct": tokens["correct"],
            "tokens_incorrect": tokens["incorrect"],
        },
    }  # fmt: skip


def pair_views(
    pairs: Sequence[Pair],
    tokenizer: Any,
    *,
    prompt_format: PromptFormat = DEFAULT_PROMPT_FORMAT,
    max_length: int = 1024,
    limit: int = 20,
    line_gap: LineGap = "next-line",
) -> tuple[list[dict[str, Any]], int]:
    """Views of the first ``limit`` pairs that encode, and how many were skipped on the way
    (pairs that raise :class:`SegmentError`, e.g. a prompt longer than ``max_length``)."""
    views: list[dict[str, Any]] = []
    skipped = 0
    start = 0
    # Encode in batches of what is still wanted: a skip costs one more pair, not the whole set.
    while len(views) < limit and start < len(pairs):
        batch = pairs[start : start + limit - len(views)]
        start += len(batch)
        triples = [(p.instruction, p.response, p.incorrect) for p in batch]
        results = encode_pairs(
            triples,
            tokenizer,
            prompt_format=prompt_format,
            max_length=max_length,
            line_gap=line_gap,
            contexts=[r.context for r in batch],
        )
        for pair, result in zip(batch, results, strict=True):
            if isinstance(result, SegmentError):
                skipped += 1
                continue
            views.append(
                pair_view(pair.id, result, selection=pair.selection, instruction=pair.instruction)
            )
    return views, skipped
