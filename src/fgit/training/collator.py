"""Batches of encoded pairs: prompt+correct and prompt+incorrect rows, padded together.

Rows ``0..B-1`` are the correct sides, rows ``B..2B-1`` the incorrect sides of the same pairs,
so a loss that needs both runs one forward over one ``[2B, T]`` batch. Padding is on the right
(training); labels of padding are ``IGNORE_INDEX`` and its masks 0, so masks stay aligned with
``input_ids`` position for position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from fgit.segments.encode import IGNORE_INDEX, EncodedPair, EncodedSide
from fgit.training.loss_settings import Granularity, Sides

__all__ = ["Granularity", "PairBatch", "PairCollator", "Sides", "pad_rows", "shifted"]


@dataclass(frozen=True)
class PairBatch:
    input_ids: Tensor  # [R, T], R = B (sides="correct") or 2B (sides="both")
    attention_mask: Tensor  # [R, T]
    labels: Tensor  # [R, T], IGNORE_INDEX on prompt and padding
    sensitive: Tensor  # [R, T] int8: the mask of the chosen granularity, 0 off the response
    num_pairs: int
    indices: tuple[int, ...]  # dataset index of each pair
    reference_logps: Tensor | None = None  # [R, T-1] fp32, aligned with shifted labels

    @property
    def has_incorrect(self) -> bool:
        return self.input_ids.shape[0] == 2 * self.num_pairs

    def to(self, device: torch.device | str) -> PairBatch:
        ref = self.reference_logps
        return replace(
            self,
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            labels=self.labels.to(device),
            sensitive=self.sensitive.to(device),
            reference_logps=None if ref is None else ref.to(device),
        )


def shifted(batch: PairBatch) -> tuple[Tensor, Tensor]:
    """``(loss_mask, sensitive)`` aligned with the ``[R, T-1]`` log-probabilities of the
    model's next-token predictions."""
    labels = batch.labels[:, 1:]
    return labels != IGNORE_INDEX, batch.sensitive[:, 1:]


def pad_rows(
    rows: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]],
    pad_token_id: int,
    pad_to_multiple_of: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(input_ids, labels, sensitive)`` rows, right-padded into ``[R, T]`` tensors:
    ``(input_ids, attention_mask, labels, sensitive)``; padding is ``IGNORE_INDEX`` in labels
    and 0 in the masks."""
    length = max(len(ids) for ids, _, _ in rows)
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    n = len(rows)
    input_ids = torch.full((n, length), pad_token_id, dtype=torch.long)
    attention = torch.zeros((n, length), dtype=torch.long)
    labels = torch.full((n, length), IGNORE_INDEX, dtype=torch.long)
    sensitive = torch.zeros((n, length), dtype=torch.int8)
    for r, (ids, row_labels, mask) in enumerate(rows):
        k = len(ids)
        input_ids[r, :k] = torch.tensor(ids)
        attention[r, :k] = 1
        labels[r, :k] = torch.tensor(row_labels)
        sensitive[r, :k] = torch.tensor(mask, dtype=torch.int8)
    return input_ids, attention, labels, sensitive


def _side_mask(side: EncodedSide, granularity: Granularity) -> list[int]:
    if granularity == "hybrid":
        return side.hybrid_mask
    return side.line_mask if granularity == "line" else side.token_mask


@dataclass(frozen=True)
class PairCollator:
    """Turns ``(index, EncodedPair)`` items into a :class:`PairBatch`.

    ``reference`` maps a dataset index to the reference model's log-probabilities of the
    response tokens of its correct and incorrect sides (in order; see
    :mod:`fgit.training.reference`); they are scattered into the shifted response positions.
    """

    pad_token_id: int
    granularity: Granularity = "hybrid"
    sides: Sides = "both"
    pad_to_multiple_of: int | None = None
    reference: dict[int, tuple[np.ndarray, np.ndarray]] | None = None

    def __call__(self, items: Sequence[tuple[int, EncodedPair]]) -> PairBatch:
        if not items:
            raise ValueError("cannot collate an empty batch")
        sides = [pair.correct for _, pair in items]
        if self.sides == "both":
            sides += [pair.incorrect for _, pair in items]
        rows = [(s.input_ids, s.labels, _side_mask(s, self.granularity)) for s in sides]
        input_ids, attention, labels, sensitive = pad_rows(
            rows, self.pad_token_id, self.pad_to_multiple_of
        )
        indices = tuple(index for index, _ in items)
        batch = PairBatch(input_ids, attention, labels, sensitive, len(items), indices)
        if self.reference is None:
            return batch
        return replace(batch, reference_logps=self._reference(batch))

    def _reference(self, batch: PairBatch) -> Tensor:
        assert self.reference is not None
        loss_mask, _ = shifted(batch)
        per_row = [self.reference[i][0] for i in batch.indices]
        if batch.has_incorrect:
            per_row += [self.reference[i][1] for i in batch.indices]
        for r, values in enumerate(per_row):
            if len(values) != int(loss_mask[r].sum()):
                pair = batch.indices[r % batch.num_pairs]
                raise ValueError(
                    f"cached reference log-probabilities of pair {pair} do not match its "
                    "tokens; delete the reference cache and rerun"
                )
        flat = torch.from_numpy(np.concatenate(per_row).astype(np.float32))
        # masked_scatter fills True positions row by row, left to right: each row's response
        # tokens are contiguous and in order, exactly as they were cached.
        return torch.zeros(loss_mask.shape, dtype=torch.float32).masked_scatter(loss_mask, flat)
