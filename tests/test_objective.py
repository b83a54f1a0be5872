"""The objective's forward passes: scoring only what a loss reads (the incorrect side up to its
last sensitive token, the output layer at scored positions) must give exactly the loss and
gradients of the plain computation over full rows."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest
import torch

from fgit.segments.encode import encode_pair
from fgit.training import Objective, losses
from fgit.training.collator import PairCollator, shifted
from fgit.training.logprobs import CausalLMLogProbs
from fgit.training.loss_settings import READ_BY, LossName
from fgit.training.objective import StepCounts, local_counts, micro_batch_loss
from test_collator import make_pairs

LONG_TAIL = "\n".join(f"    y{k} = {k} * x  # unchanged after the fault" for k in range(12))


@pytest.fixture(scope="module")
def batch(bytelevel_tokenizer):
    # Faults near the start of long responses: the incorrect rows can stop early.
    items = []
    for k, pair in enumerate(make_pairs()[:4]):
        correct = pair.response + LONG_TAIL + "\n"
        incorrect = pair.incorrect + LONG_TAIL + "\n"
        encoded = encode_pair(
            pair.instruction, correct, incorrect, bytelevel_tokenizer, max_length=256
        )
        items.append((k, encoded))
    collator = PairCollator(pad_token_id=bytelevel_tokenizer.pad_token_id, sides="both")
    return collator(items)


class Spy(torch.nn.Module):
    """Records the length of every forward."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.lengths: list[tuple[int, int]] = []

    def forward(self, **kwargs):
        self.lengths.append(tuple(kwargs["input_ids"].shape))
        return self.inner(**kwargs)


def _plain(module, batch, objective: Objective, counts: StepCounts) -> torch.Tensor:
    """The same loss from one forward over full rows, every response token scored."""
    logp = module(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        labels=batch.labels,
        score_mask=batch.labels != -100,
    )
    mask, sens = shifted(batch)
    b = batch.num_pairs
    if objective.loss == "fgit":
        return losses.fgit_loss(
            logp[:b], mask[:b], sens[:b], logp[b:], sens[b:],
            alpha=objective.alpha, detach_weights=objective.detach_weights,
            num_tokens=counts.tokens,
        ).loss  # fmt: skip
    ref = batch.reference_logps
    return losses.fault_dpo_loss(
        logp[:b], logp[b:], ref[:b], ref[b:], mask[:b], mask[b:], sens[:b], sens[b:],
        shared_weight=0.0, num_pairs=counts.pairs, num_tokens=counts.tokens,
    ).loss  # fmt: skip


@pytest.mark.parametrize(
    "objective",
    [Objective(loss="fgit"), Objective(loss="fgit", detach_weights=True),
     Objective(loss="fault-dpo", shared_weight=0.0)],
    ids=["fgit", "fgit-detached", "fault-dpo"],
)  # fmt: skip
def test_sparse_scoring_equals_the_plain_computation(tiny_llama, batch, objective):
    module = Spy(CausalLMLogProbs(tiny_llama, chunk_size=16))
    if objective.needs_reference:
        with torch.no_grad():
            ref = (
                module(
                    input_ids=batch.input_ids,
                    attention_mask=batch.attention_mask,
                    labels=batch.labels,
                    score_mask=batch.labels != -100,
                )
                * 0.9
            )  # any values: the reference only has to be the same for both paths
        batch = replace(batch, reference_logps=ref)
    tokens, pairs = local_counts(batch)
    counts = StepCounts(tokens=float(tokens), pairs=float(pairs))

    module.lengths.clear()
    ours, _ = micro_batch_loss(module, batch, objective, counts)
    ours.backward()
    grads = [p.grad.clone() for p in tiny_llama.parameters()]
    tiny_llama.zero_grad(set_to_none=True)
    incorrect_length = module.lengths[-1][1]

    theirs = _plain(module, batch, objective, counts)
    theirs.backward()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    for mine, plain in zip(grads, (p.grad for p in tiny_llama.parameters()), strict=True):
        torch.testing.assert_close(mine, plain, rtol=1e-4, atol=1e-6)
    tiny_llama.zero_grad(set_to_none=True)

    # The incorrect rows stopped at their last sensitive token, well before the end.
    last_sensitive = int((batch.sensitive[batch.num_pairs :] > 0).any(0).nonzero()[-1])
    assert incorrect_length == last_sensitive + 1
    assert incorrect_length < batch.input_ids.shape[1] // 2


# A value other than the default for every setting of READ_BY.
OTHER_VALUES = {
    "alpha": 3.0,
    "detach_weights": True,
    "weight_gradient": "correct",
    "fixed_weight": 1.0,
    "beta": 0.5,
    "label_smoothing": 0.2,
    "sft_weight": 0.5,
    "shared_weight": 1.0,
}


class TokenLogProbs(torch.nn.Module):
    """A stand-in for the model, as cheap as can be: log P of a label depends on the label
    alone, through one trainable weight per token."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(
            torch.randn(vocab_size, generator=torch.Generator().manual_seed(0))
        )

    def forward(self, input_ids, attention_mask, labels, score_mask) -> torch.Tensor:
        return torch.nn.functional.logsigmoid(self.weight[labels[:, 1:].clamp(min=0)])


@pytest.mark.parametrize("loss", get_args(LossName))
def test_read_by_names_exactly_the_settings_each_loss_reads(batch, loss):
    """Changing a setting changes the loss or its gradient exactly when READ_BY says the loss
    reads it (the check that refuses ignored settings relies on the table)."""
    assert set(OTHER_VALUES) == set(READ_BY)
    module = TokenLogProbs(int(batch.input_ids.max()) + 1)
    with torch.no_grad():
        full = module(None, None, batch.labels, None)
    batch = replace(batch, reference_logps=full * 0.9)
    tokens, pairs = local_counts(batch)
    counts = StepCounts(tokens=float(tokens), pairs=float(pairs))

    def loss_and_grad(**settings) -> tuple[torch.Tensor, torch.Tensor]:
        # model_construct skips validation, which would refuse the settings a loss ignores.
        objective = Objective.model_construct(**(Objective().model_dump() | settings))
        value, _ = micro_batch_loss(module, batch, objective, counts)
        (grad,) = torch.autograd.grad(value, [module.weight])
        return value.detach(), grad

    default = loss_and_grad(loss=loss)
    for setting, value in OTHER_VALUES.items():
        other = loss_and_grad(loss=loss, **{setting: value})
        same = all(torch.equal(a, b) for a, b in zip(default, other, strict=True))
        assert same == (loss not in READ_BY[setting]), (loss, setting)
