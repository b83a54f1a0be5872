"""The paired collator, the step plan and the objective's wiring (fast; no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fgit.records import Pair
from fgit.segments.encode import IGNORE_INDEX, EncodedPair, EncodedSide, encode_pair
from fgit.training import Objective
from fgit.training.collator import PairCollator, shifted
from fgit.training.schedule import StepPlan

# (name, correct body, incorrect body): a small edit apart, like a mutation pair.
FUNCTIONS = [
    ("less", "def less(x, y):\n    return x < y\n", "def less(x, y):\n    return x <= y\n"),
    ("inc", "def inc(n):\n    return n + 1\n", "def inc(n):\n    return n + 2\n"),
    ("last", "def last(items):\n    return items[-1]\n", "def last(items):\n    return items[0]\n"),
    (
        "count",
        "def count(n):\n    return len(range(n + 1))\n",
        "def count(n):\n    return len(range(n))\n",
    ),
    (
        "is_even",
        "def is_even(n):\n    return n % 2 == 0\n",
        "def is_even(n):\n    return n % 2 == 1\n",
    ),
    (
        "biggest",
        "def biggest(a, b):\n    return a if a > b else b\n",
        "def biggest(a, b):\n    return a if a < b else b\n",
    ),
    (
        "total",
        "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
        "def total(xs):\n    s = 1\n    for x in xs:\n        s += x\n    return s\n",
    ),
    ("square", "def square(x):\n    return x * x\n", "def square(x):\n    return x + x\n"),
    ("first", "def first(s):\n    return s[0]\n", "def first(s):\n    return s[1]\n"),
    ("halve", "def halve(n):\n    return n // 2\n", "def halve(n):\n    return n / 2\n"),
    (
        "clamp",
        "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
        "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n",
    ),
    (
        "absolute",
        "def absolute(x):\n    return -x if x < 0 else x\n",
        "def absolute(x):\n    return -x if x <= 0 else x\n",
    ),
]


def make_pairs() -> list[Pair]:
    return [
        Pair(
            id=f"p{k:02d}",
            instruction=f"Write a Python function `{name}`.",
            response=correct,
            incorrect=incorrect,
        )
        for k, (name, correct, incorrect) in enumerate(FUNCTIONS)
    ]


@pytest.fixture(scope="module")
def encoded(bytelevel_tokenizer) -> list[EncodedPair]:
    return [
        encode_pair(p.instruction, p.response, p.incorrect, bytelevel_tokenizer, max_length=128)
        for p in make_pairs()
    ]


@pytest.fixture(scope="module")
def pad_id(bytelevel_tokenizer) -> int:
    return bytelevel_tokenizer.pad_token_id


def _items(encoded: list[EncodedPair], indices: list[int]) -> list[tuple[int, EncodedPair]]:
    return [(i, encoded[i]) for i in indices]


def _mask(side: EncodedSide, granularity: str) -> list[int]:
    return {"line": side.line_mask, "token": side.token_mask, "hybrid": side.hybrid_mask}[
        granularity
    ]


def _response_tokens(side: EncodedSide) -> int:
    return sum(1 for label in side.labels[1:] if label != IGNORE_INDEX)


# --------------------------------------------------------------------------------- the data


def test_tiny_pairs_have_sensitive_tokens_on_both_sides(encoded):
    assert len(encoded) == 12
    for pair in encoded:
        for side in (pair.correct, pair.incorrect):
            assert side.num_sensitive > 0
            assert any(side.token_mask) and any(side.line_mask)
            assert not side.truncated
        assert pair.correct.input_ids != pair.incorrect.input_ids


# ------------------------------------------------------------------------------ the collator


@pytest.mark.parametrize("granularity", ["line", "token", "hybrid"])
def test_both_sides_rows_and_padding(encoded, pad_id, granularity):
    indices = [3, 0, 6]  # different lengths, so some rows are padded
    collator = PairCollator(pad_token_id=pad_id, granularity=granularity, sides="both")
    batch = collator(_items(encoded, indices))
    b = len(indices)
    assert batch.num_pairs == b and batch.has_incorrect
    assert batch.indices == tuple(indices)
    assert batch.input_ids.shape == batch.labels.shape == batch.sensitive.shape
    assert batch.input_ids.shape[0] == 2 * b
    assert batch.sensitive.dtype == torch.int8
    sides = [encoded[i].correct for i in indices] + [encoded[i].incorrect for i in indices]
    length = max(len(side.input_ids) for side in sides)
    assert batch.input_ids.shape[1] == length
    assert len({len(side.input_ids) for side in sides}) > 1, "the test needs padding"
    for r, side in enumerate(sides):
        k = len(side.input_ids)
        pad = length - k
        assert batch.input_ids[r].tolist() == side.input_ids + [pad_id] * pad
        assert batch.labels[r].tolist() == side.labels + [IGNORE_INDEX] * pad
        assert batch.attention_mask[r].tolist() == [1] * k + [0] * pad
        assert batch.sensitive[r].tolist() == _mask(side, granularity) + [0] * pad
    # the row order is: every correct side, then every incorrect side of the same pairs
    for k, i in enumerate(indices):
        assert batch.input_ids[k, : len(encoded[i].correct.input_ids)].tolist() == (
            encoded[i].correct.input_ids
        )
        assert batch.input_ids[b + k, : len(encoded[i].incorrect.input_ids)].tolist() == (
            encoded[i].incorrect.input_ids
        )


def test_granularities_pick_different_masks(encoded, pad_id):
    items = _items(encoded, list(range(12)))
    masks = {
        g: PairCollator(pad_token_id=pad_id, granularity=g)(items).sensitive
        for g in ("line", "token", "hybrid")
    }
    assert torch.equal(masks["hybrid"], (masks["line"] + masks["token"]).to(masks["hybrid"].dtype))
    assert not torch.equal(masks["line"], masks["token"])
    assert int(masks["hybrid"].max()) == 2
    assert set(masks["line"].unique().tolist()) == {0, 1}


def test_correct_side_only(encoded, pad_id):
    indices = [5, 1]
    batch = PairCollator(pad_token_id=pad_id, sides="correct")(_items(encoded, indices))
    assert batch.input_ids.shape[0] == 2 and batch.num_pairs == 2
    assert not batch.has_incorrect
    sides = [encoded[i].correct for i in indices]
    assert batch.input_ids.shape[1] == max(len(s.input_ids) for s in sides)
    for r, side in enumerate(sides):
        assert batch.input_ids[r, : len(side.input_ids)].tolist() == side.input_ids
        assert batch.labels[r, : len(side.labels)].tolist() == side.labels


@pytest.mark.parametrize("multiple", [8, 64])
def test_pad_to_multiple_of(encoded, pad_id, multiple):
    items = _items(encoded, [0, 1])
    plain = PairCollator(pad_token_id=pad_id)(items)
    padded = PairCollator(pad_token_id=pad_id, pad_to_multiple_of=multiple)(items)
    t = plain.input_ids.shape[1]
    assert padded.input_ids.shape[1] == -(-t // multiple) * multiple
    assert padded.input_ids.shape[1] % multiple == 0
    assert torch.equal(padded.input_ids[:, :t], plain.input_ids)
    assert (padded.input_ids[:, t:] == pad_id).all()
    assert (padded.labels[:, t:] == IGNORE_INDEX).all()
    assert (padded.attention_mask[:, t:] == 0).all()
    assert (padded.sensitive[:, t:] == 0).all()


def test_empty_batch_raises(pad_id):
    with pytest.raises(ValueError, match="empty"):
        PairCollator(pad_token_id=pad_id)([])


def test_shifted_masks(encoded, pad_id):
    batch = PairCollator(pad_token_id=pad_id)(_items(encoded, [2, 7, 9]))
    loss_mask, sensitive = shifted(batch)
    assert loss_mask.dtype == torch.bool
    assert torch.equal(loss_mask, batch.labels[:, 1:] != IGNORE_INDEX)
    assert torch.equal(sensitive, batch.sensitive[:, 1:])
    # sensitive tokens are response tokens
    assert not ((sensitive > 0) & ~loss_mask).any()
    assert (sensitive[loss_mask] > 0).any()


def test_batch_to_keeps_everything(encoded, pad_id):
    batch = PairCollator(pad_token_id=pad_id)(_items(encoded, [0, 1]))
    moved = batch.to("cpu")
    assert torch.equal(moved.input_ids, batch.input_ids)
    assert moved.indices == batch.indices and moved.reference_logps is None


# ----------------------------------------------------------------------- reference scattering


def _fake_reference(encoded: list[EncodedPair]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Distinct, recognisable values: pair i, side s, token j -> -(1000 i + 100 s + j + 1)."""
    out = {}
    for i, pair in enumerate(encoded):
        sides = []
        for s, side in enumerate((pair.correct, pair.incorrect)):
            n = _response_tokens(side)
            sides.append(-(1000.0 * i + 100.0 * s + np.arange(n, dtype=np.float64) + 1))
        out[i] = (sides[0], sides[1])
    return out


