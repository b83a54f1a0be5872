"""Which pairs each process trains on at each optimizer step: deterministic, resumable, and the
same global batches whatever the number of processes.

Each epoch is a seeded permutation of the pairs cut into global batches of
``per_device_batch_size × gradient_accumulation_steps × world_size`` pairs. Process ``r`` takes
the ``r``-th contiguous share of a global batch and cuts it into micro-batches, so one process
with accumulation 2 sees exactly the micro-batches two processes see with accumulation 1. The
last global batch of an epoch may be short; it is used, not dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

__all__ = ["StepPlan"]


@dataclass(frozen=True)
class StepPlan:
    num_pairs: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    world_size: int
    seed: int
    epochs: float = 1.0
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if self.num_pairs < 1:
            raise ValueError("no pairs to plan steps for")

    @property
    def global_batch_size(self) -> int:
        return self.per_device_batch_size * self.gradient_accumulation_steps * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.num_pairs / self.global_batch_size)

    @property
    def total_steps(self) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, math.ceil(self.epochs * self.steps_per_epoch))

    @property
    def pairs_seen(self) -> int:
        """Pairs presented over all steps, repeats counted (the sum of the global batches)."""
        full, rest = divmod(self.total_steps, self.steps_per_epoch)
        return full * self.num_pairs + min(self.num_pairs, rest * self.global_batch_size)

    @property
    def distinct_pairs_seen(self) -> int:
        """Different pairs trained on: all of them after one full epoch, else the first
        ``total_steps`` global batches of the first epoch's permutation (no repeats in it)."""
        return min(self.num_pairs, self.pairs_seen)

    def epoch_of(self, step: int) -> float:
        return step / self.steps_per_epoch

    @lru_cache(maxsize=4)  # noqa: B019 - a handful of epochs, plan objects live for a run
    def _order(self, epoch: int) -> tuple[int, ...]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return tuple(torch.randperm(self.num_pairs, generator=generator).tolist())

    def global_batch(self, step: int) -> list[int]:
        epoch, position = divmod(step, self.steps_per_epoch)
        size = self.global_batch_size
        return list(self._order(epoch)[position * size : (position + 1) * size])

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """This process's micro-batches at ``step`` (possibly none, in a short last batch)."""
        batch = self.global_batch(step)
        share = math.ceil(len(batch) / self.world_size)
        mine = batch[rank * share : (rank + 1) * share]
        size = self.per_device_batch_size
        return [mine[k : k + size] for k in range(0, len(mine), size)]
