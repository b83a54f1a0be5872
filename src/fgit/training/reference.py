"""Reference log-probabilities for the preference losses, computed once and cached.

DPO compares the policy with the starting model. Instead of keeping a second model in memory,
the starting model scores every response token of every pair once, before the first step; the
result is cached in the run folder (safetensors, with a fingerprint of model, data and
settings) and reused on resume. A LoRA model starts equal to its base (B = 0), so scoring it
before training gives the base model's log-probabilities.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save
from torch import nn

from fgit.io import atomic_write
from fgit.progress import progress_bar
from fgit.segments.encode import EncodedPair
from fgit.training.collator import PairCollator, shifted

__all__ = ["compute_reference_logps", "load_reference", "save_reference"]

Reference = dict[int, tuple[np.ndarray, np.ndarray]]


@torch.no_grad()
def compute_reference_logps(
    module: nn.Module,
    pairs: Sequence[tuple[int, EncodedPair]],
    collator: PairCollator,
    *,
    batch_size: int,
    device: torch.device | str,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    quiet: bool = False,
) -> Reference:
    """Log-probabilities of each pair's correct and incorrect response tokens, in order.

    ``pairs`` is this process's share; ``collator`` must have ``sides="both"`` and no
    reference. Longest first, so a batch that does not fit fails at once.
    """
    was_training = module.training
    module.eval()
    order = sorted(pairs, key=lambda item: -len(item[1].correct.input_ids))
    out: Reference = {}
    try:
        with progress_bar(quiet, unit="pairs") as bar:
            task = bar.add_task("reference log-probs", total=len(order))
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                batch = collator(chunk).to(device)
                with (autocast or contextlib.nullcontext)():
                    logp = module(
                        input_ids=batch.input_ids,
                        attention_mask=batch.attention_mask,
                        labels=batch.labels,
                        score_mask=batch.labels != -100,
                    )
                loss_mask, _ = shifted(batch)
                rows = [logp[r][loss_mask[r]].float().cpu().numpy() for r in range(len(logp))]
                b = batch.num_pairs
                for k, index in enumerate(batch.indices):
                    out[index] = (rows[k], rows[b + k])
                bar.advance(task, len(chunk))
    finally:
        module.train(was_training)
    return out


def save_reference(path: Path, reference: Reference, fingerprint: str) -> None:
    tensors = {}
    for index, (correct, incorrect) in reference.items():
        tensors[f"{index}.correct"] = np.ascontiguousarray(correct, dtype=np.float32)
        tensors[f"{index}.incorrect"] = np.ascontiguousarray(incorrect, dtype=np.float32)
    metadata = {"fingerprint": fingerprint, "pairs": str(len(reference))}
    atomic_write(path, save(tensors, metadata=metadata))


def load_reference(path: Path, fingerprint: str) -> Reference | None:
    """The cached reference, or None when missing or made for other inputs."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("fingerprint") != fingerprint:
        return None
    tensors = load_file(str(path))
    out: Reference = {}
    for key in tensors:
        index, side = key.split(".")
        if side == "correct":
            out[int(index)] = (tensors[key], tensors[f"{index}.incorrect"])
    return out