@pytest.mark.parametrize("sides", ["both", "correct"])
def test_reference_values_scattered_at_response_positions(encoded, pad_id, sides):
    reference = _fake_reference(encoded)
    indices = [4, 11, 0]
    collator = PairCollator(pad_token_id=pad_id, sides=sides, reference=reference)
    batch = collator(_items(encoded, indices))
    ref = batch.reference_logps
    assert ref is not None and ref.dtype == torch.float32
    loss_mask, _ = shifted(batch)
    assert ref.shape == loss_mask.shape == (batch.input_ids.shape[0], batch.input_ids.shape[1] - 1)
    expected_rows = [reference[i][0] for i in indices]
    if sides == "both":
        expected_rows += [reference[i][1] for i in indices]
    assert len(expected_rows) == ref.shape[0]
    for r, values in enumerate(expected_rows):
        row_mask = loss_mask[r]
        np.testing.assert_array_equal(ref[r][row_mask].numpy(), values.astype(np.float32))
        assert (ref[r][~row_mask] == 0).all()


def test_reference_of_wrong_length_raises(encoded, pad_id):
    reference = _fake_reference(encoded)
    correct, incorrect = reference[3]
    reference[3] = (correct, incorrect[:-1])  # one token short on the incorrect side
    collator = PairCollator(pad_token_id=pad_id, reference=reference)
    collator(_items(encoded, [0, 1]))  # other pairs are fine
    with pytest.raises(ValueError, match="reference cache") as info:
        collator(_items(encoded, [0, 3]))
    assert "pair 3" in str(info.value)


