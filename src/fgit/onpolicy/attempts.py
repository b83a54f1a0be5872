"""A model's own attempts at the training problems: sampled, run against the tests, read back.

Sampling is evaluation's: the training problems are written as a problems file and the model
answers each one ``n`` times at a temperature through :func:`fgit.evaluation.stage.evaluate_model`
(``problems:FILE``, n samples): the same prompts (evalplus's, the answer begun in a code
fence), batched generation, a seed per task (a task draws the same samples in any chunk or
after a resume), chunked appends that resume after a kill, and sandboxed scoring with a verdict
per sample. The attempts are that run's JSON, next to its ``.samples.jsonl`` and ``.raw.jsonl``.

What an attempt gives training is the code that was scored (evalplus's sanitised solution), in
the reference's form: the whole code for a problem with a prose instruction, the body after the
prompt for a completion-style problem (``metadata["style"] == "completion"``), whose solution
is the prompt and its continuation. A completion-style solution that does not begin with its
prompt (the sanitizer rewrote it) has no body to train on: it is kept with the reason
``not a continuation of the prompt`` and counted, not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fgit.errors import FgitError
from fgit.evaluation.problems import is_scorable
from fgit.onpolicy.pairs import Attempt
from fgit.records import Problem
from fgit.validation import split_problems

if TYPE_CHECKING:
    from fgit.evaluation.results import EvalRun
    from fgit.evaluation.stage import GenerationSettings

__all__ = ["AttemptsError", "attempts_of", "sample_attempts", "sampled_problems"]

NOT_A_CONTINUATION = "not a continuation of the prompt"


class AttemptsError(FgitError, ValueError):
    """An evaluation run that is not the attempts at these problems (one line for the user)."""


def sampled_problems(
    problems: Sequence[Problem], holdout_fraction: float, holdout_seed: int
) -> list[Problem]:
    """The problems a model is sampled on: those with tests that can be run (only they label
    an attempt), less the validation split that training holds out (``fgit validate`` scores
    it; a model must not learn from its own answers to it)."""
    training = split_problems(problems, holdout_fraction, holdout_seed)[0]
    return [p for p in training if is_scorable(p)]


def sample_attempts(
    model: str,
    problems_file: Path,
    out: Path,
    generation: GenerationSettings,
    *,
    workers: int | None = None,
    timeout: float = 10.0,
    quiet: bool = False,
) -> EvalRun:
    """``generation.n_samples`` attempts of ``model`` at each problem of ``problems_file``,
    scored in the sandbox; the run is written to ``out`` (and resumes from its samples file)."""
    from fgit.evaluation.scoring import ScoreSettings
    from fgit.evaluation.stage import evaluate_model

    return evaluate_model(
        model,
        f"problems:{problems_file}",
        out,
        generation=generation,
        scoring=ScoreSettings(workers=workers, humaneval_timeout_s=timeout),
        quiet=quiet,
    )


def _body_after(prompt: str, solution: str) -> str | None:
    """What ``solution`` adds after ``prompt``; None when it does not begin with it. Blank lines
    are not compared: evalplus's sanitizer joins the prompt's imports and its function without
    the blank lines between them (HumanEval's ``from typing import List``, then two blank
    lines), so 15 of the 82 humaneval-train prompts never begin their own sanitised solution."""
    if solution.startswith(prompt):
        return solution[len(prompt) :]
    wanted = [line.rstrip() for line in prompt.splitlines() if line.strip()]
    lines = solution.splitlines(keepends=True)
    matched = 0
    for index, line in enumerate(lines):
        if matched == len(wanted):
            return "".join(lines[index:])
        if not line.strip():
            continue
        if line.rstrip() != wanted[matched]:
            return None
        matched += 1
    return "" if matched == len(wanted) else None


def _response(problem: Problem, solution: str) -> tuple[str | None, str | None]:
    """(the attempt's code in the reference's form, why there is none)."""
    if problem.metadata.get("style") != "completion":
        return solution, None
    body = _body_after(problem.instruction, solution)
    if body is None:
        return None, NOT_A_CONTINUATION
    return body, None


def _samples(task: Any) -> list[tuple[str, str, str]]:
    """(solution, verdict, detail) of each of a task's samples (one for a one-sample run)."""
    if task.samples is None:
        return [(task.solution or "", task.base, task.detail)]
    return [(s.solution or "", s.base, s.detail) for s in task.samples]


def attempts_of(run: EvalRun, problems: Sequence[Problem]) -> dict[str, list[Attempt]]:
    """Each problem's attempts in ``run`` (problem id -> attempts in sample order). A problem the
    run does not have is left out; a task that is not one of ``problems`` is an error (the run
    was sampled on another file)."""
    by_id = {p.id: p for p in problems}
    out: dict[str, list[Attempt]] = {}
    for task in run.tasks:
        problem = by_id.get(task.task_id)
        if problem is None:
            raise AttemptsError(
                f"{run.benchmark}: task {task.task_id} is not one of the problems (the run "
                "was sampled on another problems file)"
            )
        attempts = []
        for index, (solution, verdict, detail) in enumerate(_samples(task)):
            response, dropped = _response(problem, solution)
            attempts.append(Attempt(index, verdict, response, detail, dropped))
        out[problem.id] = attempts
    return out
