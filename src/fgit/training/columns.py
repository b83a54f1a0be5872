"""Encoded pairs as plain columns, their collator and their loss: what a training loop outside
fgit (TRL's, or your own) needs to train with fgit's masks and losses.

The columns extend TRL's tokenized preference rows (``prompt_ids``, ``chosen_ids``,
``rejected_ids``) with the error-sensitive masks of each response, token for token::

    chosen_line_mask, chosen_token_mask, rejected_line_mask, rejected_token_mask

(0/1 each; the hybrid mask is line + token). They hold no fgit objects, so a ``datasets``
table, a parquet file or a JSONL export carries them as they are. :class:`ColumnCollator`
pads rows into TRL's batch layout plus ``sensitive``, and :func:`column_loss` computes any of
fgit's losses on such a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from fgit.formats import ID_COLUMNS, MASK_COLUMNS
from fgit.segments.encode import IGNORE_INDEX, EncodedPair
from fgit.training.collator import PairBatch, pad_rows
from fgit.training.loss_settings import Granularity, Objective, Sides
from fgit.training.objective import StepCounts, local_counts, micro_batch_loss

__all__ = [
    "ID_COLUMNS",
    "MASK_COLUMNS",
    "ColumnCollator",
    "batch_from_columns",
    "column_loss",
    "pair_columns",
    "reference_logps_of",
    "response_mask",
]



def pair_columns(pair: EncodedPair) -> dict[str, list[int]]:
    """One encoded pair as columns: the shared prompt's ids, each response's ids (EOS
    included) and each response's line and token masks, aligned with its ids."""
    n = pair.correct.prompt_length
    correct, incorrect = pair.correct, pair.incorrect
    return {
        "prompt_ids": correct.input_ids[:n],
        "chosen_ids": correct.input_ids[n:],
        "rejected_ids": incorrect.input_ids[n:],
        "chosen_line_mask": correct.line_mask[n:],
        "chosen_token_mask": correct.token_mask[n:],
        "rejected_line_mask": incorrect.line_mask[n:],
        "rejected_token_mask": incorrect.token_mask[n:],
    }


def response_mask(row: Mapping[str, Any], side: str, granularity: Granularity) -> list[int]:
    """The mask of ``side`` ("chosen" or "rejected") at ``granularity``, over its response."""
    line, token = row[f"{side}_line_mask"], row[f"{side}_token_mask"]
    if granularity == "line":
        return list(line)
    if granularity == "token":
        return list(token)
    return [a + b for a, b in zip(line, token, strict=True)]


@dataclass(frozen=True)
class ColumnCollator:
    """Pads column rows (:func:`pair_columns`) into TRL's preference batch layout: rows
    ``0..B-1`` are prompt+chosen, ``B..2B-1`` prompt+rejected, right-padded, with
    ``input_ids``, ``attention_mask``, ``completion_mask`` (1 on response tokens) and
    ``sensitive`` (the mask of ``granularity``, 0 off the response)."""

    pad_token_id: int
    granularity: Granularity = "hybrid"
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        padded = []
        for side in ("chosen", "rejected"):
            for row in rows:
                prompt, response = list(row["prompt_ids"]), list(row[f"{side}_ids"])
                mask = response_mask(row, side, self.granularity)
                if len(mask) != len(response):
                    raise ValueError(
                        f"{side}: {len(response)} token ids but a mask of {len(mask)}; "
                        "the columns were not made together"
                    )
                zeros = [0] * len(prompt)
                padded.append(
                    (prompt + response, [IGNORE_INDEX] * len(prompt) + response, zeros + mask)
                )
        input_ids, attention, labels, sensitive = pad_rows(
            padded, self.pad_token_id, self.pad_to_multiple_of
        )
        return {
            "input_ids": input_ids,
            "attention_mask": attention,
            "completion_mask": (labels != IGNORE_INDEX).long(),
            "sensitive": sensitive,
        }


def batch_from_columns(
    inputs: Mapping[str, Tensor], sides: Sides = "both", reference_logps: Tensor | None = None
) -> PairBatch:
    """A :class:`ColumnCollator` batch as the :class:`PairBatch` fgit's objective reads;
    ``sides="correct"`` keeps the chosen rows only (sft and fixed read nothing else).
    ``reference_logps``: ``[2B, T-1]`` per-token log-probabilities of a reference model."""
    input_ids = inputs["input_ids"]
    rows = input_ids.shape[0]
    if rows % 2:
        raise ValueError(f"a preference batch has an even number of rows, got {rows}")
    b = rows // 2
    keep = slice(None) if sides == "both" else slice(0, b)
    labels = input_ids.masked_fill(inputs["completion_mask"] == 0, IGNORE_INDEX)
    return PairBatch(
        input_ids=input_ids[keep],
        attention_mask=inputs["attention_mask"][keep],
        labels=labels[keep],
        sensitive=inputs["sensitive"][keep],
        num_pairs=b,
        indices=tuple(range(b)),
        reference_logps=None if reference_logps is None else reference_logps[keep],
    )


def column_loss(
    model: nn.Module,
    inputs: Mapping[str, Tensor],
    objective: Objective,
    *,
    reference_logps: Tensor | None = None,
    counts: StepCounts | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """fgit's loss on a :class:`ColumnCollator` batch, for your own training loop.

    ``model`` returns per-token log-probabilities: wrap a causal LM (or a peft model of one) in
    :class:`fgit.training.logprobs.CausalLMLogProbs`. The preference losses (dpo, dpo+sft,
    fault-dpo) need ``reference_logps`` (``[2B, T-1]``, e.g. the same wrapper around a frozen
    copy, under ``torch.no_grad()``). ``counts``: the normalisers of the whole optimizer step
    when it accumulates several batches (default: this batch's own). Returns the loss and the
    detached metric sums of :data:`fgit.training.objective.METRICS`.
    """
    if objective.needs_reference and reference_logps is None:
        raise ValueError(f"loss {objective.loss!r} needs reference_logps")
    batch = batch_from_columns(inputs, objective.sides, reference_logps)
    if counts is None:
        tokens, pairs = local_counts(batch)
        counts = StepCounts(tokens=max(tokens, 1), pairs=max(pairs, 1))
    return micro_batch_loss(model, batch, objective, counts)


def reference_logps_of(model: nn.Module, inputs: Mapping[str, Tensor]) -> Tensor:
    """``[2B, T-1]`` per-token log-probabilities of every response token under ``model`` (a
    :class:`~fgit.training.logprobs.CausalLMLogProbs`), without gradients."""
    labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORE_INDEX)
    with torch.no_grad():
        return model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            labels=labels,
            score_mask=labels != IGNORE_INDEX,
        )
