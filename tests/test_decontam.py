"""Tests for fgit.decontam: exact MBPP ids, word n-gram overlap, the report, and real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fgit import problems as P
from fgit.decontam import (
    ROW_HEADER,
    BenchmarkIndex,
    BenchmarkItem,
    decontaminate,
    informative,
    load_benchmark_texts,
    mbpp_task_id,
    tokenize,
)
from fgit.problems import DataError
from fgit.records import Problem

HE_PROMPT = '''def separate_paren_groups(paren_string: str) -> List[str]:
    """ Input to this function is a string containing multiple groups of nested parentheses.
    Your goal is to separate those group into separate strings and return the list of those.
    Separate groups are balanced (each open brace is properly closed) and not nested within
    each other. Ignore any spaces in the input string.
    """
'''
HE_SOLUTION = """    result = []
    current_string = []
    current_depth = 0

    for c in paren_string:
        if c == '(':
            current_depth += 1
            current_string.append(c)
        elif c == ')':
            current_depth -= 1
            current_string.append(c)

            if current_depth == 0:
                result.append(''.join(current_string))
                current_string.clear()

    return result
"""
NESTED_LOOPS = "for i in range(n):\n    for j in range(i + 1, n):\n        if a[i] > a[j]:\n"

BENCH = [
    BenchmarkItem("humaneval", "HumanEval/1", (HE_PROMPT, HE_SOLUTION)),
    BenchmarkItem("humaneval", "HumanEval/2", ("Return the truncated part.", NESTED_LOOPS * 2)),
    BenchmarkItem("mbpp+", "Mbpp/5", ("Write a function to count ways.", "def f(): pass"), 5),
]


def _problem(pid: str, instruction: str, response: str = "print(1)", **kw: Any) -> Problem:
    return Problem(id=pid, instruction=instruction, response=response, **kw)


def test_tokenize_and_informative() -> None:
    assert tokenize("Sum_Of(a,b) != 3.5\n# x") == ["sum_of", "a", "b", "3", "5", "x"]
    assert informative("parentheses") and informative("sum_of")
    assert not any(informative(t) for t in ("for", "range", "self", "12345", "ab", "none"))


def test_copied_prompt_fragment_is_removed_with_its_task() -> None:
    fragment = (
        "Please write code. Input to this function is a string containing multiple groups "
        "of nested parentheses. Thanks!"
    )
    copied = _problem("x/1", fragment)
    clean = _problem("x/2", "Write a function that reverses a linked list in place.")
    kept, report = decontaminate([copied, clean], BENCH)
    assert kept == [clean]
    assert report.total == 2 and report.removed == 1 and report.kept == 1
    (match,) = report.matches
    assert (match.problem_id, match.benchmark, match.task_id, match.reason) == (
        "x/1",
        "humaneval",
        "HumanEval/1",
        "ngram",
    )
    assert len(match.example.split()) == 13 and match.example in " ".join(tokenize(fragment))
    assert report.removed_by_benchmark == {"humaneval": 1}
    assert report.removed_by_reason == {"ngram": 1}


def test_copied_solution_in_response_is_removed() -> None:
    problem = _problem("x/3", "Split parentheses groups.", "def g(paren_string):\n" + HE_SOLUTION)
    kept, report = decontaminate([problem], BENCH)
    assert kept == [] and report.matches[0].task_id == "HumanEval/1"


def test_mbpp_id_match_is_exact_and_only_for_mbpp_problems() -> None:
    same_task = _problem("mbpp/5", "Totally reworded.", source="mbpp", metadata={"task_id": 5})
    other_task = _problem("mbpp/6", "Reworded too.", source="mbpp", metadata={"task_id": 6})
    not_mbpp = _problem("leetcode/5", "Also number five.", source="leetcode")
    kept, report = decontaminate([same_task, other_task, not_mbpp], BENCH)
    assert kept == [other_task, not_mbpp]
    assert [(m.problem_id, m.task_id, m.reason) for m in report.matches] == [
        ("mbpp/5", "Mbpp/5", "mbpp-id")
    ]
    assert mbpp_task_id(_problem("mbpp/17", "x")) == 17  # the id alone identifies MBPP
    assert mbpp_task_id(not_mbpp) is None


def test_code_idioms_alone_do_not_match_unless_asked() -> None:
    # A generic nested loop shares 13-grams with HumanEval/2's solution but no task-specific
    # words: kept by default, removed by the plain rule (min_informative=0).
    problem = _problem("x/4", "Count inversions.", NESTED_LOOPS + "            count += 1\n")
    kept, _ = decontaminate([problem], BENCH)
    assert kept == [problem]
    kept, report = decontaminate([problem], BENCH, min_informative=0)
    assert kept == [] and report.matches[0].task_id == "HumanEval/2"


def test_short_prompts_are_still_protected() -> None:
    short = BenchmarkItem("mbpp+", "Mbpp/127", ("Write a function to multiply two integers.", ""))
    tiny = BenchmarkItem(
        "humaneval",
        "HumanEval/53",
        (
            'def add(x: int, y: int):\n    """Add two '
            'numbers x and y\n    >>> add(2, 3)\n    5\n    """\n',
            "return x + y",
        ),
    )
    index = BenchmarkIndex([short, tiny])
    copy = _problem("x/5", "Please: write a function to multiply two integers!")
    near = _problem("x/6", "Write a function to multiply two integers and add one.")
    partial = _problem(
        "x/7", "Implement def add(x: int, y: int): Add two numbers x and y. >>> add(2, 3) gives 5"
    )
    unrelated = _problem("x/8", "Write a function to multiply two matrices.")
    kept, report = decontaminate([copy, near, partial, unrelated], index)
    assert kept == [unrelated]
    assert [m.task_id for m in report.matches] == ["Mbpp/127", "Mbpp/127", "HumanEval/53"]
    assert index.unmatchable_texts == {"mbpp+": 1, "humaneval": 1}  # the two solutions


