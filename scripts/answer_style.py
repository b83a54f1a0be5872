"""How do a model's answers look, and how do they fail? Length, comments, indentation, verdicts.

    python scripts/answer_style.py RUN/onpolicy/{base,codelutra-r1}/attempts.json
    python scripts/answer_style.py RUN/eval/{base,dpo}/mbppplus.json

Reads fgit results files (``fgit evaluate``'s, or an on-policy stage's attempts: every sample of
every task counts as one answer) and prints, per file:

- ``answers``, and the share that pass (the base tests; with ``+``, the plus tests too);
- ``chars``: the mean length of an answer in characters;
- ``comment``: the share of answers with at least one ``#`` comment (Python's tokenizer decides,
  so a ``#`` inside a string is not one);
- ``2-space``: the share whose smallest indentation step is two spaces (PEP 8 and the models'
  habit is four; MBPP's reference answers often use two);
- the most common failure kinds: the exception a failing answer raised, else its verdict.

docs/results.md uses it to show what a preference loss taught beside pass@1: on MBPP's pairs,
whose correct sides are terse reference answers, DPO's answers lost their comments and took two
spaces.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fgit.errors import FgitError
from fgit.evaluation.compare import names_from_paths
from fgit.evaluation.results import EvalRun, read_run


@dataclass(frozen=True)
class Answer:
    solution: str
    base: str  # verdict on the base tests: passed / failed / error / timeout / memory / ...
    plus: str | None  # on the plus tests, where the benchmark has them
    detail: str


@dataclass(frozen=True)
class Style:
    answers: int
    passed: int  # base tests
    passed_plus: int | None  # base and plus tests; None without plus tests
    mean_chars: float
    commented: int
    two_space: int
    failures: Counter[str]


def answers_of(run: EvalRun) -> list[Answer]:
    """Every answer of a results file: each sample of each task, or each task's one answer."""
    out = []
    for task in run.tasks:
        for one in task.samples or [task]:
            out.append(Answer(one.solution or "", one.base, one.plus, one.detail))
    return out


def has_comment(code: str) -> bool:
    """A ``#`` comment per Python's tokenizer; code it cannot tokenize falls back to lines."""
    try:
        return any(
            token.type == tokenize.COMMENT
            for token in tokenize.generate_tokens(io.StringIO(code).readline)
        )
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return any(line.lstrip().startswith("#") for line in code.splitlines())


def indent_step(code: str) -> int | None:
    """The smallest indentation (in spaces) of a non-blank line; None if none is indented."""
    steps = [
        len(line) - len(line.lstrip(" "))
        for line in code.splitlines()
        if line.strip() and line.startswith(" ")
    ]
    return min(steps) if steps else None


_EXCEPTION = re.compile(r"\b([A-Z]\w*(?:Error|Exception|Exit|Interrupt))\b")


def failure_kind(answer: Answer) -> str:
    """``wrong output`` (a benchmark's expected-output check; a problem's own ``assert`` shows as
    ``AssertionError``), else the exception the answer raised, else the failing side's verdict
    (``timeout``, ``memory``, ...)."""
    if "wrong output" in answer.detail:
        return "wrong output"
    found = _EXCEPTION.search(answer.detail)
    if found:
        return found.group(1)
    return answer.base if answer.base != "passed" else str(answer.plus)


def style(answers: Sequence[Answer]) -> Style:
    plus = [a for a in answers if a.plus is not None]
    failing = [a for a in answers if a.base != "passed" or a.plus not in (None, "passed")]
    return Style(
        answers=len(answers),
        passed=sum(a.base == "passed" for a in answers),
        passed_plus=(
            sum(a.base == "passed" and a.plus == "passed" for a in answers)
            if plus and len(plus) == len(answers)
            else None
        ),
        mean_chars=sum(len(a.solution) for a in answers) / len(answers) if answers else 0.0,
        commented=sum(has_comment(a.solution) for a in answers),
        two_space=sum(indent_step(a.solution) == 2 for a in answers),
        failures=Counter(failure_kind(a) for a in failing),
    )


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else "0"


def rows(names: Iterable[str], styles: Iterable[Style], kinds: int) -> list[list[str]]:
    header = ["", "answers", "pass", "pass+", "chars", "comment", "2-space", "failures"]
    out = [header]
    for name, s in zip(names, styles, strict=True):
        out.append([
            name,
            str(s.answers),
            _share(s.passed, s.answers),
            "-" if s.passed_plus is None else _share(s.passed_plus, s.answers),
            f"{s.mean_chars:.0f}",
            _share(s.commented, s.answers),
            _share(s.two_space, s.answers),
            ", ".join(f"{kind} {n}" for kind, n in s.failures.most_common(kinds)),
        ])  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="fgit results files (.json)")
    parser.add_argument("--kinds", type=int, default=4, help="failure kinds shown (default 4)")
    args = parser.parse_args(argv)
    try:
        runs = [read_run(path) for path in args.results]
    except FgitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = rows(names_from_paths(args.results), (style(answers_of(r)) for r in runs), args.kinds)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
