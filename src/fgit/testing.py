"""Tiny real models for tests and benchmarks: fast BPE tokenizers trained in seconds on Python
source from the standard library, and a randomly initialised 2-layer Llama.

Two tokenizer styles, because offset mappings differ between them:

* ``bytelevel``: GPT-2/Qwen-style byte-level BPE (a token may carry its leading space).
* ``metaspace``: Llama/Mistral-style BPE over ``▁``-marked words with byte fallback, so
  unseen characters (emoji, CJK) become several byte tokens sharing one character's span.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TokenizerStyle = Literal["bytelevel", "metaspace"]


def stdlib_code_corpus() -> list[str]:
    """A few thousand lines of real Python, always available offline."""
    import argparse
    import difflib
    import heapq
    import json.decoder
    import textwrap

    return [inspect.getsource(m) for m in (argparse, difflib, heapq, json.decoder, textwrap)]


def _train_tokenizer(style: TokenizerStyle, corpus: Iterable[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if style == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    elif style == "metaspace":
        byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Sequence(
            [decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="first")]
        )
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size + 256,
            special_tokens=[*SPECIAL_TOKENS, "<unk>", *byte_tokens],
            show_progress=False,
        )
    else:
        raise ValueError(f"unknown tokenizer style {style!r}")
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


@lru_cache(maxsize=4)
def build_tiny_tokenizer(style: TokenizerStyle = "bytelevel", vocab_size: int = 1024):
    """A fast tokenizer with a ChatML chat template; EOS is ``<|im_end|>`` (end of turn)."""
    from transformers import PreTrainedTokenizerFast

    raw = _train_tokenizer(style, stdlib_code_corpus(), vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>" if style == "metaspace" else None,
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_tiny_llama(tokenizer, *, hidden_size: int = 64, num_layers: int = 2, seed: int = 0):
    """A randomly initialised Llama sized to ``tokenizer`` (float32, CPU)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_tiny_model(folder, style: TokenizerStyle = "bytelevel", **llama_kwargs):
    """Write a tiny Llama and its tokenizer to ``folder`` (a model folder fgit can load)."""
    from pathlib import Path

    folder = Path(folder)
    tokenizer = build_tiny_tokenizer(style)
    build_tiny_llama(tokenizer, **llama_kwargs).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_memorizing_model(folder, texts: Iterable[str], *, steps: int = 150, seed: int = 0):
    """A tiny Llama trained until it has learnt ``texts`` by heart, written to ``folder``.

    Sampled at a temperature it mostly repeats them and now and then slips: a model whose own
    attempts at a few problems pass and fail, for tests of on-policy sampling. Each text is
    followed by the end-of-text token, so generation stops after it."""
    from pathlib import Path

    import torch

    folder = Path(folder)
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_llama(tokenizer, seed=seed)
    rows = [tokenizer(text + tokenizer.eos_token, return_tensors="pt").input_ids for text in texts]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = sum(model(ids, labels=ids).loss for ids in rows) / len(rows)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
