"""Encode many pairs with progress and summarise their error-sensitive tokens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fgit.progress import progress_bar
from fgit.records import Pair
from fgit.segments.diff import LineGap
from fgit.segments.encode import (
    DEFAULT_PROMPT_FORMAT,
    EncodedPair,
    PromptFormat,
    SegmentError,
    encode_pairs,
)

__all__ = ["SegmentStats", "encode_records", "summarise_pairs", "unmarked_pairs_warning"]


@dataclass
class SegmentStats:
    """Counts over a set of pairs. Shares are over response tokens (EOS included)."""

    pairs: int = 0
    encoded: int = 0
    skipped: list[tuple[str, SegmentError]] = field(default_factory=list)  # (record id, why)
    truncated: int = 0
    without_marks: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: {"correct": 0, "incorrect": 0})
    line_marked: dict[str, int] = field(default_factory=lambda: {"correct": 0, "incorrect": 0})
    token_marked: dict[str, int] = field(default_factory=lambda: {"correct": 0, "incorrect": 0})

    def add(self, pair: EncodedPair) -> None:
        self.encoded += 1
        self.truncated += int(pair.correct.truncated or pair.incorrect.truncated)
        self.without_marks += int(not any(pair.correct.hybrid_mask))
        for name, side in (("correct", pair.correct), ("incorrect", pair.incorrect)):
            response = side.hybrid_mask[side.prompt_length :]
            self.tokens[name] += len(response)
            self.line_marked[name] += sum(1 for v in response if v >= 1)
            self.token_marked[name] += sum(1 for v in response if v == 2)

    def rows(self) -> list[tuple[str, str]]:
        def share(part: int, whole: int) -> str:
            return f"{100 * part / whole:.1f}%" if whole else "-"

        rows = [
            ("pairs read", str(self.pairs)),
            ("encoded", str(self.encoded)),
            ("skipped", str(len(self.skipped))),
            ("truncated (either side)", str(self.truncated)),
            ("no sensitive token (texts equal)", str(self.without_marks)),
        ]
        for name in ("correct", "incorrect"):
            n = self.tokens[name]
            mean = f"{n / self.encoded:.1f}" if self.encoded else "-"
            rows += [
                (f"{name}: mean response tokens", mean),
                (f"{name}: tokens in changed lines (≥1)", share(self.line_marked[name], n)),
                (f"{name}: changed tokens (2)", share(self.token_marked[name], n)),
            ]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The numbers of :meth:`rows` for machines: counts, shares as fractions (None without
        tokens), and every skip by kind with its record ids."""

        def share(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        sides = {}
        for name in ("correct", "incorrect"):
            n = self.tokens[name]
            sides[name] = {
                "tokens": n,
                "mean_tokens": n / self.encoded if self.encoded else None,
                "tokens_in_changed_lines": self.line_marked[name],
                "changed_tokens": self.token_marked[name],
                "share_in_changed_lines": share(self.line_marked[name], n),
                "share_changed": share(self.token_marked[name], n),
            }
        skips: dict[str, dict[str, Any]] = {}
        for record_id, error in self.skipped:
            kind = skips.setdefault(error.kind, {"count": 0, "ids": []})
            kind["count"] += 1
            kind["ids"].append(record_id)
        return {
            "pairs": self.pairs,
            "encoded": self.encoded,
            "skipped": len(self.skipped),
            "truncated": self.truncated,
            "without_sensitive_tokens": self.without_marks,
            "sides": sides,
            "skips": skips,
        }

    def skip_summary(self, examples: int = 3) -> list[str]:
        """One line per kind of skip: count, kind, a few record ids and one full message."""
        by_kind: dict[str, list[tuple[str, SegmentError]]] = {}
        for record_id, error in self.skipped:
            by_kind.setdefault(error.kind, []).append((record_id, error))
        lines = []
        for kind, items in sorted(by_kind.items(), key=lambda item: -len(item[1])):
            ids = ", ".join(record_id for record_id, _ in items[:examples])
            lines.append(f"skipped {len(items)}: {kind} (e.g. {ids}: {items[0][1]})")
        return lines


def unmarked_pairs_warning(unmarked: int, total: int, where: str) -> str | None:
    """The warning for pairs without an error-sensitive token (their incorrect side encodes as
    the correct one), or None when there are none: a fault-guided loss has nothing to weight in
    them, and a preference loss no margin to learn."""
    if unmarked == 0:
        return None
    why = "fault-guided and preference losses learn nothing about a fault from them"
    if unmarked == total:
        return (
            f"{where}: none of the {total} pairs has an error-sensitive token (each incorrect "
            f"side encodes as its correct side): {why}"
        )
    return (
        f"{where}: {unmarked} of {total} pairs have no error-sensitive token (the incorrect "
        f"side encodes as the correct one): {why}"
    )


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def encode_records(
    records: Sequence[Pair],
    tokenizer: Any,
    *,
    prompt_format: PromptFormat = DEFAULT_PROMPT_FORMAT,
    max_length: int = 1024,
    batch_size: int = 256,
    show_progress: bool = True,
    line_gap: LineGap = "next-line",
) -> Iterator[tuple[Pair, EncodedPair | SegmentError]]:
    """Encode pair records in batches, yielding each record with its encoding or its error."""
    with progress_bar(not show_progress, unit="pairs", transient=True) as progress:
        task = progress.add_task("encoding", total=len(records))
        for batch in _batches(records, batch_size):
            triples = [(r.instruction, r.response, r.incorrect) for r in batch]
            results = encode_pairs(
                triples,
                tokenizer,
                prompt_format=prompt_format,
                max_length=max_length,
                line_gap=line_gap,
                contexts=[r.context for r in batch],
            )
            yield from zip(batch, results, strict=True)
            progress.advance(task, len(batch))


def summarise_pairs(records: Sequence[Pair], tokenizer: Any, **kwargs: Any) -> SegmentStats:
    stats = SegmentStats(pairs=len(records))
    for record, result in encode_records(records, tokenizer, **kwargs):
        if isinstance(result, SegmentError):
            stats.skipped.append((record.id, result))
        else:
            stats.add(result)
    return stats
