"""Paired statistics for two runs on the same tasks: is a pass@1 difference more than noise?

Both runs solve the same tasks, so the tests are paired: McNemar's exact test on the tasks where
the runs disagree, and a bootstrap confidence interval that resamples tasks (both runs' verdicts
of a task together). With n samples per task a task's score is its share of passing samples, and
the same two tools generalise: the sign test over the tasks whose score moved (McNemar's exact
test is its pass/fail case) and the bootstrap of the mean per-task difference. Pure functions,
no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "McNemarResult",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "paired_bootstrap_mean_ci",
    "sign_test",
    "wilson_interval",
]


@dataclass(frozen=True)
class McNemarResult:
    """``b_only``: tasks only run b passes; ``a_only``: tasks only run a passes."""

    b_only: int
    a_only: int
    p_value: float


def _paired(a: Sequence[bool], b: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    if len(a) != len(b):
        raise ValueError(f"paired verdicts need equal lengths, got {len(a)} and {len(b)}")
    return np.asarray(a, dtype=bool).reshape(-1), np.asarray(b, dtype=bool).reshape(-1)


def _two_sided_binomial(up: int, down: int) -> float:
    """P of a split at least as uneven as ``up`` : ``down`` when each of the ``up + down``
    tasks is equally likely to go either way: twice the lower tail of Binomial(n, 1/2), capped
    at 1; 1 when n = 0."""
    n = up + down
    if n == 0:
        return 1.0
    tail = term = 1  # C(n, 0); each next C(n, i + 1) from the last, not from scratch
    for i in range(min(up, down)):
        term = term * (n - i) // (i + 1)
        tail += term
    # Exact integers; int / int true division rounds correctly even for huge 2**n.
    return min(1.0, 2 * tail / 2**n)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> McNemarResult:
    """Exact two-sided McNemar test of per-task pass/fail ``a`` vs ``b``.

    Under the null hypothesis each discordant task is equally likely to favour either run, so
    ``min(b_only, a_only)`` is Binomial(n, 1/2) for n discordant tasks; p doubles the lower tail
    (capped at 1), and is 1 without discordant tasks.
    """
    first, second = _paired(a, b)
    b_only = int(np.sum(second & ~first))
    a_only = int(np.sum(first & ~second))
    return McNemarResult(b_only, a_only, _two_sided_binomial(b_only, a_only))


def _scores(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    if len(a) != len(b):
        raise ValueError(f"paired scores need equal lengths, got {len(a)} and {len(b)}")
    return np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)


def sign_test(a: Sequence[float], b: Sequence[float]) -> McNemarResult:
    """Exact two-sided sign test of per-task scores ``a`` vs ``b`` (e.g. shares of passing
    samples): ``b_only`` counts the tasks where b scores higher, ``a_only`` those where a does,
    ties are left out, and p is as McNemar's. On pass/fail scores it *is* McNemar's exact test.
    """
    first, second = _scores(a, b)
    up, down = int(np.sum(second > first)), int(np.sum(second < first))
    return McNemarResult(up, down, _two_sided_binomial(up, down))


def paired_bootstrap_ci(
    a: Sequence[bool],
    b: Sequence[bool],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(diff, low, high)``: pass@1 of ``b`` minus pass@1 of ``a`` (fractions) and a percentile
    bootstrap interval that resamples tasks with replacement, keeping each task's pair together.

    Deterministic for a given ``seed``.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    first, second = _paired(a, b)
    n = first.size
    if n == 0:
        raise ValueError("paired bootstrap needs at least one task")
    gained = int(np.sum(second & ~first))
    lost = int(np.sum(first & ~second))
    diff = (gained - lost) / n
    # A task's paired difference is +1, -1 or 0, so a resample of n tasks is fully described by
    # how many of each it draws: a multinomial draw, the same distribution as resampling indices
    # but O(resamples) memory and time instead of O(resamples * n).
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [gained / n, lost / n, 1.0 - (gained + lost) / n], size=resamples)
    diffs = (draws[:, 0] - draws[:, 1]) / n
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return float(diff), float(low), float(high)


def paired_bootstrap_mean_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(diff, low, high)``: the mean over tasks of ``b − a`` (per-task scores in [0, 1], e.g.
    the share of a task's samples that pass) and a percentile bootstrap interval that resamples
    tasks with replacement, each task's pair together.

    A resample is described by how many tasks it draws of each distinct difference (with n
    samples per task there are at most 2n + 1), a multinomial draw as in
    :func:`paired_bootstrap_ci`. That function is kept for pass/fail runs because its draws
    come in its own order (gained, lost, same): published intervals reproduce to the digit.
    Deterministic for a given ``seed``.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    first, second = _scores(a, b)
    n = first.size
    if n == 0:
        raise ValueError("paired bootstrap needs at least one task")
    values, counts = np.unique(second - first, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts / n, size=resamples)
    diffs = draws @ values / n
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return float(np.mean(second - first)), float(low), float(high)


def wilson_interval(passed: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a pass rate ``passed / n`` (fractions; (0, 1) for n = 0).

    Unlike the normal approximation it stays inside [0, 1] and is not zero-width at 0 or n
    passes, which matters for the small task counts of a quick run. The formula of
    statsmodels' ``proportion_confint(method="wilson")`` (statsmodels/stats/proportion.py).
    """
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = passed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At 0 or n passes the bound is exactly 0 or 1; rounding would leave 1e-17 off it.
    low = 0.0 if passed <= 0 else max(0.0, centre - half)
    high = 1.0 if passed >= n else min(1.0, centre + half)
    return low, high
