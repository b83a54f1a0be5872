"""decoding: greedy token-for-token as ``generate``, sampling from its distribution, minus finished
rows; each sampled row from its own generator."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from fgit.backends.decoding import greedy_decode, sample_decode, sampling_probs  # noqa: E402
from fgit.backends.transformers_backend import _stop_check, _stop_criterion  # noqa: E402

PROMPTS = ["def add(a, b):", "x", "# sort a list of numbers in place\n", "return 1 +", "class A:"]
NEW = 24


@pytest.fixture(scope="module")
def model64(bytelevel_tokenizer):
    """float64, so that a batch's changing height cannot move an argmax (see decoding.py)."""
    from fgit.testing import build_tiny_llama

    return build_tiny_llama(bytelevel_tokenizer, seed=3).double().eval()


@pytest.fixture(scope="module")
def batch(bytelevel_tokenizer):
    bytelevel_tokenizer.padding_side = "left"
    ids = bytelevel_tokenizer(PROMPTS, add_special_tokens=False)["input_ids"]
    return bytelevel_tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")


def _generate(model, batch, tokenizer, *, eos: list[int], criteria=()) -> list[list[int]]:
    """``generate``'s new tokens per row, cut after the first end id (the rest is padding)."""
    width = batch["input_ids"].shape[1]
    with torch.inference_mode():
        out = model.generate(
            **batch,
            do_sample=False,
            max_new_tokens=NEW,
            eos_token_id=eos or None,
            pad_token_id=tokenizer.pad_token_id,
            stopping_criteria=list(criteria),
        )
    rows = []
    for row in out[:, width:].tolist():
        end = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
        rows.append(row[:end])
    return rows


def _ending_token(rows: list[list[int]]) -> int:
    """A token that some rows write early and others never: rows then end at different steps."""
    for token in (t for row in rows for t in row[2:]):
        firsts = {row.index(token) if token in row else None for row in rows}
        if None in firsts and len(firsts) > 2:
            return token
    pytest.fail("no token ends the rows at different steps; change the model's seed")


def _heights(model, run) -> list[int]:
    heights: list[int] = []
    hook = model.model.register_forward_pre_hook(
        lambda module, args, kwargs: heights.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True,
    )
    try:
        run()
    finally:
        hook.remove()
    return heights


def test_same_tokens_as_generate_and_finished_rows_leave_the_batch(
    model64, batch, bytelevel_tokenizer
):
    free = _generate(model64, batch, bytelevel_tokenizer, eos=[])
    eos = _ending_token(free)
    expected = _generate(model64, batch, bytelevel_tokenizer, eos=[eos])
    assert len({len(row) for row in expected}) > 2  # the rows end at different steps

    got: list[list[int]] = []

    def run() -> None:
        with torch.inference_mode():
            got.extend(
                greedy_decode(
                    model64, batch["input_ids"], batch["attention_mask"],
                    max_new_tokens=NEW, eos_ids=[eos],
                )
            )  # fmt: skip

    heights = _heights(model64, run)
    assert got == expected
    # one forward per step, never more rows than still writing, fewer at the end
    assert heights[0] == len(PROMPTS)
    assert heights == sorted(heights, reverse=True)
    assert heights[-1] == sum(len(row) == NEW for row in expected) or heights[-1] < len(PROMPTS)
    for step, height in enumerate(heights):
        assert height == sum(len(row) > step for row in expected)


def test_stop_strings_end_a_row_like_the_generate_criterion(model64, batch, bytelevel_tokenizer):
    tokenizer = bytelevel_tokenizer
    free = _generate(model64, batch, tokenizer, eos=[])
    # a two-character piece of one row's text: that row must stop there, the others may too
    text = tokenizer.decode(free[1][3:])
    stop = [text[:2]] if text[:2].strip() else [text[2:4]]
    width = batch["input_ids"].shape[1]
    # generate pads a stopped row only when it has an end id: one that no row writes
    unused = next(t for t in range(len(tokenizer)) if all(t not in row for row in free))
    expected = _generate(
        model64, batch, tokenizer, eos=[unused],
        criteria=[_stop_criterion(tokenizer, stop, width)],
    )  # fmt: skip
    with torch.inference_mode():
        got = greedy_decode(
            model64, batch["input_ids"], batch["attention_mask"],
            max_new_tokens=NEW, eos_ids=[unused], stopped=_stop_check(tokenizer, stop),
        )  # fmt: skip
    assert len(got[1]) < NEW
    assert got == [row[: len(mine)] for row, mine in zip(expected, got, strict=True)]
    # where a row stopped, generate wrote only padding after it: it stopped at the same step
    pad = tokenizer.pad_token_id
    for row, mine in zip(expected, got, strict=True):
        assert set(row[len(mine) :]) <= {pad}
        if len(mine) < NEW:
            assert any(s in tokenizer.decode(mine) for s in stop)


