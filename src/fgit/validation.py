"""A validation split of the training problems, and greedy pass@1 on it.

Hyper-parameters (learning rate, LoRA or full fine-tuning) are chosen on problems held out from
training, never on the benchmarks that are reported. The split is by a hash of each problem id
and a seed, so it does not depend on file order, and adding problems never moves one that was
already placed.

Scoring a model on held-out problems: the instruction as the user message of the model's chat
template (the prompt the training used), one greedy answer, the code taken out of it as the
variants stage takes a teacher's (:func:`fgit.variants.extract.extract_code`), then the
problem's prelude, the code and its tests run in the sandbox (:func:`fgit.execution.run_many`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fgit.records import Problem

if TYPE_CHECKING:
    from fgit.backends.protocol import Backend

__all__ = ["ValidationResult", "holdout_ids", "split_problems", "validate"]


def _unit_interval(problem_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x00{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def holdout_ids(ids: Iterable[str], fraction: float, seed: int = 0) -> set[str]:
    """The ids held out for validation: those whose hash with ``seed`` falls below
    ``fraction`` (about ``fraction`` of them; exactly decided per id)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"holdout fraction must be in [0, 1), got {fraction}")
    return {pid for pid in ids if _unit_interval(pid, seed) < fraction}


def split_problems(
    problems: Sequence[Problem], fraction: float, seed: int = 0
) -> tuple[list[Problem], list[Problem]]:
    """(training, validation) problems, in their original order."""
    held = holdout_ids((p.id for p in problems), fraction, seed)
    return [p for p in problems if p.id not in held], [p for p in problems if p.id in held]


@dataclass
class ValidationResult:
    problems: int
    passed: int
    verdicts: dict[str, str] = field(default_factory=dict)  # problem id -> sandbox verdict
    answers: dict[str, str] = field(default_factory=dict)  # problem id -> raw answer
    kinds: Counter[str] = field(default_factory=Counter)  # verdict counts
    skipped: dict[str, str] = field(default_factory=dict)  # problem id -> why not scored

    @property
    def pass_rate(self) -> float:
        return self.passed / self.problems if self.problems else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "passed": self.passed,
            "pass_rate": self.pass_rate,
            "verdict_counts": dict(self.kinds),
            "skipped": self.skipped,
            "verdicts": self.verdicts,
            "answers": self.answers,
        }


def validate(
    backend: Backend,
    problems: Sequence[Problem],
    *,
    max_new_tokens: int = 512,
    workers: int | None = None,
    timeout: float = 10.0,
) -> ValidationResult:
    """Greedy pass@1 of ``backend`` (a :class:`fgit.backends.Backend`) on ``problems``.

    A problem without tests cannot be scored: it is listed in ``skipped`` and not counted.
    An answer with no code counts as a failure (verdict ``no code``), never as a skip.
    """
    from fgit.execution import SandboxLimits, problem_program, run_many
    from fgit.generation import SamplingParams
    from fgit.variants.extract import extract_code

    result = ValidationResult(problems=0, passed=0)
    scored = []
    for problem in problems:
        if problem.tests:
            scored.append(problem)
        else:
            result.skipped[problem.id] = "no tests"
    conversations = [[{"role": "user", "content": p.instruction}] for p in scored]
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    answers = [texts[0] for texts in backend.generate(conversations, params)]
    jobs: list[tuple[Problem, str]] = []
    for problem, answer in zip(scored, answers, strict=True):
        result.answers[problem.id] = answer
        prelude = problem.metadata.get("prelude") or None
        code = extract_code(answer, prelude=prelude).code
        if code and code.strip():
            jobs.append((problem, problem_program(problem, code)))
        else:
            result.verdicts[problem.id] = "no code"
    runs = run_many(
        [program for _, program in jobs],
        limits=SandboxLimits(timeout_s=timeout),
        workers=workers,
    )
    for (problem, _), run in zip(jobs, runs, strict=True):
        result.verdicts[problem.id] = run.verdict.value
    result.problems = len(scored)
    result.kinds = Counter(result.verdicts.values())
    result.passed = result.kinds.get("passed", 0)
    return result
