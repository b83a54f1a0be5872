"""How alike are the weight updates of several LoRA runs? Cosine and norms of their ΔW = s·B·A.

    python scripts/compare_adapters.py RUN/train/sft-lr4e-4/adapter RUN/train/fgit-lr4e-4/adapter

Each adapter's update is the concatenation over modules of ΔW = s·B·A (s = lora_alpha / r, or
lora_alpha / √r with rsLoRA). Two updates are compared by the Frobenius inner product
⟨B₁A₁, B₂A₂⟩ = tr((B₁ᵀB₂)(A₂A₁ᵀ)), an r×r product per module, so a 0.5B model's dense ΔW
(gigabytes in float64) is never built. A module that one adapter has and the other lacks counts as
a zero update there. Adapters with per-module ranks or alphas (``rank_pattern``,
``alpha_pattern``) or full ``modules_to_save`` weights are refused rather than half-compared.
Prints the norm of each update and the cosine of every pair (docs/results.md uses it to ask how
different FGIT's update is from SFT's).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

Factors = dict[str, tuple[torch.Tensor, torch.Tensor]]  # module -> (s·B, A), float64


def lora_factors(state: dict[str, torch.Tensor], scale: float) -> Factors:
    """Module name -> (s·B, A) from a PEFT adapter state dict (``...lora_A.weight`` keys)."""
    factors: Factors = {}
    for key, a in state.items():
        if ".lora_A." not in key:
            continue
        module = key.split(".lora_A.")[0]
        b = state[key.replace(".lora_A.", ".lora_B.")]
        factors[module] = (b.double() * scale, a.double())
    return factors


def update_inner(first: Factors, second: Factors) -> float:
    """⟨ΔW₁, ΔW₂⟩ summed over the modules both have (a missing module is a zero update)."""
    total = 0.0
    for module in first.keys() & second.keys():
        b1, a1 = first[module]
        b2, a2 = second[module]
        total += torch.trace((b1.T @ b2) @ (a2 @ a1.T)).item()
    return total


def load_adapter(folder: Path) -> Factors:
    from safetensors.torch import load_file

    config = json.loads((folder / "adapter_config.json").read_text())
    for key in ("rank_pattern", "alpha_pattern"):
        if config.get(key):
            raise ValueError(f"{folder}: {key} is set; per-module scales are not supported here")
    if config.get("modules_to_save"):
        raise ValueError(f"{folder}: modules_to_save holds full weights; only LoRA is compared")
    rank = config["r"]
    scale = config["lora_alpha"] / (math.sqrt(rank) if config.get("use_rslora") else rank)
    return lora_factors(load_file(str(folder / "adapter_model.safetensors")), scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapters", type=Path, nargs="+", help="PEFT adapter folders")
    args = parser.parse_args(argv)
    if len(args.adapters) < 2:
        parser.error("give at least two adapter folders")
    try:
        updates = [load_adapter(folder) for folder in args.adapters]
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = [str(folder) for folder in args.adapters]
    norms = [math.sqrt(update_inner(u, u)) for u in updates]
    for name, update, norm in zip(names, updates, norms, strict=True):
        print(f"{name}: {len(update)} modules, ‖ΔW‖ = {norm:.4f}")
    print("\ncosine of the updates:")
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    for i, j in pairs:
        denominator = norms[i] * norms[j]
        cosine = update_inner(updates[i], updates[j]) / denominator if denominator else math.nan
        print(f"  {names[i]}  vs  {names[j]}: {cosine:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
