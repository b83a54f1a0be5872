"""Pairs JSONL in, encoded pairs out: the training set, with every skip counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fgit.records import read_pairs
from fgit.segments.diff import LineGap
from fgit.segments.encode import EncodedPair, PromptFormat, SegmentError, encode_pairs

__all__ = ["TrainingData", "load_training_pairs"]


@dataclass
class TrainingData:
    pairs: list[EncodedPair]
    ids: list[str]
    records: int
    skipped: Counter[str] = field(default_factory=Counter)
    skip_examples: list[str] = field(default_factory=list)
    truncated: int = 0
    identical: int = 0
    held_out: int = 0  # pairs of problems held out for validation (fgit.validation)

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "used": len(self.pairs),
            "skipped": dict(self.skipped),
            "skip_examples": self.skip_examples,
            "truncated": self.truncated,
            "without_sensitive_tokens": self.identical,
            "held_out_for_validation": self.held_out,
        }


def load_training_pairs(
    path: Path,
    tokenizer: Any,
    *,
    prompt_format: PromptFormat,
    max_length: int,
    limit: int | None = None,
    line_gap: LineGap = "next-line",
    holdout: tuple[float, int] = (0.0, 0),
) -> TrainingData:
    """Read and encode the pairs of ``path``. Invalid records raise (naming file and line);
    pairs that cannot be encoded (a prompt longer than ``max_length``) are skipped, counted by
    reason, and a few are named. ``holdout``: (fraction, seed) of problems left out for
    validation (:func:`fgit.validation.holdout_ids`), applied before ``limit``."""
    from fgit.validation import holdout_ids, problem_key

    records = read_pairs(path)
    held = holdout_ids((problem_key(r) for r in records), *holdout) if holdout[0] > 0 else set()
    kept = [r for r in records if problem_key(r) not in held]
    held_out = len(records) - len(kept)
    records = kept
    if limit is not None:
        records = records[:limit]
    if not records:
        raise SegmentError(f"{path}: no pairs to train on", kind="empty")
    triples = [(r.instruction, r.response, r.incorrect) for r in records]
    data = TrainingData(pairs=[], ids=[], records=len(records), held_out=held_out)
    for record, result in zip(
        records,
        encode_pairs(
            triples,
            tokenizer,
            prompt_format=prompt_format,
            max_length=max_length,
            line_gap=line_gap,
            contexts=[r.context for r in records],
        ),
        strict=True,
    ):
        if isinstance(result, SegmentError):
            data.skipped[result.kind] += 1
            if len(data.skip_examples) < 3:
                data.skip_examples.append(f"{record.id}: {result}")
            continue
        data.pairs.append(result)
        data.ids.append(record.id)
        data.truncated += result.correct.truncated or result.incorrect.truncated
        data.identical += result.correct.num_sensitive == 0 and result.incorrect.num_sensitive == 0
    if not data.pairs:
        raise SegmentError(
            f"{path}: none of the {len(records)} pairs can be encoded "
            f"({', '.join(f'{k}: {v}' for k, v in data.skipped.items())})",
            kind="empty",
        )
    return data
