"""Pairs from a model's own attempts: the rules, as pure functions.

A problem was answered N times by the model, and each attempt was run against the problem's
tests in the sandbox (:mod:`fgit.onpolicy.attempts`). One problem's pairs:

1. **Usable attempts.** An attempt without code (``no code``), whose code does not parse after
   the problem's prelude (``unparsable``), that the sandbox could not start (``not run``: its
   ``sandbox_error`` says nothing of the code), that fails with the very code another attempt
   passes with (``also passes``: a flaky verdict, a timeout on a loaded machine, is no
   verified fault), or that repeats an earlier attempt of the same outcome, pass or fail, after
   normalisation (``duplicate``) is not used. Every attempt is still counted, with its
   verdict.
2. **The correct side** (``PairRules.correct``):

   - ``model``: a passing attempt; the reference solution when no usable attempt passes;
   - ``model-only``: a passing attempt; a problem without a usable one gives no pair;
   - ``reference``: always the reference (FGIT's correct side, with the model's own faults).

   The reference is used only when it passes its own tests (checked in the sandbox by the
   caller; ``reference_passes``).
3. **The incorrect side** (``PairRules.incorrect``): a failing attempt.

   - ``most-similar``: the failing attempt most similar to a correct side (cosine of the
     selection stage's embedder), paired with that correct side: the smallest contrast, as
     FGIT selects a teacher's variant;
   - ``random``: a failing attempt and a correct side drawn at random (seeded per problem), as
     CodeLutra is summarised to pair them.

   With ``pairs_per_problem`` k > 1, the k best distinct failing attempts (each with its own
   correct side). A failing attempt identical to its correct side is never paired.
4. A problem whose attempts all pass carries no contrast: it gives no pair and is counted.

Each pair is the problem with ``response`` = the correct side and ``incorrect`` = the failing
attempt, ``id`` = ``<problem id>#op<k>`` (so it can sit beside a teacher's pair of the same
problem) and ``metadata["problem_id"]`` = the problem's id, which the training holdout keys on
(:func:`fgit.validation.problem_key`). ``selection`` records where both sides came from.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fgit.execution.verdicts import Verdict
from fgit.records import Pair, Problem
from fgit.segments import normalize_response
from fgit.selection.embedders import Scorer
from fgit.selection.select import reference_code
from fgit.variants.extract import parses

__all__ = [
    "Attempt",
    "CorrectRule",
    "IncorrectRule",
    "PairRules",
    "ProblemOutcome",
    "needs_reference",
    "onpolicy_id",
    "pair_problem",
    "take_share",
]

CorrectRule = Literal["model", "model-only", "reference"]
IncorrectRule = Literal["most-similar", "random"]
PASSED = Verdict.PASSED.value
SOURCE = "onpolicy"


@dataclass(frozen=True)
class Attempt:
    """One sampled answer of the model to a problem, as training would see it."""

    index: int  # its position among the problem's samples
    verdict: str  # the sandbox's verdict (fgit.execution.Verdict's value); "passed" passes
    response: str | None  # the code in the reference's form (a completion-style body); None: none
    detail: str = ""  # the sandbox's one-line detail (the exception, the failed assert)
    dropped: str | None = None  # set by the reader when the code cannot be put in that form

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED


@dataclass(frozen=True)
class PairRules:
    correct: CorrectRule = "model"
    incorrect: IncorrectRule = "most-similar"
    pairs_per_problem: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pairs_per_problem < 1:
            raise ValueError(f"pairs_per_problem must be >= 1, got {self.pairs_per_problem}")


@dataclass
class ProblemOutcome:
    """What one problem's attempts gave: its pairs, or why none."""

    problem_id: str
    attempts: int
    passed: int
    pairs: list[Pair] = field(default_factory=list)
    why_none: str | None = None
    verdicts: Counter[str] = field(default_factory=Counter)  # every attempt's verdict
    dropped: Counter[str] = field(default_factory=Counter)  # attempts not usable, by reason
    correct_from: str | None = None  # "model" or "reference": where the correct sides came from


def onpolicy_id(problem_id: str, k: int) -> str:
    return f"{problem_id}#op{k}"


def needs_reference(
    attempts: Sequence[Attempt], rules: PairRules, problem: Problem | None = None
) -> bool:
    """Whether the problem's pairs would use the reference (so it must be checked first).
    With ``problem``, a passing attempt counts only when it is usable (:func:`_usable`): a
    pass that cannot be a side (a completion the sanitizer rewrote) leaves the reference."""
    if rules.correct == "reference":
        return True
    passing = _usable(problem, attempts)[0] if problem is not None else attempts
    return rules.correct == "model" and not any(a.passed for a in passing)


def _usable(problem: Problem, attempts: Sequence[Attempt]) -> tuple[list[Attempt], Counter[str]]:
    """The attempts that can be a side of a pair, in order, and the others counted by reason."""
    prelude = problem.metadata.get("prelude") or None
    texts = [normalize_response(attempt.response or "") for attempt in attempts]
    passing_texts = {text for a, text in zip(attempts, texts, strict=True) if a.passed}
    seen: set[tuple[bool, str]] = set()
    usable, dropped = [], Counter[str]()
    for attempt, text in zip(attempts, texts, strict=True):
        reason = attempt.dropped
        if reason is None and not text:
            reason = "no code"
        elif reason is None and attempt.verdict == Verdict.SANDBOX_ERROR.value:
            reason = "not run"
        elif reason is None and not parses(text, prelude):
            reason = "unparsable"
        elif reason is None and not attempt.passed and text in passing_texts:
            reason = "also passes"
        elif reason is None and (attempt.passed, text) in seen:
            reason = "duplicate"
        if reason is None:
            seen.add((attempt.passed, text))
            usable.append(attempt)
        else:
            dropped[reason] += 1
    return usable, dropped


