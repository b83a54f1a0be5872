"""Which floating-point type to compute in, and why: one decision for generation and training.

``auto`` picks bfloat16 where the hardware runs it natively and float32 elsewhere:
- CUDA: bfloat16 when the GPU supports it (what the models are trained in), else float32;
- CPU: bfloat16 when the CPU has AMX tiles or AVX-512 BF16 instructions, else float32.

The CPU rule is measured, not assumed. On a CPU without bf16 instructions, PyTorch emulates
bf16 by converting to float32 and back, which is *slower* than float32: on a 2-core AVX2 EPYC,
greedy generation with Qwen2.5-Coder-0.5B ran 2.2-2.8x slower in bf16 (docs/benchmarks.md). On
one with AMX/AVX-512 BF16, the same run is 2-3x faster in bf16 (issue 11's measurements).

Every choice carries its reason, which result files record next to the dtype.
``FGIT_CPU_BF16=0`` (or ``1``) overrides the CPU feature check, e.g. to keep a test suite's
numerics the same on every CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

__all__ = ["CPU_BF16_ENV", "PrecisionChoice", "choose_dtype", "cpu_bf16_feature"]

CPU_BF16_ENV = "FGIT_CPU_BF16"

DtypeChoice = Literal["bfloat16", "float32"]


@dataclass(frozen=True)
class PrecisionChoice:
    dtype: DtypeChoice
    reason: str

    def record(self) -> dict[str, str]:
        return {"dtype": self.dtype, "dtype_reason": self.reason}


def cpu_bf16_feature() -> str | None:
    """The CPU feature that makes bf16 matmuls fast here (``amx_tile`` or ``avx512_bf16``), or
    None when bf16 would be emulated. ``FGIT_CPU_BF16`` = 0 or 1 overrides the check."""
    import torch

    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return f"{CPU_BF16_ENV}={forced}" if forced == "1" else None

    probes = (
        ("amx_tile", getattr(torch.cpu, "_is_amx_tile_supported", None)),
        ("avx512_bf16", getattr(torch.cpu, "_is_avx512_bf16_supported", None)),
    )
    for name, probe in probes:
        if callable(probe) and probe():
            return name
    return None


def choose_dtype(device: str) -> PrecisionChoice:
    """What ``dtype: auto`` means on ``device`` ("cpu", "cuda", "cuda:1", ...)."""
    import torch

    if device.startswith("cuda"):
        # including_emulation=False: a T4 or V100 emulates bf16 (slowly); it gets float32.
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False):
            return PrecisionChoice("bfloat16", "auto: the CUDA device supports bf16")
        return PrecisionChoice("float32", "auto: the CUDA device lacks bf16 support")
    if device.startswith("cpu"):
        feature = cpu_bf16_feature()
        if feature is not None:
            forced = feature.startswith(CPU_BF16_ENV)
            why = feature if forced else f"the CPU has {feature} (native bf16)"
            return PrecisionChoice("bfloat16", f"auto: {why}")
        capability = torch.backends.cpu.get_cpu_capability()
        if os.environ.get(CPU_BF16_ENV, "").strip() == "0":
            return PrecisionChoice("float32", f"auto: {CPU_BF16_ENV}=0")
        return PrecisionChoice(
            "float32",
            f"auto: the CPU ({capability}) has neither AMX nor AVX-512 BF16, so bf16 would be "
            "emulated and slower than float32",
        )
    return PrecisionChoice("float32", f"auto: no bf16 rule for device {device!r}")
