"""Greedy and sampled decoding that stop computing a row once it has finished.

``model.generate`` keeps every row of a batch in every step until the *last* row ends: a batch
of 32 answers where one runs to 512 tokens costs 32 x 512 row-steps, however short the other 31
are. Evaluation batches are exactly that (most answers end in 100-200 tokens, a few ramble), and
on a CPU the cost of a step grows with the rows in it. Here a finished row (end-of-sequence id or
a stop string in its new text) is dropped from the batch and from the KV cache
(``DynamicCache.batch_select_indices``), so the remaining steps cost only the rows still
writing.

**Greedy** (:func:`greedy_decode`) is ``generate``'s greedy search: the same left-padded
prompts, the same position ids (``cumsum(attention_mask) - 1``), the same argmax. Only the
batch's height changes between steps, which can move a logit in its last bits (BLAS blocks by
height), so an argmax tie broken differently is the one possible difference;
tests/test_decoding.py checks token-for-token equality with ``generate`` in float64, and
benchmarks/evaluation.py measures both on a real model.

**Sampled** (:func:`sample_decode`) draws from ``generate``'s distribution for
``temperature`` and ``top_p`` (its ``TemperatureLogitsWarper`` then ``TopPLogitsWarper``, in
float32; :func:`sampling_probs`), but each row draws from a ``torch.Generator`` of its own,
seeded per row. A row's answer then depends on its prompt and seed only, not on which rows share
its batch or where a killed run stopped, so rows of many prompts can share one batch. (A
batch's height can still move a probability in its last bits; a draw that lands exactly on such
a boundary is the one possible difference.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

# new_tokens of one row -> whether its text now holds a stop string
StopCheck = Callable[[list[int]], bool]
# last-position logits of the rows still writing, and their row numbers -> next token per row
Choose = Callable[["torch.Tensor", list[int]], "torch.Tensor"]


def greedy_decode(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    stopped: StopCheck | None = None,
) -> list[list[int]]:
    """New token ids per row (left-padded ``input_ids``), each ending at its end-of-sequence id
    (kept, as ``generate`` keeps it), at the step whose text completes a stop string, or after
    ``max_new_tokens``."""
    return _decode(
        model,
        input_ids,
        attention_mask,
        max_new_tokens=max_new_tokens,
        eos_ids=eos_ids,
        stopped=stopped,
        choose=lambda logits, rows: logits.argmax(-1),
    )


def sample_decode(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    temperature: float,
    top_p: float,
    seeds: Sequence[int],
    stopped: StopCheck | None = None,
) -> list[list[int]]:
    """As :func:`greedy_decode`, but row r draws each token from :func:`sampling_probs` with a
    generator seeded by ``seeds[r]``."""
    import torch

    if len(seeds) != input_ids.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {input_ids.shape[0]} rows")
    generators = [torch.Generator(device=input_ids.device).manual_seed(s) for s in seeds]

    def choose(logits: torch.Tensor, rows: list[int]) -> torch.Tensor:
        probs = sampling_probs(logits, temperature, top_p)
        drawn = [
            torch.multinomial(probs[i], 1, generator=generators[row]) for i, row in enumerate(rows)
        ]
        return torch.cat(drawn)

    return _decode(
        model,
        input_ids,
        attention_mask,
        max_new_tokens=max_new_tokens,
        eos_ids=eos_ids,
        stopped=stopped,
        choose=choose,
    )


def sampling_probs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Next-token probabilities as ``generate`` samples them: float32 logits / temperature, then
    nucleus filtering (the smallest set of tokens whose probability reaches ``top_p``; the most
    likely token always stays), then softmax."""
    import torch

    scores = logits.float() / temperature
    if top_p < 1.0:
        ascending, order = torch.sort(scores, descending=False)
        cumulative = ascending.softmax(-1).cumsum(-1)
        drop = cumulative <= 1 - top_p
        drop[..., -1:] = False
        scores = scores.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return scores.softmax(-1)


def _decode(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    stopped: StopCheck | None,
    choose: Choose,
) -> list[list[int]]:
    import torch
    from transformers import DynamicCache

    eos = torch.tensor(sorted(set(eos_ids)), dtype=torch.long, device=input_ids.device)
    rows = input_ids.shape[0]
    new_tokens: list[list[int]] = [[] for _ in range(rows)]
    active = list(range(rows))  # batch position -> original row
    mask = attention_mask
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    cache = DynamicCache(config=model.config)
    step_ids, step_positions = input_ids, positions
    for step in range(max_new_tokens):
        logits = model(
            input_ids=step_ids,
            attention_mask=mask,
            position_ids=step_positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1]
        chosen = choose(logits, active)
        ended = torch.isin(chosen, eos).tolist() if eos.numel() else [False] * len(active)
        keep: list[int] = []
        for index, (row, token, done) in enumerate(
            zip(active, chosen.tolist(), ended, strict=True)
        ):
            new_tokens[row].append(token)
            if not done and not (stopped is not None and stopped(new_tokens[row])):
                keep.append(index)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=input_ids.device)
            cache.batch_select_indices(index)
            mask, chosen, positions = mask[index], chosen[index], positions[index]
            active = [active[i] for i in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
        positions = positions[:, -1:] + 1
        step_ids, step_positions = chosen[:, None], positions
    return new_tokens
