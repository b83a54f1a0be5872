"""Local generation with transformers: batched, left-padded, length-sorted.

Prompts are the tokenizer's chat template with ``add_generation_prompt=True``. A tokenizer
without a chat template gets the message contents joined by blank lines, as plain text (with the
tokenizer's usual special tokens, e.g. BOS), which suits base models.

Each of the ``n`` samples of a prompt is its own row, so ``batch_size`` counts sequences and
``n`` may exceed it. Rows are sorted by prompt length (longest first, so an out-of-memory error
shows up in the first batch) and results are put back in input order.

Sampling uses only ``temperature`` and ``top_p``: the model's own generation defaults (top_k,
repetition penalty, ...) are neutralised so that runs are defined by ``SamplingParams`` alone
and match what an OpenAI-compatible server is asked for. ``temperature == 0`` is greedy.
On the dynamic cache (the default), every sample is a row with a random generator of its own,
seeded by :func:`row_seed` from its prompt's seed (per-prompt ``seeds``, or one derived from
``seed`` and the prompt's place in the call) and its sample number: a prompt's samples then
depend only on it and its seed, not on the other prompts of the call, the batch size or where a
run stopped, and rows of many prompts share a batch (:func:`fgit.backends.decoding.sample_decode`).
With a static cache, or ``drop_finished_rows=False``, sampling is ``generate``'s: ``seed`` seeds
torch once per call (reproducible for the same inputs and batch size), and per-prompt ``seeds``
generate each prompt's ``n`` rows in batches of their own after seeding torch with it.

Generation ends at the model's end-of-sequence/end-of-turn ids; stop strings cut the text
afterwards, and a row whose new text already holds one is finished early. On the dynamic cache,
greedy and sampled runs use :mod:`fgit.backends.decoding`, which also stops *computing* a
finished row.

Left padding is safe: transformers (5.x) derives ``position_ids`` from the attention mask in
``generate`` (cumsum - 1), so a prompt gets the same positions whatever it is padded to (and
RoPE models only see relative positions anyway). In float32, greedy output does not depend on
the batch size (tested); in bfloat16, rounding may differ slightly between batch shapes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fgit.backends.decoding import StopCheck, greedy_decode, sample_decode
from fgit.backends.protocol import Conversation, GenerationError, SamplingParams, seeds_for
from fgit.progress import progress_bar

if TYPE_CHECKING:
    import torch
    from transformers import (
        GenerationConfig,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        StoppingCriteria,
    )

__all__ = ["TransformersBackend", "truncate_at_stop"]


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut before the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        if s and (at := text.find(s)) != -1:
            cut = min(cut, at)
    return text[:cut]


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """End-of-sequence / end-of-turn ids: the generation config's plus the tokenizer's."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    if configured is None:
        ids: list[int] = []
    elif isinstance(configured, int):
        ids = [configured]
    else:
        ids = list(configured)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return list(dict.fromkeys(ids))


