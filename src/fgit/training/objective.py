"""Which loss a run trains with, and one micro-batch's forward pass and loss for it.

The arithmetic lives in :mod:`fgit.training.losses`; this module decides which rows the model
must score (and with or without gradients), calls the right loss with the step-wide
normalisers, and returns the sums the trainer logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from fgit.segments.encode import IGNORE_INDEX
from fgit.training import losses
from fgit.training.collator import Granularity, PairBatch, Sides, shifted

__all__ = ["METRICS", "LossName", "Objective", "StepCounts", "micro_batch_loss"]

LossName = Literal["sft", "fixed", "fgit", "dpo", "dpo+sft", "fault-dpo"]
PREFERENCE_LOSSES = ("dpo", "dpo+sft", "fault-dpo")

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


@dataclass(frozen=True)
class Objective:
    """The loss and its hyper-parameters (see :mod:`fgit.training.losses` for the formulas)."""

    loss: LossName = "fgit"
    granularity: Granularity = "hybrid"
    alpha: float = 2.0
    detach_weights: bool = False
    fixed_weight: float = 2.0
    beta: float = 0.1
    label_smoothing: float = 0.0
    sft_weight: float = 1.0
    shared_weight: float = 0.0

    @property
    def sides(self) -> Sides:
        return "correct" if self.loss in ("sft", "fixed") else "both"

    @property
    def needs_reference(self) -> bool:
        return self.loss in PREFERENCE_LOSSES


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


def _forward(module: nn.Module, batch: PairBatch, rows: slice, score_mask: Tensor) -> Tensor:
    return module(
        input_ids=batch.input_ids[rows],
        attention_mask=batch.attention_mask[rows],
        labels=batch.labels[rows],
        score_mask=score_mask[rows],
    )


def _logprobs(module: nn.Module, batch: PairBatch, objective: Objective) -> Tensor:
    """``[R, T-1]`` log-probabilities of every row, scoring only what the loss reads."""
    if not batch.has_incorrect:
        return _forward(module, batch, slice(None), _score_mask(batch, False))
    # fgit reads the incorrect side only at its sensitive tokens (H^a), and so does fault-dpo
    # when shared tokens weigh 0: the output layer is skipped everywhere else.
    sparse = objective.loss == "fgit" or (
        objective.loss == "fault-dpo" and objective.shared_weight == 0
    )
    mask = _score_mask(batch, sparse)
    if objective.loss == "fgit" and objective.detach_weights:
        # W is a constant: the incorrect side needs no activations kept for backward.
        b = batch.num_pairs
        correct = _forward(module, batch, slice(0, b), mask)
        with torch.no_grad():
            incorrect = _forward(module, batch, slice(b, None), mask)
        return torch.cat([correct, incorrect])
    return _forward(module, batch, slice(None), mask)


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
