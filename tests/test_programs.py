"""The one builder of "solution + tests" programs, on hand-made and real LeetCode problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from fgit import problems as P
from fgit.execution import (
    ExecutionResult,
    SandboxLimits,
    Verdict,
    check_program,
    problem_program,
    run_many,
    run_program,
)
from fgit.records import Problem

QUICK = SandboxLimits(timeout_s=5)


def run(program: str) -> ExecutionResult:
    return run_program(program, limits=QUICK)


MBPP_TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0"
HUMANEVAL_TESTS = """

METADATA = {'author': 'x'}


def check(candidate):
    assert candidate(1, 2) == 3
    assert candidate(-1, 1) == 0
"""
GOOD = "def add(a, b):\n    return a + b\n"
BAD = "def add(a, b):\n    return a - b\n"


def test_check_program_mbpp_style():
    program = check_program(GOOD, MBPP_TESTS)
    assert program == GOOD + "\n\n" + MBPP_TESTS + "\n"
    assert run(program).passed
    assert run(check_program(BAD, MBPP_TESTS)).verdict is Verdict.FAILED


def test_check_program_humaneval_style():
    program = check_program(GOOD, HUMANEVAL_TESTS, "add")
    assert program.rstrip().endswith("check(add)")
    assert run(program).passed
    assert run(check_program(BAD, HUMANEVAL_TESTS, "add")).verdict is Verdict.FAILED


def test_check_program_leetcode_style_and_no_double_call():
    solution = "class Solution:\n    def add(self, a, b):\n        return a + b\n"
    program = check_program(solution, HUMANEVAL_TESTS, "Solution().add")
    assert program.rstrip().endswith("check(Solution().add)")
    assert run(program).passed
    already_called = HUMANEVAL_TESTS + "\ncheck(add)\n"
    assert check_program(GOOD, already_called, "add").count("check(add)") == 1
    assert "check(" not in check_program(GOOD, MBPP_TESTS, "add")  # no check() to call


def test_prelude_comes_first_and_a_body_continues_it():
    prompt = 'def add(a, b):\n    """Add two numbers."""'
    program = check_program("    return a + b\n", HUMANEVAL_TESTS, "add", prelude=prompt)
    assert program.startswith(prompt + "\n    return a + b\n")
    assert run(program).passed


def test_problem_program_uses_the_problems_prelude_tests_and_entry_point():
    solution = "class Solution:\n    def add(self, a: List[int]) -> int:\n        return sum(a)\n"
    problem = Problem(
        id="t/1",
        instruction="Add.",
        response=solution,
        tests="def check(candidate):\n    assert candidate([1, 2]) == 3\n",
        entry_point="Solution().add",
        metadata={"prelude": "from typing import List"},  # the solution uses List bare
    )
    program = problem_program(problem, problem.response)
    assert program == check_program(
        problem.response, problem.tests or "", "Solution().add", prelude="from typing import List"
    )
    assert run(program).passed
    wrong = problem.response.replace("sum(a)", "max(a)")
    assert run(problem_program(problem, wrong)).verdict is Verdict.FAILED
    no_tests = problem.model_copy(update={"tests": None, "metadata": {}})
    assert problem_program(no_tests, "x = 1\n") == "x = 1\n"


# --- real LeetCode problems --------------------------------------------------------------------


@pytest.fixture(scope="module")
def leetcode_code(shared_data: Path) -> list[Problem]:
    return P.leetcode(shared_data)[0]


def _with_helper(problems: list[Problem], name: str) -> Problem:
    return next(p for p in problems if f"def {name}(" in p.metadata["prelude"])


def test_leetcode_reference_solutions_pass(leetcode_code: list[Problem]) -> None:
    # A few plain ones plus ones whose prelude defines the list/tree helpers the tests use.
    chosen = [
        *leetcode_code[:4],
        _with_helper(leetcode_code, "list_node"),
        _with_helper(leetcode_code, "tree_node"),
    ]
    results = run_many([problem_program(p, p.response) for p in chosen], limits=QUICK)
    verdicts = [(p.id, r.verdict.value, r.detail) for p, r in zip(chosen, results, strict=True)]
    assert verdicts == [(p.id, "passed", "ok") for p in chosen]


def test_leetcode_wrong_solution_fails(leetcode_code: list[Problem]) -> None:
    two_sum = leetcode_code[0]
    wrong = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 0]\n"
    result = run(problem_program(two_sum, wrong))
    assert result.verdict is Verdict.FAILED and "AssertionError" in result.detail