@dataclass(frozen=True)
class _Side:
    text: str
    attempt: int | None  # None: the reference


def _rng(rules: PairRules, problem_id: str) -> random.Random:
    digest = hashlib.sha256(f"{rules.seed}\x00{problem_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _choose(
    corrects: list[_Side],
    failing: list[Attempt],
    scorer: Scorer,
    rules: PairRules,
    problem_id: str,
) -> list[tuple[_Side, Attempt, float]]:
    """(correct side, failing attempt, similarity) for up to ``pairs_per_problem`` pairs."""
    texts = [normalize_response(a.response or "") for a in failing]
    # similarity[i][j]: correct side i to failing attempt j (one embedder call per problem)
    similarity = scorer.similarities([c.text for c in corrects], [texts] * len(corrects))
    options = []  # per failing attempt: its best correct side, with the similarity
    for j in range(len(failing)):
        allowed = [i for i, c in enumerate(corrects) if normalize_response(c.text) != texts[j]]
        if not allowed:
            continue
        if rules.incorrect == "random":
            options.append((j, allowed, 0.0))
            continue
        best = max(allowed, key=lambda i: (similarity[i][j], -i))  # a tie: the first
        options.append((j, [best], similarity[best][j]))
    if rules.incorrect == "random":
        rng = _rng(rules, problem_id)
        rng.shuffle(options)
        picked = [(j, rng.choice(allowed)) for j, allowed, _ in options]
    else:
        options.sort(key=lambda o: (-o[2], o[0]))  # most similar first; a tie: the earlier attempt
        picked = [(j, allowed[0]) for j, allowed, _ in options]
    return [
        (corrects[i], failing[j], round(float(similarity[i][j]), 6))
        for j, i in picked[: rules.pairs_per_problem]
    ]


def pair_problem(
    problem: Problem,
    attempts: Sequence[Attempt],
    scorer: Scorer,
    rules: PairRules,
    *,
    reference_passes: bool | None = None,
    selection: dict[str, Any] | None = None,
) -> ProblemOutcome:
    """The pairs of ``problem`` from its ``attempts`` under ``rules`` (module docstring).

    ``reference_passes``: whether the reference passes its tests (needed when
    :func:`needs_reference`; None there is an error). ``selection``: recorded in every pair's
    ``selection`` (e.g. which model sampled, the embedder), under what this function adds."""
    outcome = ProblemOutcome(
        problem_id=problem.id,
        attempts=len(attempts),
        passed=sum(a.passed for a in attempts),
        verdicts=Counter(a.verdict for a in attempts),
    )
    usable, outcome.dropped = _usable(problem, attempts)
    passing = [a for a in usable if a.passed]
    failing = [a for a in usable if not a.passed]
    if outcome.passed == len(attempts):
        outcome.why_none = "every attempt passes" if attempts else "no attempts"
        return outcome
    if not failing:
        outcome.why_none = "no usable failing attempt"
        return outcome
    if rules.correct == "model-only" and not passing:
        outcome.why_none = "no passing attempt"
        return outcome
    if needs_reference(attempts, rules, problem):
        if reference_passes is None:
            raise ValueError(f"{problem.id}: the reference's verdict is needed for these rules")
        if not reference_passes:
            outcome.why_none = "reference fails its tests"
            return outcome
        corrects = [_Side(normalize_response(reference_code(problem)), None)]
        outcome.correct_from = "reference"
    else:
        corrects = [_Side(normalize_response(a.response or ""), a.index) for a in passing]
        outcome.correct_from = "model"
    chosen = _choose(corrects, failing, scorer, rules, problem.id)
    if not chosen:
        outcome.why_none = "every failing attempt equals the correct side"
        return outcome
    fields = {name: getattr(problem, name) for name in Problem.model_fields}
    for k, (correct, wrong, similarity) in enumerate(chosen):
        outcome.pairs.append(
            Pair(
                **{
                    **fields,
                    "id": onpolicy_id(problem.id, k),
                    "response": correct.text,
                    "metadata": {**problem.metadata, "problem_id": problem.id},
                },
                incorrect=normalize_response(wrong.response or ""),
                selection={
                    **(selection or {}),
                    "source": SOURCE,
                    "rules": {"correct": rules.correct, "incorrect": rules.incorrect},
                    "correct_from": outcome.correct_from,
                    "correct_attempt": correct.attempt,
                    "attempt": wrong.index,
                    "attempts": outcome.attempts,
                    "passed": outcome.passed,
                    "similarity": similarity,
                    "verified_incorrect": True,
                    "verdict": wrong.verdict,
                    "detail": wrong.detail,
                },
            )
        )
    return outcome


def take_share(pairs: Sequence[Pair], share: float, seed: int = 0) -> list[Pair]:
    """``share * len(pairs)`` of ``pairs`` (rounded half up), chosen by a hash of each id and
    ``seed`` (so the same pairs at every round and on every machine), in their original
    order."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share}")
    count = int(share * len(pairs) + 0.5)  # half up: a share of 0.5 of one pair keeps it

    def rank(pair: Pair) -> bytes:
        return hashlib.sha256(f"{seed}\x00{pair.id}".encode()).digest()

    kept = {pair.id for pair in sorted(pairs, key=rank)[:count]}
    return [pair for pair in pairs if pair.id in kept]
