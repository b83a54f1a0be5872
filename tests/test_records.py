"""Tests for fgit.records: schema, format detection, validation errors and safe writing."""

from __future__ import annotations

import gzip
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fgit.records import (
    Message,
    Pair,
    Problem,
    RecordError,
    TruncatedTailWarning,
    derive_id,
    iter_records,
    read_completed_ids,
    read_json_records,
    read_pairs,
    read_problems,
    repair_truncated_tail,
    write_records,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _jsonl(path: Path, *objs: Any) -> Path:
    lines = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _problem(i: int = 1, **kw: Any) -> Problem:
    base: dict[str, Any] = {"id": f"p{i}", "instruction": f"task {i}", "response": f"answer {i}"}
    return Problem(**(base | kw))


def _pair(i: int = 1, **kw: Any) -> Pair:
    base: dict[str, Any] = {
        "id": f"p{i}",
        "instruction": f"task {i}",
        "response": f"answer {i}",
        "incorrect": f"wrong {i}",
    }
    return Pair(**(base | kw))


def _error(path: Path, kind: str = "problem") -> RecordError:
    with pytest.raises(RecordError) as info:
        list(iter_records(path, kind))  # type: ignore[call-overload]
    return info.value


# --- schema ---------------------------------------------------------------------------------


def test_models_are_frozen_and_strict() -> None:
    p = _problem()
    with pytest.raises(ValueError):
        p.id = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Problem(id="x", instruction="  \n", response="r")
    with pytest.raises(ValueError):
        Problem(id="x", instruction="i", response="r", extra=1)  # type: ignore[call-arg]
    assert issubclass(Pair, Problem)
    assert list(Pair.model_fields)[-2:] == ["incorrect", "selection"]


# --- formats --------------------------------------------------------------------------------


def test_native_problems_keep_exact_text(tmp_path: Path) -> None:
    rec = {
        "id": "a",
        "instruction": "  Write f.\n",
        "response": "def f():\n    return 1\n\n",
        "tests": "assert f() == 1",
        "entry_point": "f",
        "source": "toy",
        "metadata": {"k": [1, 2]},
    }
    other = {"id": "b", "instruction": "i", "response": "r"}
    path = _jsonl(tmp_path / "p.jsonl", rec, "", "   ", other)
    problems = read_problems(path)
    assert [p.id for p in problems] == ["a", "b"]
    assert problems[0].model_dump() == rec
    assert problems[1].tests is None and problems[1].metadata == {}


def test_iter_records_positions_are_line_numbers(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "p.jsonl", _problem(1).model_dump(), "", _problem(2).model_dump())
    assert [n for n, _ in iter_records(path, "problem")] == [1, 3]
    assert [n for n, _ in iter_records(path, Problem)] == [1, 3]


def test_problems_from_pairs_file_drop_pair_fields(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    write_records(path, [_pair(1, selection={"similarity": 0.9})])
    (problem,) = read_problems(path)
    assert type(problem) is Problem
    assert problem == _problem(1)
    (pair,) = read_pairs(path)
    assert pair.incorrect == "wrong 1" and pair.selection == {"similarity": 0.9}


def test_pairs_from_problems_file_is_error(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "p.jsonl", _problem().model_dump())
    assert str(_error(path, "pair")) == f"{path}:1: missing field 'incorrect'"


def test_alpaca_jsonl(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "a.jsonl",
        {"instruction": "Sum", "input": "1, 2", "output": "3", "lang": "en"},
        {"instruction": "Hi", "input": "", "output": "Hello", "task_id": 7, "test": "t"},
        {"instruction": "Hi", "input": " \n", "output": "Hey"},
        {"instruction": "Hi", "output": "Yo", "metadata": {"a": 1}, "source": "s"},
    )
    a, b, c, d = read_problems(path)
    assert a.instruction == "Sum\n\n1, 2" and a.response == "3"
    assert a.metadata == {"lang": "en"}
    assert a.id == derive_id("Sum\n\n1, 2", "3")
    assert (b.id, b.instruction, b.tests) == ("7", "Hi", "t")
    assert c.instruction == "Hi"  # whitespace-only input is not appended
    assert d.metadata == {"a": 1} and d.source == "s"


def test_alpaca_error_names_source_field(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", {"instruction": "x", "output": "  "})
    assert str(_error(path)) == f"{path}:1: field 'output' must be a non-empty string"
    path = _jsonl(tmp_path / "b.jsonl", {"input": "x", "output": "y"})
    assert str(_error(path)) == f"{path}:1: missing field 'instruction'"
    path = _jsonl(tmp_path / "c.jsonl", {"instruction": "x", "input": 3, "output": "y"})
    assert str(_error(path)) == f"{path}:1: field 'input' must be a string, got number"
    path = _jsonl(tmp_path / "d.jsonl", {"instruction": "x", "output": "y"})
    assert "cannot read it as a pair" in str(_error(path, "pair"))


def test_json_array_plain_and_gz(tmp_path: Path) -> None:
    items = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(3)]
    plain = tmp_path / "a.json"
    plain.write_text(json.dumps(items), encoding="utf-8")
    packed = tmp_path / "a.json.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as fh:
        json.dump(items, fh)
    assert read_problems(plain) == read_problems(packed)
    assert [n for n, _ in iter_records(plain, "problem")] == [1, 2, 3]


def test_json_array_errors_use_item_index(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"instruction": "q", "output": "a"}, "oops"]), encoding="utf-8")
    err = _error(path)
    assert str(err) == f"{path}: item 2: expected a JSON object, got string"
    assert (err.path, err.line, err.item) == (str(path), None, 2)

    path.write_text(json.dumps({"instruction": "q"}), encoding="utf-8")
    assert str(_error(path)) == f"{path}: expected a JSON array of records, got object"

    path.write_text('[\n{"instruction": "q",\n', encoding="utf-8")
    err = _error(path)
    assert str(err).startswith(f"{path}:3: invalid JSON (")

    row = {"id": "x", "instruction": "q", "output": "a"}
    path.write_text(json.dumps([row, row]), encoding="utf-8")
    assert str(_error(path)) == f"{path}: item 2: duplicate id 'x' (first seen on item 1)"