def test_ngram_is_configurable() -> None:
    problem = _problem("x/9", "separate those group into separate strings please")
    assert decontaminate([problem], BENCH)[0] == [problem]
    kept, report = decontaminate([problem], BENCH, ngram=6, min_informative=3)
    assert kept == [] and report.ngram == 6
    with pytest.raises(ValueError):
        BenchmarkIndex(BENCH, ngram=0)
    with pytest.raises(ValueError, match="differs from the prebuilt index"):
        decontaminate([problem], BenchmarkIndex(BENCH), ngram=6)


def test_report_rows_and_json() -> None:
    problems = [
        _problem(
            "mbpp/5",
            "Input to this function is a string containing multiple groups of nested parentheses.",
            source="mbpp",
            metadata={"task_id": 5},
        ),
        _problem("x/10", "Unrelated."),
    ]
    kept, report = decontaminate(problems, BENCH)
    assert [p.id for p in kept] == ["x/10"]
    assert report.removed == 1 and report.removed_ids() == ["mbpp/5"]
    # One problem, two benchmarks and both reasons: counted once under each.
    assert report.removed_by_reason == {"mbpp-id": 1, "ngram": 1}
    assert report.removed_by_benchmark == {"humaneval": 1, "mbpp+": 1}
    rows = report.rows()
    assert len(ROW_HEADER) == 5 and all(len(row) == 5 for row in rows)
    assert {row[3] for row in rows} == {"mbpp-id", "ngram"}
    data = json.loads(report.to_json())
    assert data["kept"] == 1 and data["ngram"] == 13 and data["min_informative"] == 4
    assert data["matches"][0]["problem_id"] == "mbpp/5"
    assert "1 of 2 problems removed, 1 kept" in report.summary()


def test_unknown_benchmark_and_missing_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark_texts(["humaneval-x"], tmp_path)
    with pytest.raises(DataError, match=r"HumanEvalPlus\.jsonl\.gz"):
        load_benchmark_texts(["humaneval+"], tmp_path)
    assert load_benchmark_texts([], tmp_path / "absent") == []


# ---------------------------------------------------------------------------------------------
# Real data
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benchmark_items(shared_data: Path) -> list[BenchmarkItem]:
    return load_benchmark_texts(data_dir=shared_data)


def test_benchmark_items(benchmark_items: list[BenchmarkItem]) -> None:
    counts: dict[str, int] = {}
    for item in benchmark_items:
        counts[item.name] = counts.get(item.name, 0) + 1
    assert counts == {"humaneval": 164, "humaneval+": 164, "mbpp+": 378, "mbpp-test": 500}
    mbpp_plus = {i.mbpp_task_id for i in benchmark_items if i.name == "mbpp+"}
    assert min(mbpp_plus) == 2 and max(mbpp_plus) == 809  # type: ignore[type-var]
    test_ids = {i.mbpp_task_id for i in benchmark_items if i.name == "mbpp-test"}
    assert test_ids == set(range(11, 511))


def test_mbpp_against_mbpp_plus_removes_every_plus_id(
    shared_data: Path, benchmark_items: list[BenchmarkItem]
) -> None:
    problems, _ = P.mbpp(shared_data)
    plus = [i for i in benchmark_items if i.name == "mbpp+"]
    plus_ids = {i.mbpp_task_id for i in plus}
    kept, report = decontaminate(problems, plus)
    remaining = {p.metadata["task_id"] for p in kept}
    assert remaining & plus_ids == set()
    assert report.removed_by_reason["mbpp-id"] == len(plus_ids) == 378
    # Near-duplicate MBPP tasks (e.g. "sum of fourth power of first n even natural numbers")
    # go too, through the n-gram rule.
    print(f"\nMBPP (974, all splits) vs MBPP+: {report.summary()}")
    assert len(kept) <= 974 - 378


def test_mbpp_against_all_benchmarks_leaves_no_test_task(
    shared_data: Path, benchmark_items: list[BenchmarkItem]
) -> None:
    problems, _ = P.mbpp(shared_data)
    kept, report = decontaminate(problems, benchmark_items)
    assert {p.metadata["split"] for p in kept} <= {"prompt", "validation", "train"}
    assert report.removed_by_reason["mbpp-id"] == 654  # 500 test ids + 154 MBPP+ ids elsewhere
    print(f"\nMBPP vs all benchmarks: {report.summary()}")


def test_leetcode_against_humaneval_and_mbpp_plus(
    shared_data: Path, benchmark_items: list[BenchmarkItem]
) -> None:
    problems, _ = P.leetcode(shared_data)
    chosen = [i for i in benchmark_items if i.name in {"humaneval", "humaneval+", "mbpp+"}]
    kept, report = decontaminate(problems, chosen)
    print(f"\nLeetCode vs HumanEval(+)/MBPP+: {report.summary()}")
    for row in report.rows():
        print("  ", row)
    assert report.total == 1890 and len(kept) == report.kept
    assert report.removed < 20  # a handful at most: LeetCode is not built from these
    assert {m.problem_id for m in report.matches} == set(report.removed_ids())
