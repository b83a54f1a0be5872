"""The training losses against hand-written references, and their gradients through a real tiny
model checked by finite differences (docs/training.md, "The losses")."""

from __future__ import annotations

import math
import types

import pytest
import torch
from torch import nn

from fgit.training.logprobs import (
    CausalLMLogProbs,
    chunked_token_logprobs,
    naive_token_logprobs,
)
from fgit.training.losses import (
    dpo_loss,
    dpo_sft_loss,
    fault_dpo_loss,
    fgit_loss,
    fgit_sample_weights,
    fixed_weight_loss,
    log_confidence,
    sequence_logps,
    sft_loss,
    weighted_nll,
)

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# Random batches and straightforward references
# --------------------------------------------------------------------------------------------


def random_side(seed, n=5, t=11, low=-6.0, high=0.0, pad_row=True, dtype=F64):
    """logp in [low, high], a response span per row (prompt and padding False), and a hybrid
    sensitive mask of 0/1/2 that is 0 outside the response. The last row is all padding."""
    g = torch.Generator().manual_seed(seed)
    logp = low + (high - low) * torch.rand(n, t, generator=g, dtype=dtype)
    loss_mask = torch.zeros(n, t, dtype=torch.bool)
    for i in range(n):
        start = int(torch.randint(0, t // 2, (1,), generator=g))
        end = int(torch.randint(start + 1, t + 1, (1,), generator=g))
        loss_mask[i, start:end] = True
    if pad_row:
        loss_mask[-1] = False
    sensitive = torch.randint(0, 3, (n, t), generator=g) * loss_mask
    return logp, loss_mask, sensitive


def loop_weighted_loss(logp, loss_mask, weight_of, num_tokens=None):
    """−Σ w·logp / n with w = weight_of(i, j), over response tokens, in Python floats."""
    total, count = 0.0, 0
    for i in range(logp.shape[0]):
        for j in range(logp.shape[1]):
            if loss_mask[i, j]:
                total += weight_of(i, j) * float(logp[i, j])
                count += 1
    n = num_tokens if num_tokens is not None else max(count, 1)
    return -total / n


def naive_confidence(logp_row, sens_row):
    """H = Σ P·V / Σ V over sensitive tokens, or None if there are none."""
    num = den = 0.0
    for lp, v in zip(logp_row.tolist(), sens_row.tolist(), strict=True):
        if v > 0:
            num += math.exp(lp) * v
            den += v
    return num / den if den > 0 else None


def naive_w(logp_c, sens_c, logp_a, sens_a, alpha):
    out = []
    for i in range(logp_c.shape[0]):
        hc = naive_confidence(logp_c[i], sens_c[i])
        ha = naive_confidence(logp_a[i], sens_a[i])
        if hc is None or ha is None:
            out.append(alpha)
        else:
            out.append(alpha - abs((hc - ha) / (hc + ha)))
    return torch.tensor(out, dtype=F64)


def loop_fgit_loss(logp_c, loss_mask, sens_c, logp_a, sens_a, alpha, num_tokens=None):
    w = naive_w(logp_c, sens_c, logp_a, sens_a, alpha).tolist()
    return loop_weighted_loss(
        logp_c,
        loss_mask,
        lambda i, j: w[i] if sens_c[i, j] > 0 else alpha - 1.0,
        num_tokens,
    )


def grads(loss, inputs):
    """d loss / d inputs, with zeros (not None) for inputs the graph does not reach."""
    got = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, got, strict=True)]


def fgit_pair(seed, **kwargs):
    """A correct side and an incorrect side of the same shape, sharing nothing but the shape."""
    logp_c, loss_mask, sens_c = random_side(seed, **kwargs)
    logp_a, mask_a, sens_a = random_side(seed + 1000, **kwargs)
    return logp_c, loss_mask, sens_c, logp_a, mask_a, sens_a


# --------------------------------------------------------------------------------------------
# 1. fixed weight
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_fixed_weight_one_is_sft_exactly(seed):
    logp, loss_mask, sensitive = random_side(seed)
    assert sensitive.any() and not loss_mask[-1].any()  # sensitive tokens and a padding row
    assert torch.equal(
        fixed_weight_loss(logp, loss_mask, sensitive, 1.0), sft_loss(logp, loss_mask)
    )
    assert torch.equal(fixed_weight_loss(logp, loss_mask, sensitive, 1), sft_loss(logp, loss_mask))


@pytest.mark.parametrize("seed", range(5))
def test_fixed_weight_zero_is_shared_nll_over_all_response_tokens(seed):
    logp, loss_mask, sensitive = random_side(seed)
    shared = loss_mask & (sensitive == 0)
    expected = -logp[shared].sum() / loss_mask.sum()  # divided by *all* response tokens
    got = fixed_weight_loss(logp, loss_mask, sensitive, 0.0)
    torch.testing.assert_close(got, expected, rtol=1e-14, atol=0)
    # Sensitive logp do not matter at all, shared ones do.
    moved = torch.where(sensitive > 0, logp - 3.0, logp)
    assert torch.equal(fixed_weight_loss(moved, loss_mask, sensitive, 0.0), got)
    assert fixed_weight_loss(logp - 1.0, loss_mask, sensitive, 0.0) != got


@pytest.mark.parametrize("k", [2, 3, 5, 0.5, 2.25])
@pytest.mark.parametrize("seed", range(3))
def test_fixed_weight_matches_loop(seed, k):
    logp, loss_mask, sensitive = random_side(seed)
    expected = loop_weighted_loss(logp, loss_mask, lambda i, j: k if sensitive[i, j] > 0 else 1.0)
    got = fixed_weight_loss(logp, loss_mask, sensitive, k)
    assert got.dtype == F64
    assert got.item() == pytest.approx(expected, rel=1e-12, abs=0)


def test_fixed_weight_keeps_float64_weight():
    logp, loss_mask, sensitive = random_side(0)
    k = 0.1
    expected = loop_weighted_loss(logp, loss_mask, lambda i, j: k if sensitive[i, j] > 0 else 1.0)
    got = fixed_weight_loss(logp, loss_mask, sensitive, k)
    assert got.item() == pytest.approx(expected, rel=1e-12, abs=0)