def test_trl_preference_strings(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "t.jsonl",
        {"prompt": "Add.", "chosen": "a+b", "rejected": "a-b", "score": 1},
    )
    (pair,) = read_pairs(path)
    assert (pair.instruction, pair.response, pair.incorrect) == ("Add.", "a+b", "a-b")
    assert pair.id == derive_id("Add.", "a+b") and pair.metadata == {"score": 1}
    (problem,) = read_problems(path)
    assert type(problem) is Problem and problem.response == "a+b"
    assert problem.metadata == {"score": 1}


def test_trl_preference_conversational(tmp_path: Path) -> None:
    rec = {
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Add."},
        ],
        "chosen": [{"role": "assistant", "content": "a+b"}],
        "rejected": [{"role": "assistant", "content": "a-b"}],
        "id": "c1",
    }
    (pair,) = read_pairs(_jsonl(tmp_path / "t.jsonl", rec))
    assert (pair.id, pair.instruction, pair.response, pair.incorrect) == (
        "c1",
        "Add.",
        "a+b",
        "a-b",
    )
    assert pair.metadata == {}
    assert [m.model_dump() for m in pair.context] == [{"role": "system", "content": "Be brief."}]


def test_trl_sft_prompt_completion(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "t.jsonl",
        {"prompt": "Add.", "completion": "a+b"},
        {
            "prompt": [{"role": "user", "content": "Sub."}],
            "completion": [{"role": "assistant", "content": "a-b"}],
            "question_id": "q2",
        },
    )
    a, b = read_problems(path)
    assert (a.instruction, a.response) == ("Add.", "a+b")
    assert (b.id, b.instruction, b.response) == ("q2", "Sub.", "a-b")
    assert "cannot read a pair" in str(_error(path, "pair"))


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            {"prompt": [{"role": "system", "content": "s"}], "completion": "d"},
            "field 'prompt' must end with a user message, got system",
        ),
        (
            {
                "prompt": [
                    {"role": "user", "content": "a"},
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "c"},
                ],
                "completion": "d",
            },
            "field 'prompt': a system message may only come first",
        ),
        (
            {"prompt": [{"role": "tool", "content": "x"}], "completion": "d"},
            "field 'prompt': message 1 has unsupported role 'tool'",
        ),
        (
            {"prompt": [{"role": "user"}], "completion": "d"},
            "field 'prompt': message 1 must be an object with string 'role' and 'content' "
            "(or sharegpt's 'from' and 'value')",
        ),
        (
            {"prompt": "p", "chosen": [{"role": "user", "content": "x"}], "rejected": "r"},
            "field 'chosen' must be a string or one assistant message",
        ),
        (
            {"prompt": 3, "completion": "d"},
            "field 'prompt' must be a string or a list of messages, got number",
        ),
        (
            {"chosen": "c", "rejected": "r"},
            "record has no 'prompt'; an implicit prompt needs 'chosen' and 'rejected' as "
            "conversations",
        ),
        ({"prompt": "p", "completion": ""}, "field 'completion' must be a non-empty string"),
        (
            {"prompt": "p", "completion": "c", "chosen": "x"},
            "record mixes 'completion' with preference fields 'chosen'/'rejected'",
        ),
    ],
)
def test_trl_errors(tmp_path: Path, record: dict[str, Any], reason: str) -> None:
    path = _jsonl(tmp_path / "t.jsonl", {"prompt": "ok", "completion": "fine"}, record)
    assert str(_error(path)) == f"{path}:2: {reason}"