# ------------------------------------------------------------------------------- step plan


def _plan(**kw) -> StepPlan:
    base = dict(
        num_pairs=12, per_device_batch_size=2, gradient_accumulation_steps=1, world_size=1, seed=0
    )
    return StepPlan(**(base | kw))


def _pairs_of_step(plan: StepPlan, step: int) -> list[int]:
    return [
        i for rank in range(plan.world_size) for mb in plan.micro_batches(step, rank) for i in mb
    ]


@pytest.mark.parametrize(
    ("num_pairs", "batch", "accum", "world"),
    [(12, 2, 1, 1), (12, 2, 2, 2), (10, 2, 1, 2), (9, 2, 2, 2), (7, 3, 1, 4), (5, 4, 2, 2)],
)
def test_every_pair_once_per_epoch(num_pairs, batch, accum, world):
    plan = _plan(
        num_pairs=num_pairs,
        per_device_batch_size=batch,
        gradient_accumulation_steps=accum,
        world_size=world,
        epochs=2,
    )
    assert plan.total_steps == 2 * plan.steps_per_epoch
    for epoch in range(2):
        seen = []
        for step in range(epoch * plan.steps_per_epoch, (epoch + 1) * plan.steps_per_epoch):
            pairs = _pairs_of_step(plan, step)
            assert pairs == plan.global_batch(step)  # ranks' shares, in order, make the batch
            assert len(pairs) <= plan.global_batch_size
            for rank in range(world):
                micro = plan.micro_batches(step, rank)
                assert len(micro) <= accum
                assert all(1 <= len(mb) <= batch for mb in micro)
            seen += pairs
        assert sorted(seen) == list(range(num_pairs))


