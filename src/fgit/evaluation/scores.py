"""The verdicts of one scored solution, shared by scoring, results and comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MISSING", "TaskScore", "pass_at_1"]

# Verdict strings are fgit.execution.Verdict values, plus "missing" for a task without a sample.
MISSING = "missing"


@dataclass(frozen=True)
class TaskScore:
    """``base``/``plus`` are verdicts (``"passed"``, ``"failed"``, ``"error"``, ``"timeout"``,
    ``"memory"``, ``"exited"``, ``"sandbox_error"``, ``"missing"``); ``plus`` is None for a
    benchmark without plus tests. ``detail`` says what failed first (one line)."""

    task_id: str
    base: str
    plus: str | None = None
    detail: str = ""

    @property
    def base_passed(self) -> bool:
        return self.base == "passed"

    @property
    def plus_passed(self) -> bool:
        """evalplus's "base + extra tests": both must pass."""
        return self.base_passed and self.plus == "passed"


def pass_at_1(scores: Sequence[TaskScore], plus: bool = False) -> float:
    """Greedy pass@1: the share of tasks whose one solution passes."""
    if not scores:
        return 0.0
    hits = sum(s.plus_passed if plus else s.base_passed for s in scores)
    return hits / len(scores)