def test_trl_pair_missing_rejected(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", {"prompt": "p", "chosen": "c"})
    assert str(_error(path, "pair")) == f"{path}:1: missing field 'rejected'"
    assert read_problems(path)[0].response == "c"


# --- validation errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"id": "a", ', "invalid JSON (Expecting property name enclosed in double quotes"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('{"id": "a", "instruction": "i"}', "missing field 'response'"),
        ('{"instruction": "i", "response": "r"}', "missing field 'id'"),
        ('{"id": "a"}', "missing fields 'instruction', 'response'"),
        (
            '{"id": "a", "instruction": " ", "response": "r"}',
            "field 'instruction' must be a non-empty string",
        ),
        (
            '{"id": 5, "instruction": "i", "response": "r"}',
            "field 'id' must be a non-empty string, got number",
        ),
        (
            '{"id": "a", "instruction": "i", "response": "r", "tests": 1}',
            "field 'tests' must be a string or null, got number",
        ),
        (
            '{"id": "a", "instruction": "i", "response": "r", "metadata": []}',
            "field 'metadata' must be an object, got array",
        ),
        (
            '{"id": "a", "instruction": "i", "response": "r", "zz": 1, "yy": 2}',
            "unknown fields 'zz', 'yy'",
        ),
    ],
)
def test_error_messages(tmp_path: Path, line: str, reason: str) -> None:
    path = _jsonl(tmp_path / "p.jsonl", _problem(9).model_dump(), "", line)
    err = _error(path)
    assert str(err).startswith(f"{path}:3: {reason}")
    assert "\n" not in str(err)
    assert (err.path, err.line, err.item) == (str(path), 3, None)
    assert isinstance(err, ValueError)


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    assert str(_error(path)) == f"{path}:1: invalid UTF-8 at byte 8"


