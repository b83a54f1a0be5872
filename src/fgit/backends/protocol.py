"""The generation interface shared by teachers (issue 3) and evaluation (issue 5).

A backend turns chat conversations into sampled completions. Backends: local transformers
(``fgit.backends.transformers_backend``), any OpenAI-compatible HTTP server
(``fgit.backends.openai_backend``), vLLM in-process when installed.

Some backends also continue raw prompt text (:class:`CompletionBackend`): evalplus's prompts
begin the assistant's answer, which a chat API cannot take. A backend declares this in
``supports_completion``; callers ask :func:`can_complete` or :func:`require_completion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard, runtime_checkable

from fgit.errors import FgitError

__all__ = [
    "Backend",
    "CompletionBackend",
    "Conversation",
    "GenerationError",
    "Message",
    "PromptFormatter",
    "SamplingParams",
    "can_complete",
    "require_completion",
    "seeds_for",
]

Message = dict[str, str]  # {"role": "user" | "system" | "assistant", "content": str}
Conversation = list[Message]


class GenerationError(FgitError, RuntimeError):
    """A backend failed in a way the caller should report (one line, what and where)."""


@dataclass(frozen=True)
class SamplingParams:
    """``temperature == 0`` means greedy decoding (then ``n`` must be 1 for local backends).

    ``seeds``: one seed per prompt, in place of ``seed``. A prompt's samples then depend on its
    own seed only, not on the other prompts of the call, so a resumed evaluation draws what an
    uninterrupted one drew (:func:`fgit.evaluation.sampling.task_seed`). Backends check that
    there is one per prompt (:func:`seeds_for`).
    """

    n: int = 1
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    seeds: tuple[int, ...] | None = None


def seeds_for(params: SamplingParams, prompts: int) -> list[int] | None:
    """The seed of each of ``prompts`` prompts from ``params.seeds`` (None when it is unset:
    the call uses ``params.seed``); a GenerationError when the count differs."""
    if params.seeds is None:
        return None
    if len(params.seeds) != prompts:
        raise GenerationError(f"{len(params.seeds)} seeds for {prompts} prompts")
    return list(params.seeds)


@runtime_checkable
class Backend(Protocol):
    """Generates ``params.n`` completions for each conversation, in order."""

    # True: the backend is also a CompletionBackend. Declared rather than probed, so that a
    # backend says what it offers and a missing capability is an error that names it.
    supports_completion: bool

    def generate(
        self, conversations: Sequence[Conversation], params: SamplingParams
    ) -> list[list[str]]: ...

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with results: kind, model, endpoint, versions..."""
        ...


class PromptFormatter(Protocol):
    """Writes conversations as a model's prompt text; a transformers tokenizer is one."""

    chat_template: str | None  # None: no template (a base model), prompts are plain text

    def apply_chat_template(
        self, conversation: Conversation, *, tokenize: bool = ..., **kwargs: Any
    ) -> Any: ...


@runtime_checkable
class CompletionBackend(Backend, Protocol):
    """A backend that also continues prompt text written in the model's own format."""

    @property
    def prompt_formatter(self) -> PromptFormatter:
        """The model's prompt format, to write the prompts :meth:`complete` continues."""
        ...

    def complete(self, prompts: Sequence[str], params: SamplingParams) -> list[list[str]]:
        """``params.n`` continuations of each prompt text, in order."""
        ...

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in the model's tokens (no special tokens added)."""
        ...


def can_complete(backend: Backend) -> TypeGuard[CompletionBackend]:
    """Whether ``backend`` continues raw prompts, as it declares."""
    return backend.supports_completion


def require_completion(backend: Backend, purpose: str) -> CompletionBackend:
    """``backend``, or a one-line GenerationError: ``purpose`` needs raw-prompt completion."""
    if not can_complete(backend):
        kind = backend.describe().get("kind", type(backend).__name__)
        raise GenerationError(
            f"{purpose} needs a local model (hf:NAME_OR_PATH), which continues raw prompts; "
            f"the {kind} backend only takes conversations"
        )
    return backend
