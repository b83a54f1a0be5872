"""A round's pairs file: the model's attempts made into pairs, a share of a teacher's pairs added.

The I/O shell around :func:`fgit.onpolicy.pairs.pair_problem`: it checks in the sandbox the
references that the rules would use, scores similarity with the selection stage's embedder,
mixes in teacher pairs, and writes the pairs and a summary of the yield
(``<pairs>.summary.json``): how many problems had a failing attempt, a passing one, only
passing ones, and how many pairs each source gave. A problem that gave no pair is counted by
reason, and ``<pairs>.outcomes.jsonl`` lists every problem's attempts and what became of them.
It reruns whole on resume: it samples nothing and runs only the references (seconds).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fgit.io import atomic_write, write_json
from fgit.onpolicy.pairs import (
    Attempt,
    PairRules,
    ProblemOutcome,
    needs_reference,
    pair_problem,
    take_share,
)
from fgit.records import Pair, Problem, write_records
from fgit.selection.embedders import Scorer

__all__ = ["RoundYield", "build_round_pairs", "write_round_pairs"]


@dataclass
class RoundYield:
    """What a round's attempts gave (the issue's "yield"), and the pairs trained on."""

    problems: int = 0  # problems sampled
    attempts: int = 0
    passed_attempts: int = 0
    with_failure: int = 0  # problems with at least one failing attempt
    with_pass: int = 0  # ... with at least one passing attempt
    every_attempt_passes: int = 0  # no contrast: no pair
    no_attempt_passes: int = 0
    onpolicy_pairs: int = 0  # pairs the attempts gave
    onpolicy_used: int = 0  # ... of them in the round's pairs (onpolicy_share)
    teacher_pairs: int = 0  # teacher pairs available
    teacher_used: int = 0  # ... in the round's pairs (teacher_share)
    pairs: int = 0  # the round's pairs
    correct_from: Counter[str] = field(default_factory=Counter)  # model / reference
    no_pair: Counter[str] = field(default_factory=Counter)  # problems without a pair, by why
    dropped: Counter[str] = field(default_factory=Counter)  # unusable attempts, by reason
    verdicts: Counter[str] = field(default_factory=Counter)  # every attempt's verdict
    references_checked: int = 0
    mean_similarity: float | None = None  # of the on-policy pairs used
    seconds: float = 0.0

    @property
    def pass_rate(self) -> float:
        """The sampled model's pass@1 estimate on these problems: the share of attempts that
        pass."""
        return self.passed_attempts / self.attempts if self.attempts else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("correct_from", "no_pair", "dropped", "verdicts"):
            data[key] = dict(getattr(self, key).most_common())
        data["pass_rate"] = round(self.pass_rate, 6)
        return data


def _check_references(
    problems: Sequence[Problem], limits: Any, workers: int | None
) -> dict[str, bool]:
    """Whether each problem's reference passes its own tests, run in the sandbox."""
    from fgit.execution import Verdict, problem_program, run_many
    from fgit.selection.select import reference_code

    programs = [problem_program(p, reference_code(p)) for p in problems]
    results = run_many(programs, limits=limits, workers=workers) if programs else []
    return {p.id: r.verdict == Verdict.PASSED for p, r in zip(problems, results, strict=True)}


def build_round_pairs(
    problems: Sequence[Problem],
    attempts: Mapping[str, Sequence[Attempt]],
    scorer: Scorer,
    rules: PairRules,
    *,
    teacher_pairs: Sequence[Pair] = (),
    onpolicy_share: float = 1.0,
    teacher_share: float = 0.0,
    selection: dict[str, Any] | None = None,
    limits: Any = None,
    workers: int | None = None,
) -> tuple[list[Pair], RoundYield, list[ProblemOutcome]]:
    """The round's pairs (``onpolicy_share`` of the pairs the attempts give, then
    ``teacher_share`` of ``teacher_pairs``: :func:`take_share`), its yield,
    and every sampled problem's outcome. ``attempts``: problem id -> its attempts; problems
    without attempts were not sampled and are left out."""
    from fgit.execution import SandboxLimits

    started = time.perf_counter()
    sampled = [p for p in problems if p.id in attempts]
    check = [p for p in sampled if needs_reference(attempts[p.id], rules, p)]
    passes = _check_references(check, limits or SandboxLimits(), workers)
    recorded = {**(selection or {}), "embedder": scorer.describe()}
    outcomes = [
        pair_problem(
            p, attempts[p.id], scorer, rules, reference_passes=passes.get(p.id), selection=recorded
        )
        for p in sampled
    ]
    made = [pair for outcome in outcomes for pair in outcome.pairs]
    onpolicy = take_share(made, onpolicy_share, rules.seed)
    teacher = take_share(teacher_pairs, teacher_share, rules.seed)
    teacher = [
        pair.model_copy(update={"selection": {**pair.selection, "source": "teacher"}})
        for pair in teacher
    ]
    summary = RoundYield(
        problems=len(sampled),
        onpolicy_pairs=len(made),
        onpolicy_used=len(onpolicy),
        teacher_pairs=len(teacher_pairs),
        teacher_used=len(teacher),
        pairs=len(onpolicy) + len(teacher),
        references_checked=len(check),
    )
    for outcome in outcomes:
        summary.attempts += outcome.attempts
        summary.passed_attempts += outcome.passed
        summary.with_failure += outcome.passed < outcome.attempts
        summary.with_pass += outcome.passed > 0
        summary.every_attempt_passes += outcome.attempts > 0 and outcome.passed == outcome.attempts
        summary.no_attempt_passes += outcome.passed == 0
        summary.verdicts.update(outcome.verdicts)
        summary.dropped.update(outcome.dropped)
        if outcome.why_none:
            summary.no_pair[outcome.why_none] += 1
        elif outcome.correct_from:
            summary.correct_from[outcome.correct_from] += 1
    if onpolicy:
        mean = sum(p.selection["similarity"] for p in onpolicy) / len(onpolicy)
        summary.mean_similarity = round(mean, 4)
    summary.seconds = round(time.perf_counter() - started, 2)
    return [*onpolicy, *teacher], summary, outcomes


def _outcome_row(outcome: ProblemOutcome) -> dict[str, Any]:
    return {
        "id": outcome.problem_id,
        "attempts": outcome.attempts,
        "passed": outcome.passed,
        "verdicts": dict(outcome.verdicts),
        "dropped": dict(outcome.dropped),
        "pairs": [pair.id for pair in outcome.pairs],
        "correct_from": outcome.correct_from,
        "why_none": outcome.why_none,
    }


def write_round_pairs(
    out: Path, pairs: Sequence[Pair], summary: RoundYield, outcomes: Sequence[ProblemOutcome]
) -> None:
    """The pairs, ``<out>.summary.json`` (the yield) and ``<out>.outcomes.jsonl``."""
    write_records(out, list(pairs))
    write_json(out.with_name(out.name + ".summary.json"), summary.to_json())
    rows = "".join(json.dumps(_outcome_row(o)) + "\n" for o in outcomes)
    atomic_write(out.with_name(out.name + ".outcomes.jsonl"), rows)
