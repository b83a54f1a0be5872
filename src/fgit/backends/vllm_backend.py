"""In-process vLLM generation (GPU only; ``pip install vllm``).

vLLM schedules and batches by itself, so all conversations go in one ``LLM.chat`` call. Sampling
is defined by ``SamplingParams`` alone (top_k, min_p and repetition penalty set to neutral), as
in the transformers backend. Untested in fgit's CI, which has neither vLLM nor a GPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fgit.backends.protocol import Conversation, GenerationError, SamplingParams, seeds_for

__all__ = ["VLLMBackend"]


class VLLMBackend:
    """``Backend`` running vLLM's offline ``LLM`` engine in this process."""

    supports_completion = False  # conversations only, through ``LLM.chat``

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        dtype: str = "auto",
        quiet: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        """``model``: packaged name, local folder or hub id; ``engine_kwargs`` go to ``vllm.LLM``
        (e.g. ``gpu_memory_utilization``, ``max_model_len``, ``tensor_parallel_size``)."""
        try:
            import vllm
        except ImportError:
            from fgit.backends import VLLM_MISSING

            raise GenerationError(VLLM_MISSING) from None
        from fgit.models import resolve

        self.name = os.fspath(model)
        self.quiet = quiet
        self._vllm = vllm
        self.llm = vllm.LLM(model=resolve(model, quiet=quiet), dtype=dtype, **engine_kwargs)

    def generate(
        self, conversations: Sequence[Conversation], params: SamplingParams
    ) -> list[list[str]]:
        """``params.n`` completions per conversation, in input order."""
        if params.n < 1:
            raise GenerationError(f"n must be >= 1, got {params.n}")
        if not conversations:
            return []
        seeds = seeds_for(params, len(conversations))

        def sampling_params(seed: int | None) -> Any:
            return self._vllm.SamplingParams(
                n=params.n,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=-1,
                min_p=0.0,
                repetition_penalty=1.0,
                max_tokens=params.max_new_tokens,
                seed=seed,
                stop=list(params.stop) or None,
            )

        # Per-prompt seeds: LLM.chat takes one SamplingParams per conversation.
        sampling = (
            sampling_params(params.seed)
            if seeds is None
            else [sampling_params(seed) for seed in seeds]
        )
        outputs = self.llm.chat(
            [list(c) for c in conversations], sampling_params=sampling, use_tqdm=not self.quiet
        )
        # vLLM returns outputs in prompt order; samples within one are ordered by index.
        return [[o.text for o in sorted(out.outputs, key=lambda o: o.index)] for out in outputs]

    def describe(self) -> dict[str, Any]:
        """Provenance: backend kind, model and vLLM version."""
        return {"kind": "vllm", "model": self.name, "vllm": self._vllm.__version__}
