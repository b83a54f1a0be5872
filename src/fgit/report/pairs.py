"""Pairs as plain JSON views for the report: each response split into marked text pieces.

A view is what ``segments/examples.json`` stores and the HTML shows, so the report needs no
tokenizer: the pieces of a side concatenate exactly to its (normalised) response, each piece
carrying the hybrid mark (0 shared, 1 in a changed line, 2 changed) of the tokens under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fgit.records import Pair
from fgit.segments import EncodedPair, EncodedSide, PromptFormat, SegmentError, encode_pairs
from fgit.segments.diff import LineGap
from fgit.segments.encode import DEFAULT_PROMPT_FORMAT
from fgit.segments.render import eos_mark, side_pieces

__all__ = ["MAX_DETAIL_CHARS", "MAX_INSTRUCTION_CHARS", "pair_view", "pair_views", "side_pieces"]

MAX_INSTRUCTION_CHARS = 2000
MAX_DETAIL_CHARS = 500


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def _side_view(side: EncodedSide) -> dict[str, Any]:
    return {"pieces": side_pieces(side), "eos": eos_mark(side), "truncated": side.truncated}


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