@pytest.mark.parametrize("num_pairs", [12, 10, 9])
def test_two_processes_see_what_one_process_accumulates(num_pairs):
    one = _plan(num_pairs=num_pairs, gradient_accumulation_steps=2, world_size=1, max_steps=7)
    two = _plan(num_pairs=num_pairs, gradient_accumulation_steps=1, world_size=2, max_steps=7)
    assert one.global_batch_size == two.global_batch_size == 4
    assert one.steps_per_epoch == two.steps_per_epoch
    for step in range(7):
        assert one.global_batch(step) == two.global_batch(step)
        single = one.micro_batches(step, 0)
        union = [mb for rank in range(2) for mb in two.micro_batches(step, rank)]
        assert [i for mb in union for i in mb] == [i for mb in single for i in mb]
        if len(one.global_batch(step)) == one.global_batch_size:  # full batches: same cuts
            assert union == single


def test_short_last_batch_is_used():
    plan = _plan(num_pairs=10, per_device_batch_size=4)
    assert plan.steps_per_epoch == 3 and plan.total_steps == 3
    sizes = [len(plan.global_batch(step)) for step in range(3)]
    assert sizes == [4, 4, 2]
    assert plan.micro_batches(2, 0) == [plan.global_batch(2)]
    # with two processes and one pair left, the second process gets nothing that step
    tiny = _plan(num_pairs=5, per_device_batch_size=2, world_size=2)
    assert len(tiny.global_batch(1)) == 1
    assert tiny.micro_batches(1, 0) == [tiny.global_batch(1)]
    assert tiny.micro_batches(1, 1) == []


def test_max_steps_overrides_epochs():
    assert _plan(epochs=1, max_steps=10).total_steps == 10
    assert _plan(epochs=3, max_steps=2).total_steps == 2
    assert _plan(epochs=1).total_steps == 6
    assert _plan(epochs=0.5).total_steps == 3
    assert _plan(epochs=0.01).total_steps == 1
    plan = _plan(max_steps=9)  # past the first epoch: steps of the second epoch's order
    two_epochs = _plan(epochs=2)
    assert [plan.global_batch(s) for s in range(9)] == [
        two_epochs.global_batch(s) for s in range(9)
    ]
    assert len({i for s in range(6, 9) for i in plan.global_batch(s)}) == 6
    assert plan.epoch_of(6) == 1.0


def test_epochs_use_different_orders():
    plan = _plan(epochs=2)
    first = [i for s in range(6) for i in plan.global_batch(s)]
    second = [i for s in range(6, 12) for i in plan.global_batch(s)]
    assert sorted(first) == sorted(second) == list(range(12))
    assert first != second


def test_seeded_orders():
    def order(seed):
        plan = _plan(seed=seed)
        return [i for s in range(plan.total_steps) for i in plan.global_batch(s)]

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == list(range(12))
    assert order(3) != list(range(12))  # actually shuffled


def test_no_pairs_raises():
    with pytest.raises(ValueError, match="no pairs"):
        _plan(num_pairs=0)


# ------------------------------------------------------------------------------- objective


@pytest.mark.parametrize(
    ("loss", "sides", "needs_reference"),
    [
        ("sft", "correct", False),
        ("fixed", "correct", False),
        ("fgit", "both", False),
        ("dpo", "both", True),
        ("dpo+sft", "both", True),
        ("fault-dpo", "both", True),
    ],
)
def test_objective_sides_and_reference(loss, sides, needs_reference):
    objective = Objective(loss=loss)
    assert objective.sides == sides
    assert objective.needs_reference is needs_reference


@pytest.mark.parametrize(
    ("num_pairs", "batch", "accum", "epochs", "max_steps"),
    [(78, 2, 2, 1.0, 5), (12, 2, 1, 2.0, None), (10, 4, 1, 1.0, None), (10, 4, 1, 1.0, 4),
     (9, 2, 2, 0.5, None), (5, 4, 1, 1.0, 7)],
)  # fmt: skip
def test_pairs_seen_are_what_the_steps_train_on(num_pairs, batch, accum, epochs, max_steps):
    plan = _plan(
        num_pairs=num_pairs, per_device_batch_size=batch, gradient_accumulation_steps=accum,
        epochs=epochs, max_steps=max_steps,
    )  # fmt: skip
    batches = [plan.global_batch(step) for step in range(plan.total_steps)]
    assert plan.pairs_seen == sum(len(b) for b in batches)
    assert plan.distinct_pairs_seen == len({i for b in batches for i in b})
    if (num_pairs, max_steps) == (78, 5):  # issue 14: 78 pairs in the data, 5 steps of 4
        assert (plan.pairs_seen, plan.distinct_pairs_seen) == (20, 20)
