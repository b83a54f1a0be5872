"""Mutation-teacher speed: milliseconds to mutate a 30-line function (K = 3), the median of 50
seeded calls after a warm-up. The target is under 5 ms on 2 cores.

    python benchmarks/mutation.py
"""

from __future__ import annotations

import statistics
import sys
import time

PROGRAM = '''\
def count_runs(xs, limit):
    """Count increasing runs; stop at ``limit``."""
    runs, i = 0, 1
    while i < len(xs) and runs <= limit:
        if xs[i] > xs[i - 1]:
            runs += 1
        elif not xs[i]:
            continue
        i += 1
    best = max(runs, limit)
    return runs == best or False
'''


def main() -> None:
    from fgit.variants.mutation import mutate

    code = PROGRAM + "".join(f"    total_{i} = xs[{i}] + limit * {i}\n" for i in range(19))
    mutate(code, 3)  # warm-up
    timings = []
    for seed in range(50):
        start = time.perf_counter()
        mutate(code, 3, seed=seed)
        timings.append(time.perf_counter() - start)
    lines = len(code.splitlines())
    print(
        f"mutate a {lines}-line function, K = 3: median {statistics.median(timings) * 1000:.2f} ms "
        f"(min {min(timings) * 1000:.2f} ms) over 50 seeds; target < 5 ms"
    )


if __name__ == "__main__":
    sys.exit(main())