def _stop_criterion(
    tokenizer: PreTrainedTokenizerBase, stop: Sequence[str], prompt_width: int
) -> StoppingCriteria:
    """Finishes a row once its *new* text contains a stop string, so a batch ends early.

    Not transformers' ``stop_strings``: that matches across the prompt/completion boundary, so
    ``"\\ndef"`` would fire on a completion starting with ``def`` after a prompt ending in a
    newline. Only a tail window is decoded per step: a stop string of b bytes spans at most
    b tokens (+ margin for tokens that decode to nothing), so the check stays cheap.
    """
    import torch
    from transformers import StoppingCriteria

    window = max(len(s.encode("utf-8")) for s in stop) + 4

    class StopOnNewText(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            start = max(prompt_width, input_ids.shape[1] - window)
            tails = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            hits = [any(s in tail for s in stop) for tail in tails]
            return torch.tensor(hits, dtype=torch.bool, device=input_ids.device)

    return StopOnNewText()


def _stop_check(tokenizer: PreTrainedTokenizerBase, stop: Sequence[str]) -> StopCheck:
    """:func:`_stop_criterion`'s test for one row of :func:`greedy_decode`: a tail window of
    the row's new tokens, decoded."""
    window = max(len(s.encode("utf-8")) for s in stop) + 4

    def stopped(new_tokens: list[int]) -> bool:
        tail = tokenizer.decode(new_tokens[-window:], skip_special_tokens=True)
        return any(s in tail for s in stop)

    return stopped


def row_seed(seed: int, index: int) -> int:
    """The seed of item ``index`` under ``seed``: 63 bits of sha256(f"{seed}\\0{index}")."""
    digest = hashlib.sha256(f"{seed}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _row_seeds(
    params: SamplingParams, seeds: list[int] | None, prompts: int
) -> dict[tuple[int, int], int]:
    """Each sample's generator seed, by (prompt, sample): from the prompt's own seed, or, without
    per-prompt seeds, from ``params.seed`` (random when unset) and the prompt's place."""
    if seeds is None:
        base = params.seed if params.seed is not None else secrets.randbits(63)
        seeds = [row_seed(base, i) for i in range(prompts)]
    return {(i, k): row_seed(seeds[i], k) for i in range(prompts) for k in range(params.n)}


class TransformersBackend:
    """``CompletionBackend`` running a causal LM in this process (GPU when present)."""

    supports_completion = True

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int = 16,
        cache_implementation: str | None = None,
        drop_finished_rows: bool = True,
        quiet: bool = False,
    ) -> None:
        """Load ``model`` (packaged name, local folder or hub id) via ``fgit.models``.

        ``dtype="auto"``: :func:`fgit.precision.choose_dtype` (bfloat16 on a GPU or a CPU with
        native bf16, float32 elsewhere); :meth:`describe` records the choice and its reason.
        ``cache_implementation``: transformers' KV cache kind for ``generate``, None (dynamic)
        or e.g. "static", which lets torch.compile reuse one graph on GPUs; greedy answers are
        the same either way. ``drop_finished_rows``: greedy runs on the dynamic cache drop
        finished rows, and sampled ones give each row a generator of its own
        (:mod:`fgit.backends.decoding`); False runs plain ``generate``, which
        benchmarks/evaluation.py measures it against.
        """
        from fgit.models import load_model_and_tokenizer
        from fgit.precision import choose_dtype

        device = str(device or _default_device())
        if dtype == "auto":
            choice = choose_dtype(device)
            dtype, reason = choice.dtype, choice.reason
        else:
            reason = "asked for"
        lm, tokenizer = load_model_and_tokenizer(model, dtype=dtype, device=device, quiet=quiet)
        self._setup(
            lm,
            tokenizer,
            name=os.fspath(model),
            batch_size=batch_size,
            cache_implementation=cache_implementation,
            drop_finished_rows=drop_finished_rows,
            quiet=quiet,
        )
        self.dtype_reason = reason

    @classmethod
    def from_model(
        cls,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str | None = None,
        batch_size: int = 16,
        cache_implementation: str | None = None,
        drop_finished_rows: bool = True,
        quiet: bool = False,
    ) -> TransformersBackend:
        """Wrap an already loaded model (e.g. right after training) without reloading it.

        The model is put in eval mode; the tokenizer gets left padding (and a pad token).
        Settings as for the constructor.
        """
        backend = cls.__new__(cls)
        backend._setup(
            model.eval(),
            tokenizer,
            name=name or str(getattr(model, "name_or_path", "") or type(model).__name__),
            batch_size=batch_size,
            cache_implementation=cache_implementation,
            drop_finished_rows=drop_finished_rows,
            quiet=quiet,
        )
        return backend

    def _setup(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        batch_size: int,
        cache_implementation: str | None,
        drop_finished_rows: bool,
        quiet: bool,
    ) -> None:
        from fgit.models import ensure_pad_token

        if batch_size < 1:
            raise GenerationError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = ensure_pad_token(tokenizer)
        # Left padding: every prompt then ends at the same column and new tokens follow it.
        self.tokenizer.padding_side = "left"
        self.name = name
        self.batch_size = batch_size
        self.quiet = quiet
        self.eos_ids = _eos_ids(model, self.tokenizer)
        self.dtype_reason = "the loaded model's dtype"
        self.cache_implementation = cache_implementation
        self.drop_finished_rows = drop_finished_rows

    # ----------------------------------------------------------------------- prompts

    def render(self, conversation: Conversation) -> str:
        """The prompt text for one conversation (chat template, or plain text without one)."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False
            )
        return "\n\n".join(message["content"] for message in conversation)

    @property
    def prompt_formatter(self) -> PreTrainedTokenizerBase:
        """The tokenizer: its chat template writes the prompts :meth:`complete` continues."""
        return self.tokenizer

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in this model's tokens (no special tokens added)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, conversations: Sequence[Conversation]) -> list[list[int]]:
        # A chat template writes its own special tokens (BOS included where the model wants it).
        special = not getattr(self.tokenizer, "chat_template", None)
        texts = [self.render(c) for c in conversations]
        return self.tokenizer(texts, add_special_tokens=special)["input_ids"]

    # ----------------------------------------------------------------------- generation

    def _generation_config(self, params: SamplingParams) -> GenerationConfig:
        """Explicit settings for every knob a checkpoint's defaults could otherwise turn on.

        Unset fields are filled from the model's ``generation_config`` by transformers, so the
        ones that change results (repetition penalty, top_k, ...) are set to neutral values;
        sampling-only fields are left out for greedy runs, where transformers ignores them.
        """
        from transformers import GenerationConfig

        settings: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": params.temperature > 0,
            "repetition_penalty": 1.0,
            "no_repeat_ngram_size": 0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "eos_token_id": self.eos_ids or None,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if self.cache_implementation is not None:
            settings["cache_implementation"] = self.cache_implementation
        if params.temperature > 0:
            settings.update(
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=0,
                min_p=0.0,
                typical_p=1.0,
            )
        return GenerationConfig(**settings)

    def _check(self, params: SamplingParams) -> None:
        if params.n < 1:
            raise GenerationError(f"n must be >= 1, got {params.n}")
        if params.temperature < 0:
            raise GenerationError(f"temperature must be >= 0, got {params.temperature}")
        if params.temperature == 0 and params.n > 1:
            raise GenerationError(
                f"greedy decoding (temperature 0) gives one completion, but n={params.n}"
            )
        if params.max_new_tokens < 1:
            raise GenerationError(f"max_new_tokens must be >= 1, got {params.max_new_tokens}")
        if not 0 < params.top_p <= 1:
            raise GenerationError(f"top_p must be in (0, 1], got {params.top_p}")

    def _batch_tensors(self, prompts: list[list[int]]) -> dict[str, torch.Tensor]:
        padded = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt")
        return {k: v.to(self.model.device) for k, v in padded.items()}

    def _decode_new(self, ids: list[int], stop: Sequence[str]) -> str:
        """New tokens up to the first end-of-sequence id, decoded, cut at stop strings."""
        eos = set(self.eos_ids)
        end = next((i for i, t in enumerate(ids) if t in eos), len(ids))
        text = self.tokenizer.decode(ids[:end], skip_special_tokens=True)
        return truncate_at_stop(text, stop)

    @property
    def _own_loop(self) -> bool:
        """Whether batches run :mod:`fgit.backends.decoding` rather than ``generate``."""
        return self.drop_finished_rows and self.cache_implementation is None

    def _run_batch(
        self,
        prompts: list[list[int]],
        config: GenerationConfig,
        stop: Sequence[str],
        seeds: list[int] | None = None,
    ) -> list[str]:
        """One batch; ``seeds``: each row's generator seed (sampled runs on our own loop)."""
        import torch

        inputs = self._batch_tensors(prompts)
        width = inputs["input_ids"].shape[1]
        stop = [s for s in stop if s]  # an empty stop string would end every row at once
        if self._own_loop:
            common = {
                "max_new_tokens": config.max_new_tokens,
                "eos_ids": self.eos_ids,
                "stopped": _stop_check(self.tokenizer, stop) if stop else None,
            }
            with torch.inference_mode():
                if config.do_sample:
                    if seeds is None:
                        raise GenerationError("a sampled batch needs one seed per row")
                    rows = sample_decode(
                        self.model,
                        inputs["input_ids"],
                        inputs["attention_mask"],
                        temperature=config.temperature,
                        top_p=config.top_p,
                        seeds=seeds,
                        **common,
                    )
                else:
                    rows = greedy_decode(
                        self.model, inputs["input_ids"], inputs["attention_mask"], **common
                    )
            return [self._decode_new(row, stop) for row in rows]
        criteria = [_stop_criterion(self.tokenizer, stop, width)] if stop else []
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, generation_config=config, stopping_criteria=criteria
            )
        return [self._decode_new(row[width:].tolist(), stop) for row in out]

    def generate(
        self, conversations: Sequence[Conversation], params: SamplingParams
    ) -> list[list[str]]:
        """``params.n`` completions per conversation, in input order."""
        self._check(params)
        if not conversations:
            return []
        return self._generate_encoded(self._encode(conversations), params)

    def complete(
        self, prompts: Sequence[str], params: SamplingParams, *, add_special_tokens: bool = False
    ) -> list[list[str]]:
        """Continue raw prompt texts (already rendered, e.g. a chat template with the assistant's
        answer begun, as evalplus prompts are); ``params.n`` completions each, in order."""
        self._check(params)
        if not prompts:
            return []
        encoded = self.tokenizer(list(prompts), add_special_tokens=add_special_tokens)["input_ids"]
        return self._generate_encoded(encoded, params)

    def _generate_encoded(
        self, encoded: list[list[int]], params: SamplingParams
    ) -> list[list[str]]:
        import torch

        seeds = seeds_for(params, len(encoded))
        config = self._generation_config(params)
        row_seeds = None
        if config.do_sample and self._own_loop:  # a generator per row: any rows share a batch
            row_seeds = _row_seeds(params, seeds, len(encoded))
            seeds = None
        # One row per sample; longest prompts first to fail fast on memory and pad little.
        if seeds is None:  # one random stream for the whole call
            rows = [(i, k) for i in range(len(encoded)) for k in range(params.n)]
            rows.sort(key=lambda row: -len(encoded[row[0]]))
            streams = [(params.seed, rows)]
        else:  # one stream per prompt: its rows alone, after its own seed
            order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
            streams = [(seeds[i], [(i, k) for k in range(params.n)]) for i in order]
        results: list[list[str]] = [[""] * params.n for _ in encoded]
        with progress_bar(self.quiet) as progress:
            task = progress.add_task("generate", total=len(encoded) * params.n)
            for seed, rows in streams:
                if seed is not None and row_seeds is None:
                    torch.manual_seed(seed)
                for start in range(0, len(rows), self.batch_size):
                    batch = rows[start : start + self.batch_size]
                    texts = self._run_batch(
                        [encoded[i] for i, _ in batch],
                        config,
                        params.stop,
                        [row_seeds[row] for row in batch] if row_seeds is not None else None,
                    )
                    for (i, k), text in zip(batch, texts, strict=True):
                        results[i][k] = text
                    progress.advance(task, len(batch))
        return results

    def describe(self) -> dict[str, Any]:
        """Provenance: backend kind, model, dtype, device and library versions."""
        import torch
        import transformers

        return {
            "kind": "transformers",
            "model": self.name,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "dtype_reason": self.dtype_reason,
            "cache_implementation": self.cache_implementation or "dynamic",
            # how batches decode (fgit.backends.decoding): finished rows leave the batch and
            # sampled rows draw from generators of their own, or transformers' generate keeps
            # every row to the end and samples from torch's global stream
            "decode_loop": "drop-finished" if self._own_loop else "generate",
            "device": str(self.model.device),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }
