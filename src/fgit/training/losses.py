"""Every training objective of fgit as a pure function of per-token log-probabilities and masks.

Conventions (all tensors are ``[N, T]``, already shifted so position ``t`` scores label ``t``):

* ``logp``: log P(label_t | prefix) of the model being trained; any value where not scored.
* ``loss_mask``: bool, True on response tokens (prompt and padding are False).
* ``sensitive``: the error-sensitive mask of the chosen granularity: 0/1 for ``line`` and
  ``token``, 0/1/2 for ``hybrid`` (0 shared, 1 in a changed line, 2 changed itself). It is 0
  wherever ``loss_mask`` is False.

Normalisation: token-level losses divide the weighted sum by ``num_tokens`` (by default the
number of response tokens in the batch, the convention of transformers and TRL); sequence-level
losses divide by ``num_pairs``. The trainer passes the counts of the whole optimizer step (all
micro-batches, all processes), so gradient accumulation and data parallelism give the same
gradient as one big batch. Weights multiply the negative log-likelihood; they are *not*
renormalised, so up-weighting sensitive tokens really increases their share of the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from fgit.training.loss_settings import WeightGradient

__all__ = [
    "DpoOutput",
    "FgitOutput",
    "WeightGradient",
    "dpo_loss",
    "dpo_sft_loss",
    "fault_dpo_loss",
    "fgit_loss",
    "fgit_sample_weights",
    "fixed_weight_loss",
    "log_confidence",
    "sequence_logps",
    "sft_loss",
    "weighted_nll",
]


def _count(mask: Tensor, given: Tensor | float | None) -> Tensor | float:
    # At least 1 so an all-padding micro-batch gives 0, not NaN.
    return given if given is not None else mask.sum().clamp(min=1)


def weighted_nll(logp: Tensor, weights: Tensor, num_tokens: Tensor | float) -> Tensor:
    """L = −Σ_ij w_ij · log P_ij / num_tokens. ``weights`` is 0 where nothing is scored.

    ``torch.where`` rather than a product keeps a non-finite ``logp`` at an unscored position
    from leaking into the loss as 0·inf = NaN.
    """
    scored = weights != 0
    return -torch.where(scored, weights * logp, 0.0).sum() / num_tokens


def sft_loss(logp: Tensor, loss_mask: Tensor, num_tokens: Tensor | float | None = None) -> Tensor:
    """Supervised fine-tuning: L = −Σ log P(c_ij | p_i, c_i,<j) / n_tokens over response tokens."""
    return weighted_nll(logp, loss_mask.to(logp.dtype), _count(loss_mask, num_tokens))


def fixed_weight_loss(
    logp: Tensor,
    loss_mask: Tensor,
    sensitive: Tensor,
    weight: float,
    num_tokens: Tensor | float | None = None,
) -> Tensor:
    """The fixed-weight baseline: sensitive response tokens weigh ``weight`` (k), shared ones 1.

    k = 1 is SFT exactly; k = 0 trains on shared tokens only.
    """
    k = torch.tensor(weight, dtype=logp.dtype, device=logp.device)  # exact in float64 too
    weights = torch.where(sensitive > 0, k, torch.ones_like(k)) * loss_mask
    return weighted_nll(logp, weights, _count(loss_mask, num_tokens))


def log_confidence(logp: Tensor, sensitive: Tensor) -> tuple[Tensor, Tensor]:
    """log H per row, with H = Σ_t P_t·V_t / Σ_t V_t over sensitive tokens (V_t > 0).

    H is the V-weighted mean probability of the sensitive tokens, in [0, 1]: a token changed
    itself (V = 2) counts twice as much as one that only sits in a changed line (V = 1). It is
    computed in log space (logsumexp), so it is exact even when every probability underflows.
    Returns ``(log_h, has_sensitive)``; rows without sensitive tokens get log_h = 0 (H = 1), a
    placeholder the caller must replace (see :func:`fgit_sample_weights`).
    """
    v = sensitive.to(logp.dtype)
    has = (sensitive > 0).any(dim=-1)
    # Masked entries must be -inf for logsumexp, but a row of only -inf has NaN gradients; rows
    # without sensitive tokens are therefore given a harmless finite row (the "double where").
    masked = torch.where(sensitive > 0, logp + v.clamp(min=1e-30).log(), -torch.inf)
    masked = torch.where(has[:, None], masked, torch.zeros_like(masked))
    total = torch.where(has, v.sum(dim=-1), torch.full_like(has, masked.shape[-1], dtype=v.dtype))
    return torch.logsumexp(masked, dim=-1) - total.log(), has


def fgit_sample_weights(
    log_h_correct: Tensor,
    log_h_incorrect: Tensor,
    has_correct: Tensor,
    has_incorrect: Tensor,
    alpha: float,
) -> Tensor:
    """W = α − |(H^c − H^a)/(H^c + H^a)| per sample, in (α−1, α].

    Uses the identity (a − b)/(a + b) = tanh((ln a − ln b)/2), so
    W = α − 1 + 2·sigmoid(−|ln H^c − ln H^a|): no division, stable as H^c + H^a → 0, and W = α
    exactly when the model is equally confident on both sides. A pair whose incorrect side has
    no sensitive token (possible only after truncation) carries no contrast: its W is α, the
    most the dynamic weight can give. A pair whose correct side has none has nothing to weight;
    its W is α too, and unused.
    """
    gap = (log_h_correct - log_h_incorrect).abs()
    w = (alpha - 1.0) + 2.0 * torch.sigmoid(-gap)
    both = has_correct & has_incorrect
    return torch.where(both, w, torch.full_like(w, alpha))


@dataclass(frozen=True)
class FgitOutput:
    loss: Tensor
    sample_weights: Tensor  # W per pair, [N]
    log_h_correct: Tensor  # [N]; meaningful where has_correct
    log_h_incorrect: Tensor  # [N]; meaningful where has_incorrect
    has_correct: Tensor
    has_incorrect: Tensor
    token_weights: Tensor  # w_ij of the correct side, [N, T]


def fgit_loss(
    logp_correct: Tensor,
    loss_mask: Tensor,
    sensitive_correct: Tensor,
    logp_incorrect: Tensor,
    sensitive_incorrect: Tensor,
    *,
    alpha: float = 2.0,
    detach_weights: bool = False,
    weight_gradient: WeightGradient = "both",
    num_tokens: Tensor | float | None = None,
) -> FgitOutput:
    """The FGIT loss: L = −(1/n) Σ_i Σ_j w_ij · log P(c_ij | p_i, c_i,<j), with
    w_ij = W_i on error-sensitive tokens of c_i and α − 1 on shared tokens.

    W_i (:func:`fgit_sample_weights`) depends on H^c and H^a (:func:`log_confidence`) and
    gradients flow through it unless ``detach_weights``. ``weight_gradient="correct"`` lets
    them flow through H^c only (H^a is a constant inside W): the paper's W through H^a *raises*
    the incorrect side's probability whenever H^c < H^a (docs/training.md, "Gradients").
    ``logp_incorrect`` only needs to be valid where ``sensitive_incorrect > 0``. With no
    sensitive tokens and α = 2 this is SFT.
    """
    if weight_gradient not in ("both", "correct"):
        raise ValueError(f"weight_gradient must be 'both' or 'correct', got {weight_gradient!r}")
    log_hc, has_c = log_confidence(logp_correct, sensitive_correct)
    log_ha, has_a = log_confidence(logp_incorrect, sensitive_incorrect)
    if weight_gradient == "correct":
        log_ha = log_ha.detach()
    w = fgit_sample_weights(log_hc, log_ha, has_c, has_a, alpha)
    if detach_weights:
        w = w.detach()
    shared = torch.full_like(logp_correct, alpha - 1.0)
    token_w = torch.where(sensitive_correct > 0, w[:, None], shared) * loss_mask
    loss = weighted_nll(logp_correct, token_w, _count(loss_mask, num_tokens))
    return FgitOutput(loss, w, log_hc, log_ha, has_c, has_a, token_w)


def sequence_logps(logp: Tensor, weights: Tensor) -> Tensor:
    """Σ_t w_t · log P_t per row (the DPO sequence log-probability when w is the loss mask)."""
    return torch.where(weights != 0, weights * logp, 0.0).sum(dim=-1)


@dataclass(frozen=True)
class DpoOutput:
    loss: Tensor
    margins: Tensor  # β·((π_c − ref_c) − (π_a − ref_a)) per pair
    rewards_correct: Tensor  # β·(π_c − ref_c)
    rewards_incorrect: Tensor  # β·(π_a − ref_a)
    nll: Tensor | None = None  # the SFT term of the dual losses, before its weight λ


def dpo_loss(
    policy_correct: Tensor,
    policy_incorrect: Tensor,
    reference_correct: Tensor,
    reference_incorrect: Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    num_pairs: Tensor | float | None = None,
) -> DpoOutput:
    """DPO (Rafailov et al., 2023, eq. 7), sequence log-probabilities in, per pair:

        L = −log σ(β·[(log π(c) − log π_ref(c)) − (log π(a) − log π_ref(a))])

    with conservative label smoothing ε (cDPO): −(1−ε)·log σ(z) − ε·log σ(−z).
    """
    rewards_c = beta * (policy_correct - reference_correct)
    rewards_a = beta * (policy_incorrect - reference_incorrect)
    margins = rewards_c - rewards_a
    losses = -(1.0 - label_smoothing) * F.logsigmoid(margins) - label_smoothing * F.logsigmoid(
        -margins
    )
    count = num_pairs if num_pairs is not None else max(margins.numel(), 1)
    return DpoOutput(losses.sum() / count, margins, rewards_c, rewards_a)


def dpo_sft_loss(
    policy_correct: Tensor,
    policy_incorrect: Tensor,
    reference_correct: Tensor,
    reference_incorrect: Tensor,
    logp_correct: Tensor,
    loss_mask: Tensor,
    *,
    beta: float = 0.1,
    sft_weight: float = 1.0,
    num_pairs: Tensor | float | None = None,
    num_tokens: Tensor | float | None = None,
) -> DpoOutput:
    """CodeLutra-style dual loss: L = L_DPO + λ·L_SFT(correct response), λ = ``sft_weight``."""
    dpo = dpo_loss(
        policy_correct,
        policy_incorrect,
        reference_correct,
        reference_incorrect,
        beta=beta,
        num_pairs=num_pairs,
    )
    nll = sft_loss(logp_correct, loss_mask, num_tokens)
    return DpoOutput(
        dpo.loss + sft_weight * nll, dpo.margins, dpo.rewards_correct, dpo.rewards_incorrect, nll
    )


def fault_dpo_loss(
    logp_correct: Tensor,
    logp_incorrect: Tensor,
    reference_logp_correct: Tensor,
    reference_logp_incorrect: Tensor,
    loss_mask_correct: Tensor,
    loss_mask_incorrect: Tensor,
    sensitive_correct: Tensor,
    sensitive_incorrect: Tensor,
    *,
    beta: float = 0.1,
    shared_weight: float = 0.0,
    sft_weight: float = 1.0,
    num_pairs: Tensor | float | None = None,
    num_tokens: Tensor | float | None = None,
) -> DpoOutput:
    """Fault-guided preference loss (beyond the paper; its stated future work).

    DPO whose sequence scores weight each response token by ω_t = s + V_t (s =
    ``shared_weight``, V the hybrid mask), for the policy and the reference alike, plus
    λ·NLL on the correct response. With s = 0 the preference compares only the
    error-sensitive tokens, where the two responses actually differ, and the tokens changed
    themselves count double; s = 1 is DPO with the faults emphasised. A side without sensitive
    tokens scores 0 on both models, so the margin rests on the other side.
    """
    w_c = (shared_weight + sensitive_correct.to(logp_correct.dtype)) * loss_mask_correct
    w_a = (shared_weight + sensitive_incorrect.to(logp_incorrect.dtype)) * loss_mask_incorrect
    dpo = dpo_loss(
        sequence_logps(logp_correct, w_c),
        sequence_logps(logp_incorrect, w_a),
        sequence_logps(reference_logp_correct, w_c),
        sequence_logps(reference_logp_incorrect, w_a),
        beta=beta,
        num_pairs=num_pairs,
    )
    nll = sft_loss(logp_correct, loss_mask_correct, num_tokens)
    return DpoOutput(
        dpo.loss + sft_weight * nll, dpo.margins, dpo.rewards_correct, dpo.rewards_incorrect, nll
    )