# --------------------------------------------------------------------------------------------
# 2.-4. fgit: reduction to SFT, the sample weight W, the confidence H
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_fgit_without_sensitive_tokens_is_sft(seed):
    logp_c, loss_mask, _, logp_a, _, _ = fgit_pair(seed)
    none = torch.zeros_like(loss_mask, dtype=torch.long)
    for alpha in (2.0, 3.0):
        lc = logp_c.clone().requires_grad_()
        la = logp_a.clone().requires_grad_()
        out = fgit_loss(lc, loss_mask, none, la, none, alpha=alpha)
        ls = logp_c.clone().requires_grad_()
        sft = sft_loss(ls, loss_mask)
        g_c, g_a = grads(out.loss, [lc, la])
        (g_s,) = grads(sft, [ls])
        if alpha == 2.0:
            assert torch.equal(out.loss, sft)
            assert torch.equal(g_c, g_s)
        else:
            torch.testing.assert_close(out.loss, (alpha - 1) * sft, rtol=1e-14, atol=0)
            torch.testing.assert_close(g_c, (alpha - 1) * g_s, rtol=1e-14, atol=0)
        assert torch.equal(g_a, torch.zeros_like(g_a))
        assert torch.equal(out.sample_weights, torch.full((loss_mask.shape[0],), alpha, dtype=F64))


@pytest.mark.parametrize("alpha", [2.0, 3.0, 1.5])
def test_fgit_w_in_range_for_random_and_extreme_inputs(alpha):
    torch.manual_seed(0)
    for trial in range(200):
        n, t = 6, 9
        # Mix moderate values with the extremes 0 and −1e4.
        logp_c = -8 * torch.rand(n, t, dtype=F64)
        logp_a = -8 * torch.rand(n, t, dtype=F64)
        if trial % 2:
            for lp in (logp_c, logp_a):
                pick = torch.rand(n, t)
                lp[pick < 0.3] = -1e4
                lp[pick > 0.8] = 0.0
        sens_c = torch.randint(0, 3, (n, t))
        sens_a = torch.randint(0, 3, (n, t))
        log_hc, has_c = log_confidence(logp_c, sens_c)
        log_ha, has_a = log_confidence(logp_a, sens_a)
        w = fgit_sample_weights(log_hc, log_ha, has_c, has_a, alpha)
        assert torch.isfinite(w).all()
        assert ((w >= alpha - 1) & (w <= alpha)).all(), w
        if trial % 2 == 0:  # moderate values: strictly above α − 1
            assert (w > alpha - 1).all(), w


