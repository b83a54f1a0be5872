"""A validation split of the training problems, and greedy pass@1 on it.

Hyper-parameters (learning rate, LoRA or full fine-tuning) are chosen on problems held out from
training, never on the benchmarks that are reported. The split is by a hash of each problem id
and a seed, so it does not depend on file order, and adding problems never moves one that was
already placed.

Scoring a model on held-out problems: the instruction as the user message of the model's chat
template (the prompt the training used), one greedy answer, the code taken out of it as the
variants stage takes a teacher's (:func:`fgit.variants.extract.extract_code`), then the
problem's prelude, the code and its tests run in the sandbox by evaluation's scoring of a
problems file (:mod:`fgit.evaluation.problems`), the same as ``fgit evaluate --benchmark
problems:FILE`` on the held-out problems (:func:`write_holdout` writes them).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fgit.records import Problem

if TYPE_CHECKING:
    from fgit.backends.protocol import Backend

__all__ = [
    "ValidationResult",
    "holdout_ids",
    "problem_key",
    "split_problems",
    "validate",
    "write_holdout",
]


def _unit_interval(problem_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x00{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def problem_key(record: Problem) -> str:
    """The id the validation split decides a record by: its problem's id. A pair made from a
    model's own attempts (``selection["source"] == "onpolicy"``) has an id of its own
    (``ID#op0``, so it can sit beside a teacher's pair of the same problem) and its problem's id
    in ``metadata["problem_id"]``; every other record is its problem. Only such a pair: a
    dataset's own ``problem_id`` field also lands in ``metadata`` (APPS has one), and keying on
    it would split its pairs otherwise than :func:`split_problems` splits its problems."""
    selection = getattr(record, "selection", None) or {}
    if selection.get("source") == "onpolicy" and record.metadata.get("problem_id"):
        return str(record.metadata["problem_id"])
    return record.id


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


def write_holdout(problems_path: Path, out: Path, fraction: float, seed: int = 0) -> list[Problem]:
    """Write the problems of ``problems_path`` that a training run with ``holdout_fraction``
    ``fraction`` and ``holdout_seed`` ``seed`` leaves out (the ones ``fgit validate`` scores),
    in file order, as a problems file for ``fgit evaluate --benchmark problems:OUT``. Returns
    them; writes nothing when there are none."""
    from fgit.evaluation.problems import read_benchmark_problems  # LeetCodeDataset files too
    from fgit.records import write_records

    held = split_problems(read_benchmark_problems(problems_path)[0], fraction, seed)[1]
    if held:  # nothing held out: nothing written (the caller says so)
        write_records(out, held)
    return held


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
    The code is scored by evaluation's scoring of a problems file
    (:func:`fgit.evaluation.problems.problems_benchmark`, ``score_solutions``): the same
    program and sandbox as ``fgit evaluate --benchmark problems:FILE``; only the prompt and how
    the code is taken out of the answer differ (docs/evaluation.md, "Your own benchmark").
    """
    from fgit.evaluation.problems import has_tests, problems_benchmark
    from fgit.evaluation.scoring import ScoreSettings, score_solutions
    from fgit.generation import SamplingParams
    from fgit.variants.extract import extract_code

    result = ValidationResult(problems=0, passed=0)
    scored = []
    for problem in problems:
        if has_tests(problem):
            scored.append(problem)
        else:
            result.skipped[problem.id] = "no tests"
    conversations = [[{"role": "user", "content": p.instruction}] for p in scored]
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    answers = [texts[0] for texts in backend.generate(conversations, params)]
    solutions: dict[str, str] = {}
    for problem, answer in zip(scored, answers, strict=True):
        result.answers[problem.id] = answer
        prelude = problem.metadata.get("prelude") or None
        code = extract_code(answer, prelude=prelude).code
        if code and code.strip():
            solutions[problem.id] = code
    if scored:
        benchmark = problems_benchmark(
            scored, name="problems:validation", source="validation", sha256="", version=""
        )
        settings = ScoreSettings(workers=workers, humaneval_timeout_s=timeout)
        for score in score_solutions(benchmark, solutions, settings, progress=False):
            no_code = score.task_id not in solutions
            result.verdicts[score.task_id] = "no code" if no_code else score.base
    result.problems = len(scored)
    result.kinds = Counter(result.verdicts.values())
    result.passed = result.kinds.get("passed", 0)
    return result
