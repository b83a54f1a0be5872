"""Where candidate incorrect responses come from: an LLM teacher or rule-based mutation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fgit.generation import Backend, SamplingParams
from fgit.records import Problem
from fgit.variants.extract import FENCE, extract_code
from fgit.variants.prompt import PAPER_TEMPLATE, teacher_conversation


class VariantSource(Protocol):
    """Makes up to ``k`` candidate texts per problem (raw text, before extraction)."""

    def variants(self, problems: Sequence[Problem], k: int) -> list[list[str]]: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class TeacherSource:
    """An LLM teacher: the paper's prompt (or ``template``), ``k`` samples per problem."""

    backend: Backend
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.8))
    template: str = PAPER_TEMPLATE

    def variants(self, problems: Sequence[Problem], k: int) -> list[list[str]]:
        conversations = [
            teacher_conversation(p.instruction, p.response, self.template) for p in problems
        ]
        params = SamplingParams(
            n=k,
            temperature=self.params.temperature,
            top_p=self.params.top_p,
            max_new_tokens=self.params.max_new_tokens,
            seed=self.params.seed,
            stop=self.params.stop,
        )
        return self.backend.generate(conversations, params)

    def describe(self) -> dict[str, Any]:
        custom = self.template != PAPER_TEMPLATE
        return {
            "kind": "teacher",
            "backend": self.backend.describe(),
            "temperature": self.params.temperature,
            "top_p": self.params.top_p,
            "max_new_tokens": self.params.max_new_tokens,
            "seed": self.params.seed,
            "template": self.template if custom else "paper (FGIT Fig. 3)",
        }


@dataclass
class MutationSource:
    """Rule-based mutants of the correct code (the paper's mutation baseline).

    For a markdown response, its first Python code block is mutated and spliced back, so the
    candidate keeps the response's prose and form.
    """

    seed: int = 0

    def variants(self, problems: Sequence[Problem], k: int) -> list[list[str]]:
        return [self._mutants(problem, k) for problem in problems]

    def _mutants(self, problem: Problem, k: int) -> list[str]:
        from fgit.variants.mutation import mutate

        response = problem.response
        match = FENCE.search(response)
        if match is None:
            return [m.code for m in mutate(response, k, seed=self.seed)]
        code = extract_code(response).code or ""
        start = response.index(code, match.start()) if code in response else match.start("body")
        end = start + len(code)
        return [response[:start] + m.code + response[end:] for m in mutate(code, k, seed=self.seed)]

    def describe(self) -> dict[str, Any]:
        return {"kind": "mutation", "seed": self.seed}


def load_source(
    spec: str, *, params: SamplingParams | None = None, template: str | None = None, seed: int = 0
) -> VariantSource:
    """``mutation`` or a backend spec (``hf:...``, ``openai:MODEL@URL``, ``vllm:...``, a
    packaged model name or a local folder): see :func:`fgit.backends.load_backend`."""
    if spec == "mutation":
        return MutationSource(seed=seed)
    from fgit.backends import load_backend

    return TeacherSource(
        backend=load_backend(spec),
        params=params or SamplingParams(temperature=0.8, seed=seed),
        template=template or PAPER_TEMPLATE,
    )
