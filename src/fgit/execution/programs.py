"""The programs the sandbox runs to test a solution: the solution, then its tests."""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["EVALPLUS_CHECK", "check_program"]

# evalplus's check, which evaluation has the sandbox run (by path) before each program.
EVALPLUS_CHECK = str(Path(__file__).with_name("evalplus_check.py"))


def check_program(solution: str, tests: str, entry_point: str | None = None) -> str:
    """The program to run: the solution, then the tests.

    MBPP-style tests are plain ``assert`` lines. HumanEval / LeetCodeDataset tests define
    ``check(candidate)``; when ``entry_point`` is given (``"add"``, ``"Solution().twoSum"``) and
    the tests define ``check`` without calling it, ``check(<entry_point>)`` is appended.
    """
    parts = [solution.rstrip(), tests.rstrip()]
    if entry_point and _defines_check(tests) and not _calls_check(tests):
        parts.append(f"check({entry_point})")
    return "\n\n\n".join(part for part in parts if part) + "\n"


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