def test_fgit_w_extremes_hit_the_bounds():
    sens = torch.tensor([[1, 2, 0]])
    # Very different confidences: W reaches α − 1 (the limit of the open bound).
    w = fgit_sample_weights(
        *log_confidence(torch.tensor([[0.0, 0.0, -1.0]], dtype=F64), sens)[:1],
        *log_confidence(torch.tensor([[-1e4, -1e4, -1.0]], dtype=F64), sens)[:1],
        torch.tensor([True]),
        torch.tensor([True]),
        2.0,
    )
    assert w.item() == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_fgit_w_is_alpha_when_confidences_equal(seed):
    logp_c, loss_mask, sens_c, _, _, _ = fgit_pair(seed)
    # Same H on both sides through different tokens: a permutation of the same (P, V) pairs,
    # and a copy of the correct side with its sensitive tokens at other positions.
    perm = torch.randperm(logp_c.shape[1], generator=torch.Generator().manual_seed(seed))
    logp_a, sens_a = logp_c[:, perm], sens_c[:, perm]
    out = fgit_loss(logp_c, loss_mask, sens_c, logp_a, sens_a, alpha=2.5)
    has = out.has_correct & out.has_incorrect
    assert has.sum() >= 2
    # logsumexp over a permutation may differ in the last bit; equal inputs must give α exactly.
    out_same = fgit_loss(logp_c, loss_mask, sens_c, logp_c.clone(), sens_c.clone(), alpha=2.5)
    assert torch.equal(out_same.sample_weights, torch.full_like(out_same.sample_weights, 2.5))
    torch.testing.assert_close(
        out.sample_weights, torch.full_like(out.sample_weights, 2.5), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("alpha", [2.0, 3.0])
@pytest.mark.parametrize("seed", range(8))
def test_fgit_w_and_loss_match_naive_formula(seed, alpha):
    logp_c, loss_mask, sens_c, logp_a, _, sens_a = fgit_pair(seed, low=-4.0)
    if seed % 2:  # rows where one side has no sensitive token
        sens_a[0] = 0
        sens_c[1] = 0
    out = fgit_loss(logp_c, loss_mask, sens_c, logp_a, sens_a, alpha=alpha)
    expected_w = naive_w(logp_c, sens_c, logp_a, sens_a, alpha)
    torch.testing.assert_close(out.sample_weights, expected_w, rtol=0, atol=1e-12)
    assert (expected_w < alpha).any()  # the check is not vacuous
    expected = loop_fgit_loss(logp_c, loss_mask, sens_c, logp_a, sens_a, alpha)
    assert out.loss.item() == pytest.approx(expected, rel=1e-12, abs=0)
    # Token weights: W on sensitive response tokens, α − 1 on shared ones, 0 elsewhere.
    w_tok = torch.where(sens_c > 0, expected_w[:, None], alpha - 1.0) * loss_mask
    torch.testing.assert_close(out.token_weights, w_tok, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_log_confidence_matches_float64_formula(seed):
    logp, _, sens = random_side(seed, low=-5.0)
    log_h, has = log_confidence(logp, sens)
    for i in range(logp.shape[0]):
        h = naive_confidence(logp[i], sens[i])
        assert bool(has[i]) == (h is not None)
        if h is None:
            assert log_h[i].item() == 0.0  # the documented placeholder
        else:
            assert log_h[i].item() == pytest.approx(math.log(h), rel=0, abs=1e-13)


def test_log_confidence_is_finite_when_probabilities_underflow():
    logp = torch.full((3, 6), -1e4, dtype=F64, requires_grad=True)
    sens = torch.tensor([[1, 2, 0, 0, 1, 0], [2, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    log_h, has = log_confidence(logp, sens)
    assert torch.isfinite(log_h).all()
    assert has.tolist() == [True, True, False]
    # exp(−1e4) underflows to 0, so the naive log would be −inf; in log space H = e^{−1e4}.
    assert math.exp(-1e4) == 0.0
    torch.testing.assert_close(log_h[:2], torch.full((2,), -1e4, dtype=F64), rtol=1e-15, atol=0)
    (g,) = torch.autograd.grad(log_h.sum(), logp)
    assert torch.isfinite(g).all()
    # d log H / d logp_t = P_t V_t / Σ P V: the V-weighted share of each sensitive token.
    torch.testing.assert_close(g[0], torch.tensor([0.25, 0.5, 0, 0, 0.25, 0], dtype=F64))
    torch.testing.assert_close(g[1], torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=F64))
    assert torch.equal(g[2], torch.zeros(6, dtype=F64))


# --------------------------------------------------------------------------------------------
# 5. edge cases: finite loss and gradients
# --------------------------------------------------------------------------------------------


def _finite_fgit(logp_c, loss_mask, sens_c, logp_a, sens_a, detach=False, alpha=2.0):
    lc = logp_c.clone().requires_grad_()
    la = logp_a.clone().requires_grad_()
    out = fgit_loss(lc, loss_mask, sens_c, la, sens_a, alpha=alpha, detach_weights=detach)
    g_c, g_a = grads(out.loss, [lc, la])
    assert torch.isfinite(out.loss), out.loss
    assert torch.isfinite(g_c).all() and torch.isfinite(g_a).all()
    assert torch.isfinite(out.sample_weights).all()
    return out, g_c, g_a


def _simple_pair():
    logp_c = torch.tensor([[-0.5, -1.0, -2.0, -0.3, -1.5]], dtype=F64)
    logp_a = torch.tensor([[-0.7, -0.2, -3.0, -0.9, -0.4]], dtype=F64)
    loss_mask = torch.tensor([[False, True, True, True, True]])
    return logp_c, logp_a, loss_mask


@pytest.mark.parametrize("detach", [False, True])
def test_edge_correct_has_sensitive_incorrect_none(detach):
    logp_c, logp_a, loss_mask = _simple_pair()
    sens_c = torch.tensor([[0, 2, 1, 0, 0]])
    sens_a = torch.zeros_like(sens_c)
    out, g_c, g_a = _finite_fgit(logp_c, loss_mask, sens_c, logp_a, sens_a, detach)
    # Documented: no contrast, W = α (the largest dynamic weight), and no gradient through W.
    assert out.sample_weights.tolist() == [2.0]
    assert out.has_correct.tolist() == [True] and out.has_incorrect.tolist() == [False]
    assert torch.equal(g_a, torch.zeros_like(g_a))
    expected = -(2 * (-1.0) + 2 * (-2.0) + 1 * (-0.3) + 1 * (-1.5)) / 4
    assert out.loss.item() == pytest.approx(expected, rel=1e-15)
    torch.testing.assert_close(g_c, -out.token_weights / 4, rtol=0, atol=0)


@pytest.mark.parametrize("detach", [False, True])
def test_edge_correct_none_incorrect_some(detach):
    logp_c, logp_a, loss_mask = _simple_pair()
    sens_c = torch.zeros(1, 5, dtype=torch.long)
    sens_a = torch.tensor([[0, 1, 2, 2, 0]])
    out, g_c, g_a = _finite_fgit(logp_c, loss_mask, sens_c, logp_a, sens_a, detach, alpha=3.0)
    assert out.sample_weights.tolist() == [3.0]
    # Every correct token is shared: weight α − 1.
    torch.testing.assert_close(g_c, -2.0 * loss_mask.to(F64) / 4, rtol=0, atol=0)
    assert out.loss.item() == pytest.approx(-2 * (-1.0 - 2.0 - 0.3 - 1.5) / 4, rel=1e-15)
    assert torch.equal(g_a, torch.zeros_like(g_a))


def test_edge_identical_texts():
    logp_c, _, loss_mask = _simple_pair()
    none = torch.zeros(1, 5, dtype=torch.long)
    out, g_c, _ = _finite_fgit(logp_c, loss_mask, none, logp_c.clone(), none)
    assert torch.equal(out.loss, sft_loss(logp_c, loss_mask))
    torch.testing.assert_close(g_c, -loss_mask.to(F64) / 4, rtol=0, atol=0)


@pytest.mark.parametrize("sens_value", [0, 1, 2])
def test_edge_single_response_token(sens_value):
    logp_c = torch.tensor([[-9.0, -0.8, -9.0]], dtype=F64)
    logp_a = torch.tensor([[-9.0, -2.5, -9.0]], dtype=F64)
    loss_mask = torch.tensor([[False, True, False]])
    sens = torch.tensor([[0, sens_value, 0]])
    out, g_c, g_a = _finite_fgit(logp_c, loss_mask, sens, logp_a, sens)
    hc, ha = math.exp(-0.8), math.exp(-2.5)
    w = 2.0 - abs((hc - ha) / (hc + ha)) if sens_value else 1.0
    assert out.loss.item() == pytest.approx(-w * -0.8, rel=1e-13)
    if sens_value:
        assert g_a[0, 1] != 0  # W depends on the incorrect side
    assert torch.equal(g_c[0, [0, 2]], torch.zeros(2, dtype=F64))


@pytest.mark.parametrize("detach", [False, True])
def test_edge_minus_inf_at_unscored_positions(detach):
    logp_c, loss_mask, sens_c, logp_a, _, sens_a = fgit_pair(3)
    # -inf wherever a loss does not read: outside the response on the correct side, outside the
    # sensitive tokens on the incorrect side.
    logp_c = torch.where(loss_mask, logp_c, -torch.inf)
    logp_a = torch.where(sens_a > 0, logp_a, -torch.inf)
    clean_c = torch.where(loss_mask, logp_c, -1.0)
    clean_a = torch.where(sens_a > 0, logp_a, -1.0)
    out, g_c, g_a = _finite_fgit(logp_c, loss_mask, sens_c, logp_a, sens_a, detach)
    ref, r_c, r_a = _finite_fgit(clean_c, loss_mask, sens_c, clean_a, sens_a, detach)
    assert torch.equal(out.loss, ref.loss)
    assert torch.equal(g_c, r_c) and torch.equal(g_a, r_a)
    # The other losses too.
    for fn in (
        lambda lp: sft_loss(lp, loss_mask),
        lambda lp: fixed_weight_loss(lp, loss_mask, sens_c, 3.0),
        lambda lp: weighted_nll(lp, loss_mask * 0.5, 7.0),
        lambda lp: sequence_logps(lp, loss_mask.to(F64)).sum(),
    ):
        lp = logp_c.clone().requires_grad_()
        value = fn(lp)
        (g,) = torch.autograd.grad(value, lp)
        assert torch.isfinite(value) and torch.isfinite(g).all()
        assert value == fn(clean_c)


def test_edge_confidences_both_underflow():
    logp_c, logp_a, loss_mask = _simple_pair()
    sens_c = torch.tensor([[0, 2, 1, 0, 0]])
    sens_a = torch.tensor([[0, 1, 0, 2, 2]])
    logp_c = torch.where(sens_c > 0, -1e4, logp_c)
    logp_a = torch.where(sens_a > 0, -1e4, logp_a)
    out, _, _ = _finite_fgit(logp_c, loss_mask, sens_c, logp_a, sens_a)
    # H^c = H^a = e^{−1e4} (both 0 in floating point): equal in log space, so W = α.
    assert out.sample_weights.item() == pytest.approx(2.0, abs=1e-12)
    # Unequal but both vanishing: the ratio is still well defined, from log space.
    logp_a2 = torch.where(sens_a > 0, -1e4 - 1.0, logp_a)
    out2, _, g_a2 = _finite_fgit(logp_c, loss_mask, sens_c, logp_a2, sens_a)
    assert out2.sample_weights.item() == pytest.approx(2.0 - math.tanh(0.5), abs=1e-12)
    assert torch.isfinite(g_a2).all() and (g_a2 != 0).any()


# --------------------------------------------------------------------------------------------
# 5b. The sign of the gradient through W (docs/training.md, "Gradients")
# --------------------------------------------------------------------------------------------


def _one_token_pair(p_correct: float, p_incorrect: float, weight_gradient: str = "both"):
    """One pair, one response token per side, both sensitive (V = 2); float64 grads."""
    lc = torch.tensor([[math.log(p_correct)]], dtype=F64, requires_grad=True)
    la = torch.tensor([[math.log(p_incorrect)]], dtype=F64, requires_grad=True)
    mask = torch.ones(1, 1, dtype=torch.bool)
    sens = torch.full((1, 1), 2, dtype=torch.int8)
    out = fgit_loss(lc, mask, sens, la, sens, alpha=2.0, weight_gradient=weight_gradient)
    g_c, g_a = torch.autograd.grad(out.loss, [lc, la], allow_unused=True)
    return out, g_c.item(), 0.0 if g_a is None else g_a.item()


def test_w_gradient_raises_the_incorrect_side_when_the_model_prefers_it():
    """H^c = 0.23 < H^a = 0.63 (the issue's example): through the absolute value, the gradient
    of L with respect to log P^a is negative, so a descent step *raises* the incorrect token,
    and the push on the correct token is weaker than with W held constant."""
    out, g_c, g_a = _one_token_pair(0.23, 0.63)
    # Closed form: L = -W·log p_c, W = 1 + 2σ(ln p_c − ln p_a) when p_c < p_a.
    s = 1.0 / (1.0 + math.exp(-(math.log(0.23) - math.log(0.63))))
    w = 1.0 + 2.0 * s
    assert out.sample_weights.item() == pytest.approx(w, rel=1e-12)
    dw = 2.0 * s * (1.0 - s)  # dW/d ln p_c = -dW/d ln p_a
    assert g_a == pytest.approx(dw * math.log(0.23), rel=1e-12)
    assert g_a < 0  # descent raises log P^a
    assert g_c == pytest.approx(-w - dw * math.log(0.23), rel=1e-12)
    assert abs(g_c) < w  # weaker than the constant-W push (-W)
    # When the model prefers the correct side the signs flip: descent lowers log P^a.
    _, _, g_a_right = _one_token_pair(0.63, 0.23)
    assert g_a_right > 0


def test_w_gradient_can_reverse_the_push_on_a_correct_token():
    """Ten sensitive tokens, P = [0.9, 0.01 x 9], H^a = 0.5: through W, descent lowers the
    0.9 token (positive gradient) with 'both' and with 'correct'; detached, it raises it."""
    probs = [0.9] + [0.01] * 9
    mask = torch.ones(1, 10, dtype=torch.bool)
    sens_c = torch.full((1, 10), 2, dtype=torch.int8)
    sens_a = torch.full((1, 1), 2, dtype=torch.int8)
    grads_on_first = {}
    settings = {
        "both": {},
        "correct": {"weight_gradient": "correct"},
        "detached": {"detach_weights": True},
    }
    for name, options in settings.items():
        lc = torch.tensor([[math.log(p) for p in probs]], dtype=F64, requires_grad=True)
        la = torch.tensor([[math.log(0.5)]], dtype=F64, requires_grad=True)
        out = fgit_loss(lc, mask, sens_c, la, sens_a, alpha=2.0, **options)
        (g_c,) = torch.autograd.grad(out.loss, [lc])
        grads_on_first[name] = g_c[0, 0].item()
    assert grads_on_first["both"] > 0 and grads_on_first["both"] == grads_on_first["correct"]
    assert grads_on_first["detached"] < 0


def test_weight_gradient_correct_only():
    """weight_gradient='correct': same loss and W, no gradient into the incorrect side, and the
    correct side's gradient still goes through H^c."""
    both, g_c_both, _ = _one_token_pair(0.23, 0.63)
    only, g_c_only, g_a_only = _one_token_pair(0.23, 0.63, "correct")
    assert torch.equal(both.loss, only.loss)
    assert torch.equal(both.sample_weights, only.sample_weights)
    assert g_a_only == 0.0
    assert g_c_only == g_c_both  # H^a enters W's derivative in ln p_c only as a constant
    with pytest.raises(ValueError, match="weight_gradient"):
        _one_token_pair(0.2, 0.6, "incorrect")


# --------------------------------------------------------------------------------------------
# 6. detach_weights
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_detach_weights(seed):
    logp_c, loss_mask, sens_c, logp_a, _, sens_a = fgit_pair(seed, low=-4.0)
    results = {}
    for detach in (False, True):
        lc = logp_c.clone().requires_grad_()
        la = logp_a.clone().requires_grad_()
        out = fgit_loss(lc, loss_mask, sens_c, la, sens_a, alpha=2.0, detach_weights=detach)
        results[detach] = (out, *grads(out.loss, [lc, la]))
    (o_f, gc_f, ga_f), (o_t, gc_t, ga_t) = results[False], results[True]
    assert torch.equal(o_f.loss, o_t.loss)
    assert torch.equal(o_f.sample_weights, o_t.sample_weights)
    assert not o_t.sample_weights.requires_grad
    assert torch.equal(ga_t, torch.zeros_like(ga_t))
    assert (ga_f != 0).any()
    assert not torch.allclose(gc_f, gc_t)
    # Detached: the gradient of weighted_nll with the token weights as constants.
    lc = logp_c.clone().requires_grad_()
    const = weighted_nll(lc, o_t.token_weights.detach(), loss_mask.sum())
    (g_const,) = torch.autograd.grad(const, lc)
    assert torch.equal(gc_t, g_const)
    torch.testing.assert_close(g_const, -o_t.token_weights / loss_mask.sum(), rtol=1e-14, atol=0)


def test_w_gradient_matches_finite_differences():
    """Gradients through W, checked on the pure function with gradcheck (float64)."""
    logp_c, loss_mask, sens_c, logp_a, _, sens_a = fgit_pair(7, n=3, t=6, low=-3.0)

    def f(lc, la):
        return fgit_loss(lc, loss_mask, sens_c, la, sens_a, alpha=2.0).loss

    assert torch.autograd.gradcheck(
        f, (logp_c.clone().requires_grad_(), logp_a.clone().requires_grad_())
    )


# --------------------------------------------------------------------------------------------
# 7. finite differences through a real tiny model (float64)
# --------------------------------------------------------------------------------------------

PAIRS, SEQ, PROMPT = 2, 9, 3


@pytest.fixture(scope="module")
def tiny_llama64(bytelevel_tokenizer):
    from fgit.testing import build_tiny_llama

    model = build_tiny_llama(bytelevel_tokenizer, hidden_size=16, num_layers=1).double()
    # transformers' LlamaRMSNorm computes in float32 whatever the model dtype, which makes
    # float64 finite differences noise; these instances get the same formula in float64.
    norms = [m for m in model.modules() if type(m).__name__ == "LlamaRMSNorm"]
    assert len(norms) == 3
    for norm in norms:
        norm.forward = types.MethodType(_rms_norm_float64, norm)
    return model.eval()


def _rms_norm_float64(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


@pytest.fixture(scope="module")
def pair_batch(bytelevel_tokenizer):
    """2 correct rows then 2 incorrect rows: prompt prefix with label −100, one right-padded row
    per side, hybrid masks (aligned with input_ids) with 1s and 2s on the response."""
    g = torch.Generator().manual_seed(1)
    vocab = len(bytelevel_tokenizer)
    n = 2 * PAIRS
    input_ids = torch.randint(3, vocab, (n, SEQ), generator=g)
    attention_mask = torch.ones(n, SEQ, dtype=torch.long)
    for row in (1, 3):  # right padding
        input_ids[row, -2:] = bytelevel_tokenizer.pad_token_id
        attention_mask[row, -2:] = 0
    labels = input_ids.clone()
    labels[:, :PROMPT] = -100
    labels[attention_mask == 0] = -100
    sensitive = torch.tensor(
        [
            [0, 0, 0, 0, 1, 2, 1, 0, 0],
            [0, 0, 0, 2, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 2, 2, 1, 1, 0],
            [0, 0, 0, 1, 1, 0, 2, 0, 0],
        ]
    )
    assert not (sensitive.bool() & (labels == -100)).any()
    return input_ids, attention_mask, labels, sensitive


def exact_logp(model, input_ids, attention_mask, labels):
    """log_softmax of the model's own float64 logits at labels[:, 1:], 0 where unscored."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    targets = labels[:, 1:]
    mask = targets != -100
    picked = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
    return torch.where(mask, picked, 0.0)


def model_fgit_loss(logp, labels, sensitive, detach=False, w_const=None):
    loss_mask = labels[:, 1:] != -100
    sens = sensitive[:, 1:]
    c, a = slice(0, PAIRS), slice(PAIRS, None)
    if w_const is None:
        out = fgit_loss(
            logp[c], loss_mask[c], sens[c], logp[a], sens[a], alpha=2.0, detach_weights=detach
        )
        return out.loss, out.sample_weights
    token_w = torch.where(sens[c] > 0, w_const[:, None], 1.0) * loss_mask[c]
    return weighted_nll(logp[c], token_w, loss_mask[c].sum()), w_const


def checked_entries(model, labels):
    """(parameter, index) pairs: output rows of label tokens, attention, MLP, embedding, norm."""
    inner = model.model
    attn = inner.layers[0].self_attn
    label_tok = int(labels[0, 5])
    input_tok = int(labels[2, 4])
    return [
        (model.lm_head.weight, (label_tok, 3)),
        (model.lm_head.weight, (int(labels[3, 6]), 11)),
        (model.lm_head.weight, (7, 0)),  # a token no label uses: only the softmax normaliser
        (attn.q_proj.weight, (2, 5)),
        (attn.k_proj.weight, (1, 9)),
        (attn.v_proj.weight, (0, 4)),
        (attn.o_proj.weight, (6, 1)),
        (inner.layers[0].mlp.up_proj.weight, (3, 3)),
        (inner.embed_tokens.weight, (input_tok, 2)),
        (inner.norm.weight, (5,)),
    ]


def finite_difference(model, fn, param, index, eps=1e-5):
    with torch.no_grad():
        orig = param[index].item()
        param[index] = orig + eps
        up = fn().item()
        param[index] = orig - eps
        down = fn().item()
        param[index] = orig
    return (up - down) / (2 * eps)


def assert_fd_close(ad, fd, rel=1e-6, abs_=1e-9):
    assert abs(ad - fd) <= rel * max(abs(ad), abs(fd)) + abs_, (ad, fd)


def test_fd_through_tiny_model(tiny_llama64, pair_batch):
    model = tiny_llama64
    input_ids, attention_mask, labels, sensitive = pair_batch
    entries = checked_entries(model, labels)
    params = [p for p, _ in entries]

    def loss_of(detach=False, w_const=None):
        logp = exact_logp(model, input_ids, attention_mask, labels)
        return model_fgit_loss(logp, labels, sensitive, detach, w_const)

    grad_full, grad_detached = {}, {}
    for detach, store in ((False, grad_full), (True, grad_detached)):
        model.zero_grad(set_to_none=True)
        loss, w = loss_of(detach)
        loss.backward()
        for k, (p, idx) in enumerate(entries):
            store[k] = p.grad[idx].item()
    model.zero_grad(set_to_none=True)
    assert (w < 2.0).all() and (w > 1.0).all()
    w_const = w.detach()

    for k, (p, idx) in enumerate(entries):
        fd = finite_difference(model, lambda: loss_of()[0], p, idx)
        assert_fd_close(grad_full[k], fd)
        fd_const = finite_difference(model, lambda: loss_of(w_const=w_const)[0], p, idx)
        assert_fd_close(grad_detached[k], fd_const)
    # The W path matters: ignoring it (detached) changes the gradient measurably.
    differs = [
        k
        for k in grad_full
        if abs(grad_full[k] - grad_detached[k]) > 1e-4 * max(abs(grad_full[k]), 1e-12)
    ]
    assert differs, (grad_full, grad_detached)
    assert all(p.requires_grad for p in params)


def test_causal_lm_logprobs_float64_model_matches_exact(tiny_llama64, pair_batch):
    """The chunked path (chunk_size=3, checkpointed) on a float64 model gives the exact
    log-probs and fgit gradients up to its fp32 output layer."""
    model = tiny_llama64
    input_ids, attention_mask, labels, sensitive = pair_batch
    score_mask = torch.ones_like(labels, dtype=torch.bool)
    module = CausalLMLogProbs(model, chunk_size=3)
    entries = checked_entries(model, labels)
    got = {}
    for name in ("chunked", "exact"):
        model.zero_grad(set_to_none=True)
        if name == "chunked":
            logp = module(input_ids, attention_mask, labels, score_mask)
        else:
            logp = exact_logp(model, input_ids, attention_mask, labels)
        loss, _ = model_fgit_loss(logp.double(), labels, sensitive)
        loss.backward()
        got[name] = (logp.detach().double(), [p.grad[idx].item() for p, idx in entries])
    model.zero_grad(set_to_none=True)
    torch.testing.assert_close(got["chunked"][0], got["exact"][0], rtol=1e-6, atol=1e-6)
    for ad_chunked, ad_exact in zip(got["chunked"][1], got["exact"][1], strict=True):
        assert_fd_close(ad_chunked, ad_exact, rel=1e-4, abs_=1e-6)


def test_fd_through_causal_lm_logprobs_float64(tiny_llama64, pair_batch):
    model = tiny_llama64
    input_ids, attention_mask, labels, sensitive = pair_batch
    score_mask = torch.ones_like(labels, dtype=torch.bool)
    module = CausalLMLogProbs(model, chunk_size=3)

    def loss_of():
        logp = module(input_ids, attention_mask, labels, score_mask)
        return model_fgit_loss(logp, labels, sensitive)[0]

    model.zero_grad(set_to_none=True)
    loss_of().backward()
    for p, idx in checked_entries(model, labels):
        assert_fd_close(p.grad[idx].item(), finite_difference(model, loss_of, p, idx))


# --------------------------------------------------------------------------------------------
# 8. DPO and its variants
# --------------------------------------------------------------------------------------------


def logsig(x):
    """log σ(x) for a Python float, stable on both sides."""
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def paper_dpo(pc, pa, rc, ra, beta, eps=0.0):
    pc, pa, rc, ra = (x.tolist() for x in (pc, pa, rc, ra))
    losses = []
    for i in range(len(pc)):
        z = beta * ((pc[i] - rc[i]) - (pa[i] - ra[i]))
        losses.append(-(1 - eps) * logsig(z) - eps * logsig(-z))
    return sum(losses) / len(losses)


def random_seq_logps(seed, n=6):
    g = torch.Generator().manual_seed(seed)
    return [-60 * torch.rand(n, generator=g, dtype=F64) for _ in range(4)]


@pytest.mark.parametrize("beta", [0.01, 0.1, 0.5, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_dpo_matches_paper_formula(seed, beta):
    pc, pa, rc, ra = random_seq_logps(seed)
    out = dpo_loss(pc, pa, rc, ra, beta=beta)
    assert out.loss.item() == pytest.approx(paper_dpo(pc, pa, rc, ra, beta), rel=1e-12)
    torch.testing.assert_close(out.rewards_correct, beta * (pc - rc), rtol=1e-15, atol=0)
    torch.testing.assert_close(out.rewards_incorrect, beta * (pa - ra), rtol=1e-15, atol=0)
    torch.testing.assert_close(out.margins, beta * ((pc - rc) - (pa - ra)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 0.5])
def test_dpo_label_smoothing(eps):
    pc, pa, rc, ra = random_seq_logps(11)
    out = dpo_loss(pc, pa, rc, ra, beta=0.3, label_smoothing=eps)
    assert out.loss.item() == pytest.approx(paper_dpo(pc, pa, rc, ra, 0.3, eps), rel=1e-12)
    if eps == 0.5:  # symmetric: the loss no longer depends on the sign of the margin
        swapped = dpo_loss(pa, pc, ra, rc, beta=0.3, label_smoothing=eps)
        torch.testing.assert_close(swapped.loss, out.loss, rtol=1e-13, atol=0)


def test_dpo_gradient_matches_paper():
    pc, pa, rc, ra = random_seq_logps(5)
    pc.requires_grad_()
    pa.requires_grad_()
    beta = 0.2
    out = dpo_loss(pc, pa, rc, ra, beta=beta)
    g_c, g_a = torch.autograd.grad(out.loss, [pc, pa])
    # d/dπ_c of −log σ(z) = −β σ(−z), averaged over pairs.
    sig = torch.sigmoid(-out.margins.detach())
    torch.testing.assert_close(g_c, -beta * sig / 6, rtol=1e-12, atol=0)
    torch.testing.assert_close(g_a, beta * sig / 6, rtol=1e-12, atol=0)


@pytest.mark.parametrize("seed", range(3))
def test_sequence_logps_matches_loop(seed):
    logp, loss_mask, sens = random_side(seed)
    weights = sens.to(F64) * 0.5 + loss_mask
    weights[0, 0] = 0.0
    logp[0, 0] = -torch.inf  # an unscored −inf is ignored
    got = sequence_logps(logp, weights)
    for i in range(logp.shape[0]):
        expected = sum(
            float(weights[i, j]) * float(logp[i, j])
            for j in range(logp.shape[1])
            if weights[i, j] != 0
        )
        assert got[i].item() == pytest.approx(expected, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 3.0])
def test_dpo_sft_is_dpo_plus_lambda_sft(lam):
    pc, pa, rc, ra = random_seq_logps(2, n=5)
    logp, loss_mask, _ = random_side(2)
    out = dpo_sft_loss(pc, pa, rc, ra, logp, loss_mask, beta=0.2, sft_weight=lam)
    dpo = dpo_loss(pc, pa, rc, ra, beta=0.2)
    sft = sft_loss(logp, loss_mask)
    assert torch.equal(out.nll, sft)
    torch.testing.assert_close(out.loss, dpo.loss + lam * sft, rtol=1e-15, atol=0)
    assert torch.equal(out.margins, dpo.margins)


def _fault_inputs(seed):
    g = torch.Generator().manual_seed(seed)
    logp_c, mask_c, sens_c = random_side(seed, pad_row=False)
    logp_a, mask_a, sens_a = random_side(seed + 50, pad_row=False)
    ref_c = logp_c - torch.rand(logp_c.shape, generator=g, dtype=F64)
    ref_a = logp_a + torch.rand(logp_a.shape, generator=g, dtype=F64)
    return logp_c, logp_a, ref_c, ref_a, mask_c, mask_a, sens_c, sens_a


@pytest.mark.parametrize("seed", range(3))
def test_fault_dpo_shared_one_without_sensitive_is_dpo_sft(seed):
    logp_c, logp_a, ref_c, ref_a, mask_c, mask_a, _, _ = _fault_inputs(seed)
    zero_c = torch.zeros_like(mask_c, dtype=torch.long)
    zero_a = torch.zeros_like(mask_a, dtype=torch.long)
    kw = {"beta": 0.15, "sft_weight": 0.7}
    out = fault_dpo_loss(
        logp_c, logp_a, ref_c, ref_a, mask_c, mask_a, zero_c, zero_a, shared_weight=1.0, **kw
    )
    ref = dpo_sft_loss(
        sequence_logps(logp_c, mask_c),
        sequence_logps(logp_a, mask_a),
        sequence_logps(ref_c, mask_c),
        sequence_logps(ref_a, mask_a),
        logp_c,
        mask_c,
        **kw,
    )
    assert torch.equal(out.loss, ref.loss)
    assert torch.equal(out.margins, ref.margins)
    assert torch.equal(out.nll, ref.nll)


def test_fault_dpo_shared_zero_only_sensitive_tokens_move_the_margin():
    logp_c, logp_a, ref_c, ref_a, mask_c, mask_a, sens_c, sens_a = _fault_inputs(4)
    args = (ref_c, ref_a, mask_c, mask_a, sens_c, sens_a)
    base = fault_dpo_loss(logp_c, logp_a, *args, shared_weight=0.0, sft_weight=0.0)
    shared_c = mask_c & (sens_c == 0)
    shared_a = mask_a & (sens_a == 0)
    assert shared_c.any() and shared_a.any()
    moved = fault_dpo_loss(
        torch.where(shared_c, logp_c - 2.0, logp_c),
        torch.where(shared_a, logp_a + 1.5, logp_a),
        *args,
        shared_weight=0.0,
        sft_weight=0.0,
    )
    assert torch.equal(moved.loss, base.loss)
    assert torch.equal(moved.margins, base.margins)
    # A sensitive position does move it, and counts V-fold: margin += β·V·δ.
    i, j = (sens_c == 2).nonzero()[0].tolist()
    bumped_c = logp_c.clone()
    bumped_c[i, j] += 0.4
    bumped = fault_dpo_loss(bumped_c, logp_a, *args, shared_weight=0.0, sft_weight=0.0)
    assert bumped.loss != base.loss
    assert bumped.margins[i].item() == pytest.approx(
        base.margins[i].item() + 0.1 * 2 * 0.4, rel=1e-12
    )
    # The margin is β·Σ V·(logp − ref) over sensitive tokens of each side.
    for row in range(logp_c.shape[0]):
        exp_c = sum(
            float(sens_c[row, t]) * float(logp_c[row, t] - ref_c[row, t])
            for t in range(logp_c.shape[1])
            if mask_c[row, t]
        )
        exp_a = sum(
            float(sens_a[row, t]) * float(logp_a[row, t] - ref_a[row, t])
            for t in range(logp_a.shape[1])
            if mask_a[row, t]
        )
        assert base.margins[row].item() == pytest.approx(0.1 * (exp_c - exp_a), rel=1e-12)
    # The SFT term still reads every response token of the correct side.
    with_sft = fault_dpo_loss(logp_c, logp_a, *args, shared_weight=0.0, sft_weight=1.0)
    torch.testing.assert_close(with_sft.nll, sft_loss(logp_c, mask_c), rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# 9. explicit normalisation: split batches add up to the full batch
# --------------------------------------------------------------------------------------------


def test_split_batches_with_global_counts_add_up():
    logp_c, mask_c, sens_c, logp_a, mask_a, sens_a = fgit_pair(21, n=6, t=10)
    ref_c, ref_a = logp_c - 0.3, logp_a + 0.2
    halves = (slice(0, 3), slice(3, None))
    n_tok = mask_c.sum()
    n_pairs = 6

    def both(fn):
        full = fn(slice(None), None, None)
        split = sum(fn(h, n_tok, n_pairs) for h in halves)
        return full, split

    cases = {
        "sft": lambda r, nt, npr: sft_loss(logp_c[r], mask_c[r], nt),
        "fixed": lambda r, nt, npr: fixed_weight_loss(logp_c[r], mask_c[r], sens_c[r], 3.0, nt),
        "fgit": lambda r, nt, npr: (
            fgit_loss(
                logp_c[r], mask_c[r], sens_c[r], logp_a[r], sens_a[r], alpha=2.0, num_tokens=nt
            ).loss
        ),
        "dpo": lambda r, nt, npr: (
            dpo_loss(
                logp_c[r].sum(-1),
                logp_a[r].sum(-1),
                ref_c[r].sum(-1),
                ref_a[r].sum(-1),
                num_pairs=npr,
            ).loss
        ),
        "dpo_sft": lambda r, nt, npr: (
            dpo_sft_loss(
                logp_c[r].sum(-1),
                logp_a[r].sum(-1),
                ref_c[r].sum(-1),
                ref_a[r].sum(-1),
                logp_c[r],
                mask_c[r],
                num_pairs=npr,
                num_tokens=nt,
            ).loss
        ),
        "fault_dpo": lambda r, nt, npr: (
            fault_dpo_loss(
                logp_c[r],
                logp_a[r],
                ref_c[r],
                ref_a[r],
                mask_c[r],
                mask_a[r],
                sens_c[r],
                sens_a[r],
                num_pairs=npr,
                num_tokens=nt,
            ).loss
        ),
    }
    for name, fn in cases.items():
        full, split = both(fn)
        assert abs(full.item() - split.item()) <= 1e-12 * max(abs(full.item()), 1.0), name
        # And the halves with their *local* counts do not add up (the test can fail).
        local = sum(fn(h, None, None) for h in halves)
        assert abs(full.item() - local.item()) > 1e-6, name


def test_explicit_num_tokens_divides_by_it():
    logp, loss_mask, sens = random_side(8)
    total = -logp[loss_mask].sum()
    torch.testing.assert_close(sft_loss(logp, loss_mask, 17), total / 17, rtol=1e-15, atol=0)
    torch.testing.assert_close(
        sft_loss(logp, loss_mask, torch.tensor(17.0, dtype=F64)), total / 17, rtol=1e-15, atol=0
    )
    # An all-padding micro-batch gives 0, not NaN.
    empty = torch.zeros_like(loss_mask)
    assert sft_loss(logp, empty).item() == 0.0
    assert fgit_loss(logp, empty, sens * 0, logp, sens * 0).loss.item() == 0.0
    pc = torch.tensor([-1.0], dtype=F64)
    out = dpo_loss(pc, pc - 1, pc, pc, beta=1.0, num_pairs=4)
    assert out.loss.item() == pytest.approx(-logsig(1.0) / 4, rel=1e-14)


# --------------------------------------------------------------------------------------------
# 10. chunked log-probs
# --------------------------------------------------------------------------------------------


def _head_batch(seed, n=3, t=8, h=12, v=37):
    torch.manual_seed(seed)
    hidden = torch.randn(n, t, h, requires_grad=True)
    head = nn.Linear(h, v, bias=False)
    labels = torch.randint(0, v, (n, t))
    score_mask = torch.rand(n, t) > 0.35
    score_mask[0, 0] = False
    score_mask[1, 1] = True
    labels[~score_mask] = -100  # unscored labels may be ignore indices
    return hidden, head, labels, score_mask


def _grads_of(out, hidden, head, coeff):
    hidden.grad = None
    head.weight.grad = None
    (out * coeff).sum().backward()
    return hidden.grad.clone(), head.weight.grad.clone()


@pytest.mark.parametrize("softcap", [None, 2.5])
@pytest.mark.parametrize("chunk_size", [1, 2, 7, 1000])
def test_chunked_matches_naive(chunk_size, softcap):
    hidden, head, labels, score_mask = _head_batch(chunk_size)
    coeff = torch.randn(score_mask.shape)
    logits = head(hidden)
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    naive = naive_token_logprobs(logits, labels, score_mask)
    g_naive = _grads_of(naive, hidden, head, coeff)
    chunked = chunked_token_logprobs(
        hidden, head, labels, score_mask, chunk_size=chunk_size, softcap=softcap
    )
    assert chunked.dtype == torch.float32 and chunked.shape == score_mask.shape
    g_chunked = _grads_of(chunked, hidden, head, coeff)
    torch.testing.assert_close(chunked, naive, rtol=0, atol=1e-6)
    assert torch.equal(chunked[~score_mask], torch.zeros(int((~score_mask).sum())))
    assert (chunked[score_mask] < 0).all()
    for a, b in zip(g_chunked, g_naive, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # The softcap really is applied: without it the values differ.
    if softcap is not None:
        plain = naive_token_logprobs(head(hidden), labels, score_mask)
        assert (plain - chunked).abs().max() > 1e-3


def test_chunked_all_false_mask():
    hidden, head, labels, _ = _head_batch(3)
    mask = torch.zeros(labels.shape, dtype=torch.bool)
    for chunk_size in (1, 4):
        out = chunked_token_logprobs(hidden, head, labels, mask, chunk_size=chunk_size)
        assert torch.equal(out, torch.zeros(labels.shape))
        assert torch.equal(out, naive_token_logprobs(head(hidden), labels, mask))


def test_chunked_rejects_chunk_size_below_one():
    hidden, head, labels, mask = _head_batch(0)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="chunk_size"):
            chunked_token_logprobs(hidden, head, labels, mask, chunk_size=bad)


def test_causal_lm_logprobs_matches_model_logits(tiny_llama, bytelevel_tokenizer):
    torch.manual_seed(0)
    n, t = 3, 10
    input_ids = torch.randint(3, len(bytelevel_tokenizer), (n, t))
    attention_mask = torch.ones(n, t, dtype=torch.long)
    attention_mask[2, -3:] = 0
    input_ids[2, -3:] = bytelevel_tokenizer.pad_token_id
    labels = input_ids.clone()
    labels[:, :4] = -100
    labels[attention_mask == 0] = -100
    score_mask = torch.ones(n, t, dtype=torch.bool)
    score_mask[1, 6] = False  # a response position the caller does not score
    module = CausalLMLogProbs(tiny_llama, chunk_size=4)
    with torch.no_grad():
        got = module(input_ids, attention_mask, labels, score_mask)
        logits = tiny_llama(input_ids=input_ids, attention_mask=attention_mask).logits
    assert got.shape == (n, t - 1) and got.dtype == torch.float32
    expected_mask = score_mask[:, 1:] & (labels[:, 1:] != -100)
    ref = naive_token_logprobs(logits[:, :-1], labels[:, 1:], expected_mask)
    ref_by_hand = torch.log_softmax(logits[:, :-1].float(), -1)
    for i in range(n):
        for j in range(t - 1):
            if expected_mask[i, j]:
                want = ref_by_hand[i, j, labels[i, j + 1]].item()
                assert got[i, j].item() == pytest.approx(want, abs=1e-5)
            else:
                assert got[i, j].item() == 0.0
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)
    assert expected_mask.sum() < expected_mask.numel()
    with pytest.raises(ValueError, match="chunk_size"):
        CausalLMLogProbs(tiny_llama, chunk_size=0)(input_ids, attention_mask, labels, score_mask)