def test_one_new_token(model64, batch):
    with torch.inference_mode():
        got = greedy_decode(
            model64, batch["input_ids"], batch["attention_mask"], max_new_tokens=1, eos_ids=[]
        )
    assert [len(row) for row in got] == [1] * len(PROMPTS)


# --- sampling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.8, 1.0), (0.7, 0.9), (1.3, 0.5)])
def test_sampling_probs_are_generates_warpers(temperature, top_p):
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 3
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    expected = warpers(None, logits.clone()).softmax(-1)
    got = sampling_probs(logits, temperature, top_p)
    assert torch.allclose(got, expected, atol=1e-7)
    if top_p < 1.0:  # the nucleus: a kept token's mass reaches top_p, the least likely are gone
        assert (got == 0).any() and (got.sum(-1) - 1).abs().max() < 1e-6


def test_nucleus_keeps_the_most_likely_token_even_when_it_alone_passes_top_p():
    logits = torch.tensor([[10.0, 0.0, 0.0, -1.0]])
    assert sampling_probs(logits, 1.0, 0.1).tolist() == [[1.0, 0.0, 0.0, 0.0]]


def _sample(model, batch, rows, seeds, **kwargs):
    with torch.inference_mode():
        return sample_decode(
            model, batch["input_ids"][rows], batch["attention_mask"][rows],
            max_new_tokens=kwargs.pop("max_new_tokens", NEW), eos_ids=kwargs.pop("eos_ids", []),
            temperature=1.0, top_p=0.95, seeds=seeds, **kwargs,
        )  # fmt: skip


def test_a_sampled_row_depends_on_its_seed_not_on_its_batch(model64, batch):
    everyone = list(range(len(PROMPTS)))
    seeds = [101, 102, 103, 104, 105]
    together = _sample(model64, batch, everyone, seeds)
    alone = [_sample(model64, batch, [r], [seeds[r]])[0] for r in everyone]
    assert together == alone
    reordered = _sample(model64, batch, everyone[::-1], seeds[::-1])
    assert reordered == together[::-1]
    # the same prompt twice with two seeds: two different samples; a seed replays its sample
    twice = _sample(model64, batch, [0, 0], [1, 2])
    assert twice[0] != twice[1]
    assert _sample(model64, batch, [0], [2]) == [twice[1]]
    with pytest.raises(ValueError, match="2 seeds for 1 rows"):
        _sample(model64, batch, [0], [1, 2])


def test_sampled_rows_leave_the_batch_when_they_end(model64, batch):
    everyone = list(range(len(PROMPTS)))
    seeds = [7, 8, 9, 10, 11]
    free = _sample(model64, batch, everyone, seeds)
    eos = _ending_token(free)
    got: list[list[int]] = []
    heights = _heights(
        model64, lambda: got.extend(_sample(model64, batch, everyone, seeds, eos_ids=[eos]))
    )
    assert len({len(row) for row in got}) > 1
    # a row ends at its first eos: before it, it wrote what it writes with no end id at all
    for row, full in zip(got, free, strict=True):
        assert row == full[: len(row)]
        assert row[-1] == eos or len(row) == NEW
    for step, height in enumerate(heights):
        assert height == sum(len(row) > step for row in got)


def test_sampling_draws_from_the_distribution(model64, batch):
    # many seeds, one prompt, one token: the first token's frequencies follow sampling_probs
    seeds = list(range(2000))
    rows = [2] * len(seeds)
    assert batch["attention_mask"][2].all()  # unpadded: a plain forward sees its positions
    first = [row[0] for row in _sample(model64, batch, rows, seeds, max_new_tokens=1)]
    with torch.inference_mode():
        logits = model64(
            input_ids=batch["input_ids"][[2]], attention_mask=batch["attention_mask"][[2]]
        ).logits[0, -1]
    probs = sampling_probs(logits, 1.0, 0.95)
    top = probs.argsort(descending=True)[:3].tolist()
    for token in top:
        share = first.count(token) / len(first)
        sd = (probs[token].item() * (1 - probs[token].item()) / len(first)) ** 0.5
        assert abs(share - probs[token].item()) < 5 * sd + 1e-3, (token, share, probs[token])
    assert set(first) <= set(torch.nonzero(probs).flatten().tolist())
