"""scripts/answer_style.py: what answers look like (length, comments, indentation) and how they
fail, from fgit's own results files."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fgit.evaluation.results import build_run, write_run
from fgit.evaluation.scores import TaskScore

REPO = Path(__file__).resolve().parents[1]
CREATED = datetime(2026, 1, 2, tzinfo=timezone.utc)


def _script():
    spec = importlib.util.spec_from_file_location("answer_style", REPO / "scripts/answer_style.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


style_script = _script()

TERSE = "def add(a, b):\n  return a + b\n"  # MBPP-reference style: two spaces, no comment
CHATTY = "def add(a, b):\n    # add them\n    return a + b\n"
HASH_IN_STRING = 'def tag(s):\n    return "#" + s\n'


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (TERSE, False),
        (CHATTY, True),
        (HASH_IN_STRING, False),  # the tokenizer, not a text search
        ("x = 1  # trailing\n", True),
        ("def f(:\n    # broken\n", True),  # code that does not tokenize: by its lines
        ("def f(:\n    return 1\n", False),
    ],
)
def test_has_comment(code: str, expected: bool) -> None:
    assert style_script.has_comment(code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [(TERSE, 2), (CHATTY, 4), ("x = 1\n", None), ("if x:\n    if y:\n        z()\n", 4)],
)
def test_indent_step(code: str, expected: int | None) -> None:
    assert style_script.indent_step(code) == expected


def _answer(base: str, detail: str = "", plus: str | None = None) -> object:
    return style_script.Answer("", base, plus, detail)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (_answer("failed", "base: input 0 of 3: wrong output: got 2, expected 3"), "wrong output"),
        (_answer("failed", "base: input 1 of 3: raised TypeError: bad operand"), "TypeError"),
        (_answer("failed", "base: AssertionError"), "AssertionError"),  # a problem's own assert
        (_answer("error", "base: NameError: name 'math' is not defined (line 3)"), "NameError"),
        (_answer("timeout", "base: timed out after 10.0 s"), "timeout"),
        (_answer("passed", "plus: killed", plus="memory"), "memory"),  # only the plus tests fail
    ],
)
def test_failure_kind(answer: object, kind: str) -> None:
    assert style_script.failure_kind(answer) == kind


def _write(path: Path, solutions: list[str], scores: list[TaskScore], **run: object) -> Path:
    run_file = build_run(
        model="m", benchmark="mbpp", scores=scores, created=CREATED,
        solutions={s.task_id: code for s, code in zip(scores, solutions, strict=True)}, **run,
    )  # fmt: skip
    write_run(path, run_file)
    return path


def test_style_of_a_greedy_run_counts_each_task_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "run.json",
        [TERSE, CHATTY, HASH_IN_STRING],
        [
            TaskScore("Mbpp/1", "passed", "passed", ""),
            TaskScore("Mbpp/2", "passed", "failed", "plus: input 4 of 9: wrong output: got 1"),
            TaskScore("Mbpp/3", "failed", "failed", "base: input 0 of 3: raised KeyError: 'x'"),
        ],
    )
    s = style_script.style(style_script.answers_of(style_script.read_run(path)))
    assert (s.answers, s.passed, s.passed_plus) == (3, 2, 1)
    assert (s.commented, s.two_space) == (1, 1)
    assert s.mean_chars == pytest.approx(sum(map(len, [TERSE, CHATTY, HASH_IN_STRING])) / 3)
    assert s.failures == {"wrong output": 1, "KeyError": 1}


def test_style_of_sampled_attempts_counts_every_sample(tmp_path: Path) -> None:
    """An on-policy attempts file holds n samples per task: each is an answer."""
    run = build_run(
        model="m", benchmark="problems", created=CREATED, ks=[1],
        sample_scores=[[TaskScore("p1", "passed", None, ""),
                        TaskScore("p1", "failed", None, "base: AssertionError")],
                       [TaskScore("p2", "error", None, "base: NameError: name 'x'"),
                        TaskScore("p2", "passed", None, "")]],
        sample_solutions={"p1": [TERSE, CHATTY], "p2": [CHATTY, TERSE]},
    )  # fmt: skip
    write_run(tmp_path / "attempts.json", run)
    answers = style_script.answers_of(style_script.read_run(tmp_path / "attempts.json"))
    s = style_script.style(answers)
    assert (s.answers, s.passed, s.passed_plus, s.commented, s.two_space) == (4, 2, None, 2, 2)
    assert s.failures == {"AssertionError": 1, "NameError": 1}


def test_main_prints_a_row_per_file_and_refuses_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = [TaskScore("Mbpp/1", "passed", None, "")]
    _write(tmp_path / "a" / "mbpp.json", [TERSE], scores)
    _write(tmp_path / "b" / "mbpp.json", [CHATTY], scores)
    assert style_script.main([str(tmp_path / "a/mbpp.json"), str(tmp_path / "b/mbpp.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["answers", "pass", "pass+", "chars", "comment", "2-space",
                                "failures"]  # fmt: skip
    assert lines[1].split()[:4] == ["a", "1", "1", "(100.0%)"]
    assert "0 (0.0%)" in lines[1] and "1 (100.0%)" in lines[2]
    assert style_script.main([str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
