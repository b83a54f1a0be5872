"""Per-token log-probabilities of a causal LM without materialising the full logits.

At a 151k vocabulary, fp32 logits for a batch of 8 × 1024 tokens take 5 GB, and autograd keeps
the log-softmax too. Here the output layer runs only on the positions a loss scores, a chunk of
rows at a time, under activation checkpointing: each chunk's logits live only while that chunk
is computed (and recomputed in backward), so peak memory is one chunk's logits, not the batch's.
The output layer is called as a module, so DDP/FSDP/DeepSpeed parameter hooks still run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from fgit.segments.encode import IGNORE_INDEX

__all__ = [
    "CausalLMLogProbs",
    "chunked_token_logprobs",
    "naive_token_logprobs",
    "output_softcap",
]


def _chunk_logprobs(
    hidden: Tensor, labels: Tensor, lm_head: nn.Module, softcap: float | None
) -> Tensor:
    logits = lm_head(hidden)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 -> fp32; fp64 stays
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    picked = logits.gather(-1, labels[:, None]).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def chunked_token_logprobs(
    hidden: Tensor,
    lm_head: nn.Module,
    labels: Tensor,
    score_mask: Tensor,
    *,
    chunk_size: int = 1024,
    softcap: float | None = None,
) -> Tensor:
    """log P(labels[n, t] | ·) from ``hidden[n, t]`` where ``score_mask`` is True, 0 elsewhere.

    ``hidden`` is ``[N, T, H]`` (the decoder output at the position *before* each label),
    ``labels`` and ``score_mask`` are ``[N, T]``. Returns ``[N, T]`` in fp32 (fp64 for an fp64
    model). ``chunk_size`` is
    the number of scored positions per output-layer call.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    rows = hidden[score_mask]  # [M, H]: only the scored positions reach the output layer
    targets = labels[score_mask]
    pieces = []
    for start in range(0, rows.shape[0], chunk_size):
        h, y = rows[start : start + chunk_size], targets[start : start + chunk_size]
        if torch.is_grad_enabled() and h.requires_grad:
            pieces.append(checkpoint(_chunk_logprobs, h, y, lm_head, softcap, use_reentrant=False))
        else:
            pieces.append(_chunk_logprobs(h, y, lm_head, softcap))
    dtype = torch.promote_types(hidden.dtype, torch.float32)
    out = torch.zeros(score_mask.shape, dtype=dtype, device=hidden.device)
    if pieces:
        out = out.masked_scatter(score_mask, torch.cat(pieces).to(dtype))
    return out


def naive_token_logprobs(logits: Tensor, labels: Tensor, score_mask: Tensor) -> Tensor:
    """The textbook computation from full logits ``[N, T, V]``: the reference the chunked path is
    tested against, and the baseline of the memory benchmark."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    safe = torch.where(score_mask, labels, 0)
    picked = logp.gather(-1, safe[..., None]).squeeze(-1)
    return torch.where(score_mask, picked, 0.0)


def output_softcap(config: Any) -> float | None:
    """Gemma-2 style final-logit soft-capping, which the output layer alone does not apply."""
    value = getattr(config, "final_logit_softcapping", None)
    return float(value) if value else None


def _causal_lm(model: nn.Module) -> nn.Module:
    # A peft model wraps the causal LM; its LoRA layers sit inside the LM, so the LM's own
    # decoder and output layer are the right ones to call.
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


class CausalLMLogProbs(nn.Module):
    """Wraps a causal LM (or a peft model of one) so one ``forward`` returns per-token
    log-probabilities of the labels, computed in chunks.

    The wrapper, not the LM, is what DDP/FSDP wrap, so the decoder and the output layer both
    run inside the wrapped module's forward.
    """

    def __init__(self, model: nn.Module, chunk_size: int = 1024) -> None:
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size
        lm = _causal_lm(model)
        if logit_scale := getattr(lm.config, "logit_scale", None):
            raise ValueError(
                f"{type(lm).__name__} scales its logits by {logit_scale}; fgit's chunked "
                "log-probabilities do not support logit scaling yet"
            )
        self.softcap = output_softcap(lm.config)

    @property
    def causal_lm(self) -> nn.Module:
        return _causal_lm(self.model)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor, score_mask: Tensor
    ) -> Tensor:
        """``labels``/``score_mask`` are aligned with ``input_ids`` (as the collator makes them);
        returns ``[N, T-1]`` log-probabilities of ``labels[:, 1:]``, 0 where not scored."""
        lm = self.causal_lm
        hidden = lm.get_decoder()(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
        targets = labels[:, 1:]
        mask = score_mask[:, 1:] & (targets != IGNORE_INDEX)
        return chunked_token_logprobs(
            hidden[:, :-1],
            lm.get_output_embeddings(),
            targets,
            mask,
            chunk_size=self.chunk_size,
            softcap=self.softcap,
        )
