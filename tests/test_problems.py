"""Tests for fgit.problems: the data folder, the dataset loaders and custom-mapped files."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fgit import problems as P
from fgit.records import Problem, RecordError


def _run(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=10
    )


def _write_jsonl(path: Path, *objs: Any) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Data folder
# ---------------------------------------------------------------------------------------------


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv(P.ENV_VAR, str(env))
    assert P.data_dir(tmp_path) == tmp_path  # explicit wins
    assert P.data_dir() == env
    monkeypatch.delenv(P.ENV_VAR)
    beside_checkout = Path(P.__file__).resolve().parents[3] / "shared" / "data"
    if beside_checkout.is_dir():
        assert P.default_data_dir() == beside_checkout
        assert P.data_dir() == beside_checkout


def test_missing_data_dir_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope"
    monkeypatch.setenv(P.ENV_VAR, str(missing))
    with pytest.raises(P.DataError) as info:
        P.data_dir()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(missing) in message and "$FGIT_DATA_DIR" in message and "--data-dir" in message


def test_missing_data_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(P.DataError, match=re.escape(str(tmp_path / "mbpp" / "mbpp.jsonl"))):
        P.mbpp(tmp_path)


# ---------------------------------------------------------------------------------------------
# MBPP
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mbpp_all(shared_data: Path) -> list[Problem]:
    problems, report = P.mbpp(shared_data)
    assert report.loaded == len(problems) and not report.skipped
    return problems


def test_mbpp_counts_ids_and_splits(mbpp_all: list[Problem]) -> None:
    assert len(mbpp_all) == 974
    assert len({p.id for p in mbpp_all}) == 974
    assert all(p.id == f"mbpp/{p.metadata['task_id']}" and p.source == "mbpp" for p in mbpp_all)
    splits = Counter(p.metadata["split"] for p in mbpp_all)
    assert splits == {"prompt": 10, "test": 500, "validation": 90, "train": 374}
    assert P.mbpp_split(11) == "test" and P.mbpp_split(974) == "train"
    with pytest.raises(ValueError):
        P.mbpp_split(975)


def test_mbpp_text_format(mbpp_all: list[Problem]) -> None:
    first = mbpp_all[0]
    assert first.instruction.startswith("Write a function to find the minimum cost path")
    assert first.instruction.endswith(
        "\nYour code should pass this test:\nassert min_cost([[1, 2, 3], [4, 8, 2], [1, 5, 3]], "
        "2, 2) == 8"
    )
    assert first.response.startswith("R = 3\nC = 3\ndef min_cost(cost, m, n): \n\ttc")
    for problem in mbpp_all:  # the file stores CRLF; four solutions end in a lone CR
        assert "\r" not in problem.response and "\r" not in (problem.tests or "")
        assert problem.tests is not None and problem.tests.count("assert ") >= 3


def test_mbpp_entry_points(mbpp_all: list[Problem]) -> None:
    by_id = {p.id: p for p in mbpp_all}
    for problem in mbpp_all:
        assert problem.entry_point is not None
        assert re.search(rf"\b(def|class) {re.escape(problem.entry_point)}\b", problem.response)
    assert by_id["mbpp/1"].entry_point == "min_cost"
    assert by_id["mbpp/912"].entry_point == "lobb_num"  # assert int(lobb_num(5, 3)) == 35


def test_mbpp_split_filter(shared_data: Path) -> None:
    train, report = P.mbpp(shared_data, splits={"train"})
    assert len(train) == report.loaded == 374
    assert {p.metadata["split"] for p in train} == {"train"}
    both, _ = P.mbpp(shared_data, splits=["prompt", "validation"])
    assert len(both) == 100
    with pytest.raises(ValueError, match="unknown MBPP split"):
        P.mbpp(shared_data, splits={"dev"})


@pytest.mark.parametrize("task", [1, 2, 11, 115, 511, 601, 847, 912])
def test_mbpp_reference_runs(mbpp_all: list[Problem], task: int) -> None:
    problem = next(p for p in mbpp_all if p.metadata["task_id"] == task)
    result = _run(f"{problem.response}\n\n{problem.tests}")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# LeetCode
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def leetcode_code(shared_data: Path) -> list[Problem]:
    problems, report = P.leetcode(shared_data)
    assert report.loaded == len(problems) and not report.skipped
    return problems


def test_leetcode_counts_and_fields(leetcode_code: list[Problem]) -> None:
    assert len(leetcode_code) == 1890
    assert len({p.id for p in leetcode_code}) == 1890
    two_sum = leetcode_code[0]
    assert two_sum.id == "leetcode/two-sum" and two_sum.source == "leetcode"
    assert two_sum.entry_point == "Solution().twoSum"
    assert two_sum.response.startswith("class Solution:\n    def twoSum(")
    assert two_sum.tests is not None and two_sum.tests.startswith("def check(candidate):")
    assert two_sum.metadata["prelude"].startswith("from typing import *")
    assert two_sum.metadata["difficulty"] == "Easy"
    assert "```python\nclass Solution:" in two_sum.instruction  # statement + starter code
    for problem in leetcode_code:
        assert problem.entry_point is not None and problem.entry_point.startswith("Solution().")
        assert problem.metadata["prelude"].strip()


def test_leetcode_markdown_mode(shared_data: Path, leetcode_code: list[Problem]) -> None:
    markdown, report = P.leetcode(shared_data, response="markdown")
    assert report.source == "leetcode-markdown" and len(markdown) == 1890
    assert [p.id for p in markdown] == [p.id for p in leetcode_code]
    assert "```python" in markdown[0].response
    assert markdown[0].metadata["response_format"] == "markdown"
    assert markdown[0].tests == leetcode_code[0].tests
    with pytest.raises(ValueError):
        P.leetcode(shared_data, response="html")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Alpaca-style data
# ---------------------------------------------------------------------------------------------


def test_codealpaca_skips_and_reports_empty_outputs(shared_data: Path) -> None:
    problems, report = P.codealpaca(shared_data)
    assert len(problems) == report.loaded == 2015
    assert report.n_skipped == 2
    assert [s.where.rsplit(" ", 1)[-1] for s in report.skipped] == ["238", "1860"]
    assert report.reasons() == {"field 'output' must be a non-empty string": 2}
    assert "2015 loaded, 2 skipped" in report.summary()
    assert all(re.fullmatch(r"codealpaca/sha1:[0-9a-f]{12}", p.id) for p in problems)
    assert len({p.id for p in problems}) == 2015
    assert {p.source for p in problems} == {"codealpaca"}
    assert problems[0].metadata == {"file": "code_alpaca_2k.json", "item": 1}
    # A non-blank Alpaca input is appended after a blank line (records' rule).
    assert problems[0].instruction.endswith("\n\ndataList = [3, 9, 3, 5, 7, 9, 5]")
    assert json.loads(json.dumps(report.to_dict()))["skipped"][0]["reason"]


def test_evol_codealpaca_reads_both_files(shared_data: Path) -> None:
    problems, report = P.evol_codealpaca(shared_data)
    assert len(problems) == report.loaded == 1966 + 1953
    assert not report.skipped and len(report.files) == 2
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.id.startswith("evol-codealpaca/sha1:") for p in problems)
    files = Counter(p.metadata["file"] for p in problems)
    assert files == {"evol-codealpaca-2k-1.json": 1966, "evol-codealpaca-2k-2.json": 1953}


def test_presets(shared_data: Path) -> None:
    assert set(P.PRESETS) == {
        "mbpp",
        "leetcode",
        "leetcode-markdown",
        "codealpaca",
        "evol-codealpaca",
        "humaneval-train",
        "humaneval-heldout",
    }
    problems, report = P.load_preset("leetcode-markdown", shared_data)
    assert report.source == "leetcode-markdown" and len(problems) == 1890
    problems, _ = P.load_preset("mbpp", shared_data, splits={"validation"})
    assert len(problems) == 90
    with pytest.raises(ValueError, match="unknown dataset 'humaneval'"):
        P.load_preset("humaneval", shared_data)


# ---------------------------------------------------------------------------------------------
# Your own files
# ---------------------------------------------------------------------------------------------

QA_MAPPING = {"instruction": "question", "response": "answer", "tests": "test", "id": "qid"}


def test_jsonl_with_mapping(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "qa.jsonl",
        {
            "qid": 7,
            "question": "Add.",
            "answer": "def add(a, b):\n    return a + b\n",
            "test": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
            "level": "easy",
        },
        {"qid": "x", "question": "Q", "answer": "A", "entry_point": "f"},
    )
    problems, report = P.jsonl(path, QA_MAPPING)
    assert report.loaded == 2 and report.source == "qa" and not report.skipped
    first, second = problems
    assert first.id == "qa/7" and first.source == "qa"
    assert first.tests == "assert add(1, 2) == 3\nassert add(0, 0) == 0"
    assert first.metadata == {"level": "easy"}  # unmapped columns are kept
    assert second.entry_point == "f" and second.tests is None  # same-named column used


def test_jsonl_mapping_errors_name_file_and_line(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "bad.jsonl",
        {"qid": 1, "question": "Q", "answer": "A"},
        {"qid": 2, "question": "Q"},
        {"qid": 3, "question": "Q", "answer": ""},
        {"qid": 1, "question": "Q2", "answer": "A2"},
    )
    with pytest.raises(RecordError) as info:
        P.jsonl(path, QA_MAPPING)
    assert str(info.value) == f"{path}:2: missing column 'answer' (mapped to 'response')"
    problems, report = P.jsonl(path, QA_MAPPING, skip_invalid=True, source="mine")
    assert [p.id for p in problems] == ["mine/1"]
    assert [str(s) for s in report.skipped] == [
        f"{path}:2: missing column 'answer' (mapped to 'response')",
        f"{path}:3: field 'answer' must be a non-empty string",
        f"{path}:4: duplicate id 'mine/1' (first seen on line 1)",
    ]


def test_jsonl_json_array_and_bad_json(tmp_path: Path) -> None:
    array = tmp_path / "items.json.gz"
    with gzip.open(array, "wt", encoding="utf-8") as fh:
        json.dump([{"question": "Q", "answer": "A"}, {"question": 5, "answer": "A"}], fh)
    with pytest.raises(RecordError, match=r"items\.json\.gz: item 2: field 'question'"):
        P.jsonl(array, {"instruction": "question", "response": "answer"})
    problems, report = P.jsonl(
        array, {"instruction": "question", "response": "answer"}, skip_invalid=True
    )
    assert problems[0].id.startswith("items/sha1:") and report.n_skipped == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "Q", "answer": "A"}\n{nope\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"broken\.jsonl:2: invalid JSON"):
        P.jsonl(broken, {"instruction": "question", "response": "answer"})


def test_jsonl_without_mapping_reads_known_formats(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "mixed.jsonl",
        {"instruction": "Say hi", "input": "", "output": "hi"},
        {"id": "n1", "instruction": "I", "response": "R", "source": "elsewhere"},
    )
    problems, report = P.jsonl(path)
    assert report.loaded == 2
    assert problems[0].id.startswith("mixed/sha1:") and problems[0].source == "mixed"
    assert problems[1].id == "mixed/n1" and problems[1].source == "elsewhere"


def test_jsonl_rejects_bad_mapping_and_missing_file(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "a.jsonl", {"question": "Q", "answer": "A"})
    with pytest.raises(ValueError, match="mapping targets"):
        P.jsonl(path, {"prompt": "question"})
    with pytest.raises(P.DataError):
        P.jsonl(tmp_path / "missing.jsonl")


def test_hf_without_datasets_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes ``import datasets`` fail
    with pytest.raises(P.DataError, match="pip install datasets"):
        P.hf("org/some-dataset", "train", {"instruction": "q", "response": "a"})
