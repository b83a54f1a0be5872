"""Which loss a run trains with, and one micro-batch's forward pass and loss for it.

The arithmetic lives in :mod:`fgit.training.losses`; this module decides which rows the model
must score (and with or without gradients), calls the right loss with the step-wide
normalisers, and returns the sums the trainer logs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fgit.segments.encode import IGNORE_INDEX
from fgit.training import losses
from fgit.training.collator import PairBatch, shifted
from fgit.training.loss_settings import LossName, Objective

__all__ = [
    "METRICS",
    "LossName",
    "Objective",
    "StepCounts",
    "micro_batch_loss",
    "summarise_metrics",
]

# Sums accumulated over a step's micro-batches and processes; the logger turns them into means.
METRICS = (
    "loss",
    "nll_sensitive_sum",
    "sensitive_tokens",
    "nll_shared_sum",
    "shared_tokens",
    "weight_sum",
    "h_correct_sum",
    "h_incorrect_sum",
    "weighted_pairs",
    "margin_sum",
    "preferred",
    "preference_pairs",
    "pairs",
    "tokens",
)


def summarise_metrics(sums: dict[str, float], steps: int) -> dict[str, float]:
    """Means over a logging window of ``steps`` optimizer steps from the summed :data:`METRICS`."""

    def ratio(num: str, den: str) -> float | None:
        return sums[num] / sums[den] if sums[den] else None

    out: dict[str, Any] = {
        "loss": sums["loss"] / max(steps, 1),
        "nll_sensitive": ratio("nll_sensitive_sum", "sensitive_tokens"),
        "nll_shared": ratio("nll_shared_sum", "shared_tokens"),
        "mean_weight": ratio("weight_sum", "weighted_pairs"),
        "h_correct": ratio("h_correct_sum", "weighted_pairs"),
        "h_incorrect": ratio("h_incorrect_sum", "weighted_pairs"),
        "margin": ratio("margin_sum", "preference_pairs"),
        "preference_accuracy": ratio("preferred", "preference_pairs"),
        "pairs": sums["pairs"],
        "tokens": sums["tokens"],
    }
    return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class StepCounts:
    """Normalisers of one optimizer step, summed over its micro-batches and all processes."""

    tokens: Tensor | float  # response tokens of the correct sides
    pairs: Tensor | float


def local_counts(batch: PairBatch) -> tuple[int, int]:
    loss_mask, _ = shifted(batch)
    return int(loss_mask[: batch.num_pairs].sum()), batch.num_pairs


def _score_mask(batch: PairBatch, incorrect_only_sensitive: bool) -> Tensor:
    """Positions whose label the model must score (unshifted, like ``labels``)."""
    mask = batch.labels != IGNORE_INDEX
    if batch.has_incorrect and incorrect_only_sensitive:
        b = batch.num_pairs
        mask = torch.cat([mask[:b], mask[b:] & (batch.sensitive[b:] > 0)])
    return mask


def _needed_length(mask: Tensor) -> int:
    """Columns up to and including the last True of any row (0 when none is True)."""
    columns = mask.any(dim=0).nonzero()
    return int(columns[-1]) + 1 if len(columns) else 0


def _forward(
    module: nn.Module, batch: PairBatch, rows: slice, score_mask: Tensor, length: int
) -> Tensor:
    """Log-probabilities of ``rows`` using only their first ``length`` columns (a causal model
    scores a position from what precedes it, so later columns change nothing), zero-padded
    back to ``[rows, T-1]``."""
    width = batch.input_ids.shape[1] - 1
    if length < 2:  # nothing to score in these rows
        return torch.zeros((batch.input_ids[rows].shape[0], width), device=batch.input_ids.device)
    logp = module(
        input_ids=batch.input_ids[rows, :length],
        attention_mask=batch.attention_mask[rows, :length],
        labels=batch.labels[rows, :length],
        score_mask=score_mask[rows, :length],
    )
    return F.pad(logp, (0, width - logp.shape[1]))


def _logprobs(module: nn.Module, batch: PairBatch, objective: Objective) -> Tensor:
    """``[R, T-1]`` log-probabilities of every row, scoring only what the loss reads."""
    everything = slice(None)
    if not batch.has_incorrect:
        mask = _score_mask(batch, False)
        return _forward(module, batch, everything, mask, _needed_length(mask))
    # fgit reads the incorrect side only at its sensitive tokens (H^a), and so does fault-dpo
    # when shared tokens weigh 0: the output layer is skipped everywhere else, and the incorrect
    # rows run only up to their last sensitive token.
    sparse = objective.loss == "fgit" or (
        objective.loss == "fault-dpo" and objective.shared_weight == 0
    )
    mask = _score_mask(batch, sparse)
    if not sparse:  # one forward over the concatenated [2B, T] batch
        return _forward(module, batch, everything, mask, _needed_length(mask))
    b = batch.num_pairs
    correct_rows, incorrect_rows = slice(0, b), slice(b, None)
    correct = _forward(module, batch, correct_rows, mask, _needed_length(mask[correct_rows]))
    incorrect_length = _needed_length(mask[incorrect_rows])
    # W as a constant, or W through H^c only, needs no activations of the incorrect side kept
    # for backward.
    detached = objective.loss == "fgit" and (
        objective.detach_weights or objective.weight_gradient == "correct"
    )
    with torch.no_grad() if detached else contextlib.nullcontext():
        incorrect = _forward(module, batch, incorrect_rows, mask, incorrect_length)
    return torch.cat([correct, incorrect])


def _correct_side_metrics(logp: Tensor, loss_mask: Tensor, sensitive: Tensor) -> dict[str, Tensor]:
    nll = -logp.detach()
    on_sensitive = loss_mask & (sensitive > 0)
    on_shared = loss_mask & (sensitive == 0)
    return {
        "nll_sensitive_sum": torch.where(on_sensitive, nll, 0.0).sum(),
        "sensitive_tokens": on_sensitive.sum(),
        "nll_shared_sum": torch.where(on_shared, nll, 0.0).sum(),
        "shared_tokens": on_shared.sum(),
    }


def micro_batch_loss(
    module: nn.Module, batch: PairBatch, objective: Objective, counts: StepCounts
) -> tuple[Tensor, dict[str, Tensor]]:
    """This micro-batch's share of the step loss (its sums over the step-wide counts), and the
    detached metric sums to log."""
    logp = _logprobs(module, batch, objective)
    loss_mask, sensitive = shifted(batch)
    b = batch.num_pairs
    lp_c, m_c, s_c = logp[:b], loss_mask[:b], sensitive[:b]
    metrics = _correct_side_metrics(lp_c, m_c, s_c)
    metrics["pairs"] = torch.tensor(b)
    metrics["tokens"] = m_c.sum()
    name = objective.loss
    if name == "sft":
        loss = losses.sft_loss(lp_c, m_c, counts.tokens)
    elif name == "fixed":
        loss = losses.fixed_weight_loss(lp_c, m_c, s_c, objective.fixed_weight, counts.tokens)
    elif name == "fgit":
        out = losses.fgit_loss(
            lp_c,
            m_c,
            s_c,
            logp[b:],
            sensitive[b:],
            alpha=objective.alpha,
            detach_weights=objective.detach_weights,
            weight_gradient=objective.weight_gradient,
            num_tokens=counts.tokens,
        )
        loss = out.loss
        used = out.has_correct & out.has_incorrect
        metrics["weight_sum"] = torch.where(used, out.sample_weights.detach(), 0.0).sum()
        metrics["h_correct_sum"] = torch.where(used, out.log_h_correct.detach().exp(), 0.0).sum()
        metrics["h_incorrect_sum"] = torch.where(
            used, out.log_h_incorrect.detach().exp(), 0.0
        ).sum()
        metrics["weighted_pairs"] = used.sum()
    else:
        loss, dpo = _preference_loss(logp, loss_mask, sensitive, batch, objective, counts)
        metrics["margin_sum"] = dpo.margins.detach().sum()
        metrics["preferred"] = (dpo.margins.detach() > 0).sum()
        metrics["preference_pairs"] = torch.tensor(b)
    metrics["loss"] = loss.detach()
    return loss, metrics


def _preference_loss(
    logp: Tensor,
    loss_mask: Tensor,
    sensitive: Tensor,
    batch: PairBatch,
    objective: Objective,
    counts: StepCounts,
) -> tuple[Tensor, losses.DpoOutput]:
    if batch.reference_logps is None:
        raise ValueError(f"loss {objective.loss!r} needs reference log-probabilities")
    ref = batch.reference_logps.to(logp.device)
    b = batch.num_pairs
    if objective.loss == "fault-dpo":
        out = losses.fault_dpo_loss(
            logp[:b],
            logp[b:],
            ref[:b],
            ref[b:],
            loss_mask[:b],
            loss_mask[b:],
            sensitive[:b],
            sensitive[b:],
            beta=objective.beta,
            shared_weight=objective.shared_weight,
            sft_weight=objective.sft_weight,
            num_pairs=counts.pairs,
            num_tokens=counts.tokens,
        )
        return out.loss, out
    weights = loss_mask.to(logp.dtype)
    seq, ref_seq = losses.sequence_logps(logp, weights), losses.sequence_logps(ref, weights)
    if objective.loss == "dpo":
        out = losses.dpo_loss(
            seq[:b],
            seq[b:],
            ref_seq[:b],
            ref_seq[b:],
            beta=objective.beta,
            label_smoothing=objective.label_smoothing,
            num_pairs=counts.pairs,
        )
    else:
        out = losses.dpo_sft_loss(
            seq[:b],
            seq[b:],
            ref_seq[:b],
            ref_seq[b:],
            logp[:b],
            loss_mask[:b],
            beta=objective.beta,
            sft_weight=objective.sft_weight,
            num_pairs=counts.pairs,
            num_tokens=counts.tokens,
        )
    return out.loss, out
