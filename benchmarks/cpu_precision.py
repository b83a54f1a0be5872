"""Is bf16 fast on this CPU? Matmul throughput per dtype, side by side, and what fgit's
``dtype: auto`` picks here (``fgit.precision``).

    python benchmarks/cpu_precision.py

Prints the CPU features torch sees, GFLOP/s of a square matmul and of the linear-layer shapes
that greedy decoding of a 0.5B model runs (batch 1/16/64 rows times a 896 x 4864 MLP weight,
Qwen2.5-Coder-0.5B's), each in float32 and bfloat16, and the bf16/fp32 ratio. Read the ratios:
absolute figures move with machine load.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch


def gflops(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
    torch.nn.functional.linear(a, b)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        torch.nn.functional.linear(a, b)
    seconds = (time.perf_counter() - start) / repeats
    return 2 * a.shape[0] * a.shape[1] * b.shape[0] / seconds / 1e9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from fgit.precision import choose_dtype, cpu_bf16_feature

    choice = choose_dtype("cpu")
    print(
        f"torch {torch.__version__}, {args.threads} threads, capability "
        f"{torch.backends.cpu.get_cpu_capability()}, native bf16 feature: "
        f"{cpu_bf16_feature() or 'none'}"
    )
    print(f"dtype auto -> {choice.dtype} ({choice.reason})")
    shapes = [("matmul 2048x2048x2048", 2048, 2048, 2048, 3)]
    shapes += [(f"linear {m} x 896 -> 4864", m, 896, 4864, 50) for m in (1, 16, 64)]
    for name, m, k, n, repeats in shapes:
        figures = {}
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
            # bf16 can be hundreds of times slower where it is emulated: fewer repeats there.
            figures[dtype] = gflops(a, b, repeats if dtype == torch.float32 else 1)
        ratio = figures[torch.bfloat16] / figures[torch.float32]
        print(
            f"{name:26s} float32 {figures[torch.float32]:8.2f} GFLOP/s   bfloat16 "
            f"{figures[torch.bfloat16]:8.2f} GFLOP/s   bf16/fp32 {ratio:6.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