def test_read_json_records_gives_objects_with_their_lines(tmp_path: Path) -> None:
    """The one reader of plain JSON lines (samples files, training logs, benchmark files)."""
    path = _jsonl(tmp_path / "x.jsonl", {"a": 1}, "", {"b": 2})
    assert list(read_json_records(path)) == [(1, {"a": 1}), (3, {"b": 2})]
    for bad, reason in (("{oops", "invalid JSON"), ("[1]", "expected a JSON object")):
        _jsonl(path, {"a": 1}, bad)
        with pytest.raises(RecordError, match=rf"x\.jsonl:2: {reason}"):
            list(read_json_records(path))


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    rec = _problem().model_dump()
    path = _jsonl(tmp_path / "p.jsonl", rec, _problem(2).model_dump(), rec)
    assert str(_error(path)) == f"{path}:3: duplicate id 'p1' (first seen on line 1)"


def test_errors_list_skips_bad_records(tmp_path: Path) -> None:
    rec = _problem().model_dump()
    path = _jsonl(tmp_path / "p.jsonl", rec, "not json", rec, _problem(2).model_dump())
    errors: list[RecordError] = []
    assert [p.id for p in read_problems(path, errors=errors)] == ["p1", "p2"]
    assert [e.line for e in errors] == [2, 3]


def test_record_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(RecordError("f.jsonl", "bad", line=4)))
    assert (str(err), err.line, err.item) == ("f.jsonl:4: bad", 4, None)


def test_bad_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        list(iter_records(tmp_path / "x.jsonl", "problems"))  # type: ignore[call-overload]


# --- derived ids ----------------------------------------------------------------------------


def test_derived_ids_are_stable() -> None:
    # Pinned values: cached artefacts key on these ids, so they must never change.
    assert derive_id("a", "b") == "sha1:4a3dec2d1f82"
    assert derive_id("Write f.", "def f(): pass") == "sha1:e76c870cd6f9"
    assert derive_id("ab", "") != derive_id("a", "b")  # the separator matters


def test_derived_ids_same_across_reads_and_formats(tmp_path: Path) -> None:
    alpaca = _jsonl(tmp_path / "a.jsonl", {"instruction": "Q", "input": "x", "output": "A"})
    trl = _jsonl(tmp_path / "t.jsonl", {"prompt": "Q\n\nx", "completion": "A"})
    assert read_problems(alpaca)[0].id == read_problems(alpaca)[0].id == read_problems(trl)[0].id


# --- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    pairs = [
        _pair(1, tests="assert f()", entry_point="f", source="s", metadata={"n": [1, {"x": None}]}),
        _pair(2, instruction="ünïcode  \u2028 line sep\r\n", selection={"sim": 0.5}),
        _pair(3, response="\ud800 lone surrogate"),
    ]
    path = tmp_path / name
    assert write_records(path, pairs) == 3
    assert read_pairs(path) == pairs
    assert [p.model_dump() for p in read_problems(path)] == [
        {k: v for k, v in p.model_dump().items() if k not in ("incorrect", "selection")}
        for p in pairs
    ]
    if name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            first = json.loads(fh.readline())
    else:
        first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    # Every field in declaration order; an empty context is left out (single-turn records).
    assert list(first) == [name for name in Pair.model_fields if name != "context"]
    multi = _pair(4, context=[Message(role="system", content="Be brief.")])
    write_records(path, [multi])
    assert read_pairs(path) == [multi]


