"""The generation interface shared by teachers (issue 3) and evaluation (issue 5).

A backend turns chat conversations into sampled completions. Backends: local transformers
(``fgit.backends.transformers_backend``), any OpenAI-compatible HTTP server
(``fgit.backends.openai_backend``), vLLM in-process when installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Backend", "Conversation", "GenerationError", "Message", "SamplingParams"]

Message = dict[str, str]  # {"role": "user" | "system" | "assistant", "content": str}
Conversation = list[Message]


class GenerationError(RuntimeError):
    """A backend failed in a way the caller should report (one line, what and where)."""


@dataclass(frozen=True)
class SamplingParams:
    """``temperature == 0`` means greedy decoding (then ``n`` must be 1 for local backends)."""

    n: int = 1
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)


@runtime_checkable
class Backend(Protocol):
    """Generates ``params.n`` completions for each conversation, in order."""

    def generate(
        self, conversations: Sequence[Conversation], params: SamplingParams
    ) -> list[list[str]]: ...

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with results: kind, model, endpoint, versions..."""
        ...
