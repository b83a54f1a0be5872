"""The tiny test model and tokenizer behave like real ones on fgit's encodings."""

from __future__ import annotations

import torch

from fgit.segments import IGNORE_INDEX, encode_pair


def test_tokenizers_are_fast_with_chat_template(bytelevel_tokenizer, metaspace_tokenizer):
    for tok in (bytelevel_tokenizer, metaspace_tokenizer):
        assert tok.is_fast and tok.chat_template and tok.eos_token == "<|im_end|>"
        text = "def f(x):\n\treturn x  # 日本 😀"
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_hf_loss_on_encoded_labels_is_cross_entropy_over_response_tokens(
    bytelevel_tokenizer, tiny_llama
):
    enc = encode_pair("Add.", "return a + b", "return a - b", bytelevel_tokenizer).correct
    ids = torch.tensor([enc.input_ids])
    labels = torch.tensor([enc.labels])
    with torch.no_grad():
        out = tiny_llama(input_ids=ids, labels=labels)
    logits = out.logits[0, :-1]
    targets = labels[0, 1:]
    keep = targets != IGNORE_INDEX
    manual = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert keep.sum() == len(enc.input_ids) - enc.prompt_length
    assert torch.allclose(out.loss, manual, atol=1e-6)