def test_write_is_not_ascii_escaped(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    write_records(path, [_problem(instruction="héllo")])
    assert "héllo" in path.read_text(encoding="utf-8")


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "sub"
    b.mkdir()
    write_records(a, [_problem()])
    write_records(b / "a.jsonl.gz", [_problem()])
    assert a.read_bytes() == (b / "a.jsonl.gz").read_bytes()


def _failing(n: int) -> Iterator[Problem]:
    for i in range(n):
        yield _problem(i)
    raise RuntimeError("boom")


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_atomic_write_failure_leaves_nothing(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(RuntimeError, match="boom"):
        write_records(path, _failing(2))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_records(path, [_problem(7)])
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        write_records(path, _failing(2))
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_write_rejects_duplicates_and_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match="duplicate id 'p1'"):
        write_records(path, [_problem(), _problem()])
    with pytest.raises(TypeError):
        write_records(path, [{"id": "x"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="JSONL"):
        write_records(tmp_path / "out.json", [_problem()])
    assert list(tmp_path.iterdir()) == []


def test_written_file_has_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_records(path, [_problem()])
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# --- append and resume ----------------------------------------------------------------------


def test_append_and_completed_ids(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert read_completed_ids(path) == set()
    assert write_records(path, [_pair(1)], append=True) == 1
    assert write_records(path, [_pair(2), _pair(3)], append=True) == 2
    assert read_completed_ids(path) == {"p1", "p2", "p3"}
    assert [p.id for p in read_pairs(path)] == ["p1", "p2", "p3"]
    with pytest.raises(ValueError, match="plain"):
        write_records(tmp_path / "o.jsonl.gz", [_pair(1)], append=True)


def test_truncated_tail_is_reported_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_records(path, [_pair(1), _pair(2)], append=True)
    good = path.read_bytes()
    # Simulate a kill mid-write: half of the third line, no newline (cut inside "ü").
    partial = json.dumps(_pair(3, response="grüße").model_dump(), ensure_ascii=False).encode()
    with open(path, "ab") as fh:
        fh.write(partial[: partial.index("ü".encode()) + 1])

    with pytest.warns(TruncatedTailWarning, match=r"out\.jsonl:3: ignoring truncated last line"):
        assert read_completed_ids(path) == {"p1", "p2"}
    with pytest.raises(RecordError, match=r"out\.jsonl:3: invalid UTF-8"):
        read_pairs(path)
    with pytest.raises(ValueError, match="repair_truncated_tail"):
        write_records(path, [_pair(3)], append=True)

    assert repair_truncated_tail(path) is True
    assert path.read_bytes() == good
    assert repair_truncated_tail(path) is False
    write_records(path, [_pair(3)], append=True)
    assert [p.id for p in read_pairs(path)] == ["p1", "p2", "p3"]


def test_tail_missing_only_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    line = json.dumps(_pair(1).model_dump())
    path.write_text(line, encoding="utf-8")  # complete JSON, killed before the newline
    assert read_completed_ids(path) == {"p1"}
    assert repair_truncated_tail(path) is True
    assert path.read_text(encoding="utf-8") == line + "\n"


def test_repair_single_partial_line_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert repair_truncated_tail(path) is False
    path.write_bytes(b'{"id": "p1", "instr')
    with pytest.warns(TruncatedTailWarning):
        assert read_completed_ids(path) == set()
    assert repair_truncated_tail(path) is True
    assert path.read_bytes() == b""


def test_completed_ids_rejects_corruption_in_the_middle(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "out.jsonl", _pair(1).model_dump(), '{"id": ', _pair(2).model_dump())
    with pytest.raises(RecordError, match=r"out\.jsonl:2: invalid JSON"):
        read_completed_ids(path)


# --- real data ------------------------------------------------------------------------------


def test_real_code_alpaca_file() -> None:
    path = DATA / "instruct" / "codealpaca" / "code_alpaca_2k.json"
    if not path.exists():
        pytest.skip(f"{path} not present")
    items = json.loads(path.read_text(encoding="utf-8"))
    assert len(items) == 2017
    # Two items have an empty output; strict reading must point at the first of them.
    with pytest.raises(RecordError) as info:
        read_problems(path)
    assert str(info.value) == f"{path}: item 238: field 'output' must be a non-empty string"

    errors: list[RecordError] = []
    problems = read_problems(path, errors=errors)
    assert [e.item for e in errors] == [238, 1860]
    assert len(problems) == 2015
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.id.startswith("sha1:") and p.source is None for p in problems)


def test_write_records_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "problems.jsonl"
    record = Problem(id="x", instruction="q", response="r")
    assert write_records(path, [record]) == 1
    assert write_records(tmp_path / "c" / "more.jsonl", [record], append=True) == 1
    assert read_problems(path) == [record]
