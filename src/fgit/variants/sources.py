"""Where candidate incorrect responses come from: an LLM teacher or rule-based mutation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fgit.generation import Backend, SamplingParams
from fgit.records import Problem
from fgit.variants.extract import FENCE, extract_code, is_continuation
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

    A completion-style response (a continuation such as a HumanEval function body, which does
    not parse alone; ``metadata["prelude"]`` holds the code it continues) is mutated in context:
    ``prelude + "\n" + response`` is mutated, mutants that touch the prelude are discarded, and
    what follows the untouched prelude (the mutated body) is returned.
    """

    seed: int = 0

    def variants(self, problems: Sequence[Problem], k: int) -> list[list[str]]:
        return [self._mutants(problem, k) for problem in problems]

    def _mutants(self, problem: Problem, k: int) -> list[str]:
        from fgit.variants.mutation import mutate

        response = problem.response
        prelude = problem.metadata.get("prelude")
        if isinstance(prelude, str) and prelude and is_continuation(response, prelude):
            return self._continuation_mutants(prelude, response, k)
        match = FENCE.search(response)
        if match is None:
            return [m.code for m in mutate(response, k, seed=self.seed)]
        code = extract_code(response).code or ""
        start = response.index(code, match.start()) if code in response else match.start("body")
        end = start + len(code)
        return [response[:start] + m.code + response[end:] for m in mutate(code, k, seed=self.seed)]

    def _continuation_mutants(self, prelude: str, body: str, k: int) -> list[str]:
        """Up to ``k`` mutants of ``body`` in the context of ``prelude`` (deterministic).

        ``mutate`` is asked for as many mutants as the whole program has sites, so every valid
        mutant comes back (in its seeded round-robin order) and the first ``k`` that leave the
        prelude untouched are kept: ``k`` whenever the body offers ``k`` valid sites.
        """
        from fgit.variants.mutation import mutate, mutation_sites

        if k <= 0:
            return []
        head = prelude + "\n"
        program = head + body
        wanted = max(k, len(mutation_sites(program)))
        out = []
        for mutant in mutate(program, wanted, seed=self.seed):
            if mutant.code.startswith(head) and mutant.code[len(head) :] != body:
                out.append(mutant.code[len(head) :])
                if len(out) == k:
                    break
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": "mutation", "seed": self.seed}


def load_source(
    spec: str,
    *,
    params: SamplingParams | None = None,
    template: str | None = None,
    seed: int = 0,
    concurrency: int | None = None,
    quiet: bool = False,
) -> VariantSource:
    """``mutation`` or a backend spec (``hf:...``, ``openai:MODEL@URL``, ``vllm:...``, a
    packaged model name or a local folder): see :func:`fgit.backends.load_backend`.
    ``concurrency``: requests in flight for an ``openai:`` server (1 for a server that runs one
    request at a time, such as llama-cpp-python's; else the backend's default). ``quiet``: no
    progress bars while the teacher loads and generates."""
    if spec == "mutation":
        return MutationSource(seed=seed)
    from fgit.backends import load_backend

    options = {"max_concurrency": concurrency} if concurrency else {}
    return TeacherSource(
        backend=load_backend(spec, quiet=quiet, **options),
        params=params or SamplingParams(temperature=0.8, seed=seed),
        template=template or PAPER_TEMPLATE,
    )
