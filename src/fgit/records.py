"""Record schema and validated JSONL I/O shared by every fgit stage.

A *problem* is an (instruction, correct response) example; a *pair* adds a similar but incorrect
response. Records are read from native fgit JSONL or from common foreign formats (Alpaca-style
JSON/JSONL, TRL preference and prompt/completion data), validated one by one, and written back as
native JSONL. Text is never normalised: later stages diff the exact strings.

Reading problems from a pairs file is allowed: the pair-only fields (``incorrect``,
``selection``) are dropped. Reading pairs from a problems file is an error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Literal, TypeVar, overload

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from fgit.errors import FgitError
from fgit.io import atomic_write

__all__ = [
    "Candidate",
    "Pair",
    "Problem",
    "RecordError",
    "TruncatedTailWarning",
    "VariantSet",
    "derive_id",
    "first_record",
    "iter_records",
    "read_completed_ids",
    "read_json_records",
    "read_pairs",
    "read_problems",
    "repair_truncated_tail",
    "write_records",
]

PathLike = str | os.PathLike[str]


def _non_empty(value: str) -> str:
    # Check only: the stored string keeps its exact whitespace.
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]


class Problem(BaseModel):
    """An instruction with its correct response (plus optional tests)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: NonEmptyStr
    instruction: NonEmptyStr
    response: NonEmptyStr  # the correct response
    tests: str | None = None  # test code: asserts or a ``check(candidate)`` function
    entry_point: str | None = None
    source: str | None = None  # dataset name
    metadata: dict[str, Any] = Field(default_factory=dict)


class Pair(Problem):
    """A problem plus a similar but incorrect response."""

    incorrect: NonEmptyStr
    # How the incorrect response was chosen (similarity, embedder, failure kind ...): free-form.
    selection: dict[str, Any] = Field(default_factory=dict)


class Candidate(BaseModel):
    """One teacher (or mutation) variant of a problem's correct response.

    Written by the variants stage; the selection fields are filled by ``fgit select``, which
    keeps every candidate so any choice can be audited.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str  # the raw teacher output
    response: str | None  # the incorrect response to train on (correct response's form)
    code: str | None  # the code to execute
    extraction: str  # fenced | fenced_multi | unclosed_fence | unfenced | prose | mutation
    similarity: float | None = None
    verdict: str | None = None  # sandbox verdict when the problem has tests
    detail: str | None = None
    dropped: str | None = None  # why the candidate cannot be chosen
    chosen: bool = False


class VariantSet(Problem):
    """A problem with all its candidate incorrect responses and who made them."""

    teacher: dict[str, Any] = Field(default_factory=dict)
    candidates: list[Candidate] = Field(default_factory=list)
    skipped: str | None = None  # set by selection: why no candidate was chosen


R = TypeVar("R", Problem, Pair, VariantSet)
Kind = Literal["problem", "pair"]


class RecordError(FgitError, ValueError):
    """An invalid record or file; the message starts with ``path:line:`` (or ``path: item N:``).

    ``line`` is the 1-based JSONL line (or JSON line of a parse error), ``item`` the 1-based index
    in a JSON array; either is None when it does not apply. ``reason`` is the bare message.
    """

    def __init__(
        self, path: PathLike, reason: str, *, line: int | None = None, item: int | None = None
    ) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.line = line
        self.item = item
        if item is not None:
            where = f"{self.path}: item {item}: "
        elif line is not None:
            where = f"{self.path}:{line}: "
        else:
            where = f"{self.path}: "
        super().__init__(where + reason)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the error picklable (multiprocessing) despite the keyword-only arguments.
        return (_rebuild_error, (self.path, self.reason, self.line, self.item))


def _rebuild_error(path: str, reason: str, line: int | None, item: int | None) -> RecordError:
    return RecordError(path, reason, line=line, item=item)


class TruncatedTailWarning(UserWarning):
    """A JSONL file ends with a partial line (a writer was killed mid-write)."""


# ---------------------------------------------------------------------------------------------
# Format conversion
# ---------------------------------------------------------------------------------------------

_ID_KEYS = ("id", "task_id", "question_id")
_TRL_KEYS = frozenset({"prompt", "chosen", "rejected", "completion"})
_PAIR_ONLY = ("incorrect", "selection")
_REQUIRED_STR = frozenset({"id", "instruction", "response", "incorrect"})
_MISSING: Any = object()


class _Invalid(Exception):
    """Internal: a record-level problem found before pydantic validation."""


def derive_id(instruction: str, response: str) -> str:
    """Stable id for records that carry none: ``sha1:`` + 12 hex digits of the content."""
    digest = hashlib.sha1(f"{instruction}\x00{response}".encode("utf-8", "surrogatepass"))
    return "sha1:" + digest.hexdigest()[:12]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _expect_str(key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise _Invalid(f"field {key!r} must be a string, got {_json_type(value)}")


def _take_common(rest: dict[str, Any], data: dict[str, Any], names: dict[str, str]) -> None:
    """Move id/tests/entry_point/source out of a foreign record; the rest becomes metadata."""
    for key in _ID_KEYS:
        if key in rest:
            value = rest.pop(key)
            # MBPP-style integer task ids are common; bool is an int subclass but no id.
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            data["id"] = value
            names["id"] = key
            break
    for key in ("tests", "test"):
        if key in rest:
            data["tests"] = rest.pop(key)
            names["tests"] = key
            break
    for key in ("entry_point", "source"):
        if key in rest:
            data[key] = rest.pop(key)
    own = rest.pop("metadata", _MISSING)
    metadata: dict[str, Any] = {}
    if isinstance(own, dict):
        metadata.update(own)
    elif own is not _MISSING:
        metadata["metadata"] = own
    metadata.update(rest)
    data["metadata"] = metadata
    if "id" not in data:
        instruction, response = data.get("instruction"), data.get("response")
        if isinstance(instruction, str) and isinstance(response, str):
            data["id"] = derive_id(instruction, response)
        else:
            # Validation fails anyway on instruction/response; don't add a confusing id error.
            data["id"] = "sha1:?"


def _from_alpaca(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    if want_pair:
        raise _Invalid("Alpaca-style record has no incorrect response; cannot read it as a pair")
    rest = dict(obj)
    names = {"response": "output"}
    instruction = rest.pop("instruction", _MISSING)
    extra = rest.pop("input", None)
    output = rest.pop("output")
    if instruction is not _MISSING:
        _expect_str("instruction", instruction)
    if extra is not None:
        _expect_str("input", extra)
    _expect_str("output", output)
    data: dict[str, Any] = {"response": output}
    if instruction is not _MISSING:
        # A whitespace-only input carries nothing; appending it would only add noise.
        if extra and extra.strip():
            instruction = f"{instruction}\n\n{extra}"
        data["instruction"] = instruction
    _take_common(rest, data, names)
    return data, names


def _message(key: str, index: int, value: Any) -> tuple[str, str]:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("role"), str)
        or not isinstance(value.get("content"), str)
    ):
        raise _Invalid(
            f"field {key!r}: message {index} must be an object with string 'role' and 'content'"
        )
    return value["role"], value["content"]


def _trl_prompt(value: Any) -> tuple[str, str | None]:
    """Instruction and optional system prompt from a TRL prompt (string or messages)."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, list):
        raise _Invalid(
            f"field 'prompt' must be a string or a list of messages, got {_json_type(value)}"
        )
    system: str | None = None
    users: list[str] = []
    for index, item in enumerate(value, 1):
        role, content = _message("prompt", index, item)
        if role == "system":
            if system is not None:
                raise _Invalid("field 'prompt' has several system messages")
            system = content
        elif role == "user":
            users.append(content)
        elif role == "assistant":
            raise _Invalid("field 'prompt' has an assistant turn; multi-turn is not supported")
        else:
            raise _Invalid(f"field 'prompt': unsupported role {role!r}")
    if not users:
        raise _Invalid("field 'prompt' has no user message")
    if len(users) > 1:
        raise _Invalid(f"field 'prompt' has {len(users)} user turns; multi-turn is not supported")
    return users[0], system


def _trl_answer(key: str, value: Any) -> str:
    """A TRL completion: a string or a list holding one assistant message."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1:
        role, content = _message(key, 1, value[0])
        if role == "assistant":
            return content
    raise _Invalid(f"field {key!r} must be a string or a list with one assistant message")


def _from_trl(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    rest = dict(obj)
    preference = "chosen" in rest or "rejected" in rest
    if preference and "completion" in rest:
        raise _Invalid("record mixes 'completion' with preference fields 'chosen'/'rejected'")
    if want_pair and not preference:
        raise _Invalid("prompt/completion record has no incorrect response; cannot read a pair")
    answer_key = "chosen" if preference else "completion"
    names = {"instruction": "prompt", "response": answer_key, "incorrect": "rejected"}
    data: dict[str, Any] = {}
    system: str | None = None
    if "prompt" in rest:
        data["instruction"], system = _trl_prompt(rest.pop("prompt"))
    if answer_key in rest:
        data["response"] = _trl_answer(answer_key, rest.pop(answer_key))
    rejected = rest.pop("rejected", _MISSING)
    if want_pair and rejected is not _MISSING:
        data["incorrect"] = _trl_answer("rejected", rejected)
    _take_common(rest, data, names)
    if system is not None:
        data["metadata"]["system"] = system
    return data, names


def _to_native(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Native-field dict for ``obj`` and a map from native field names to the record's keys."""
    if _TRL_KEYS & obj.keys():
        return _from_trl(obj, want_pair)
    if "output" in obj and "response" not in obj:
        return _from_alpaca(obj, want_pair)
    if want_pair:
        return obj, {}
    return {k: v for k, v in obj.items() if k not in _PAIR_ONLY}, {}


def _explain(error: ValidationError, names: dict[str, str]) -> str:
    """One short line from pydantic's errors, naming fields as the input record does."""
    missing: list[str] = []
    unknown: list[str] = []
    other: list[str] = []
    for err in error.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        shown = repr(names.get(field, field))
        kind = err["type"]
        got = _json_type(err.get("input"))
        if kind == "missing":
            missing.append(shown)
        elif kind == "extra_forbidden":
            unknown.append(shown)
        elif field in _REQUIRED_STR and kind == "value_error":
            other.append(f"field {shown} must be a non-empty string")
        elif field in _REQUIRED_STR and kind == "string_type":
            other.append(f"field {shown} must be a non-empty string, got {got}")
        elif kind == "string_type":
            other.append(f"field {shown} must be a string or null, got {got}")
        elif kind == "dict_type":
            other.append(f"field {shown} must be an object, got {got}")
        else:
            other.append(f"field {shown}: {err['msg']}")
    parts = []
    if missing:
        parts.append(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    parts.extend(other)
    if unknown:
        parts.append(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    return "; ".join(parts)


def _parse(obj: Any, cls: type[R]) -> R:
    """Validate one decoded JSON value as ``cls``; raises ``_Invalid`` with a one-line reason."""
    if not isinstance(obj, dict):
        raise _Invalid(f"expected a JSON object, got {_json_type(obj)}")
    data, names = _to_native(obj, want_pair=issubclass(cls, Pair))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _Invalid(_explain(exc, names)) from None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _is_json_array(path: PathLike) -> bool:
    name = os.fspath(path).lower()
    return name.endswith((".json", ".json.gz"))


def _open_binary(path: PathLike) -> IO[bytes]:
    if os.fspath(path).lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_lines(path: PathLike) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, raw line without newline, whether it ended with a newline)."""
    with _open_binary(path) as fh:
        # Binary iteration splits on b"\n" only; text mode would also split on U+2028 etc.
        for number, raw in enumerate(fh, 1):
            complete = raw.endswith(b"\n")
            yield number, raw[:-1] if complete else raw, complete


def _decode_line(path: PathLike, number: int, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(path, f"invalid UTF-8 at byte {exc.start}", line=number) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(
            path, f"invalid JSON ({exc.msg} at column {exc.colno})", line=number
        ) from None


def _iter_raw(path: PathLike) -> Iterator[tuple[int, Any, bool]]:
    """(position, decoded value or its RecordError, position is an array item) per record."""
    if _is_json_array(path):
        try:
            with _open_binary(path) as fh:
                items = json.loads(fh.read().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise RecordError(path, f"invalid UTF-8 at byte {exc.start}") from None
        except json.JSONDecodeError as exc:
            raise RecordError(
                path, f"invalid JSON ({exc.msg} at column {exc.colno})", line=exc.lineno
            ) from None
        if not isinstance(items, list):
            raise RecordError(path, f"expected a JSON array of records, got {_json_type(items)}")
        for index, item in enumerate(items, 1):
            yield index, item, True
        return
    for number, raw, _complete in _iter_lines(path):
        if not raw.strip():
            continue  # blank lines are allowed
        try:
            value = _decode_line(path, number, raw)
        except RecordError as exc:
            value = exc  # a bad line is a record-level error: the caller may skip it
        yield number, value, False


def first_record(path: PathLike) -> Any:
    """The first record of a JSONL or JSON-array file, decoded but not validated (to tell a
    file's format from it); None for a file without records. A bad first line raises
    :class:`RecordError` naming the file and line."""
    for _, obj, _ in _iter_raw(path):
        if isinstance(obj, RecordError):
            raise obj
        return obj
    return None


def read_json_records(path: PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line or item number, object)`` for each record of a JSONL/JSON(.gz) file.

    For files of plain objects (benchmarks, datasets, samples, logs): the first bad record
    raises :class:`RecordError`, its message starting with ``path:line:``.
    """
    for position, obj, is_item in _iter_raw(path):
        if isinstance(obj, RecordError):
            raise obj
        if not isinstance(obj, dict):
            where = {"item": position} if is_item else {"line": position}
            raise RecordError(path, "expected a JSON object", **where)
        yield position, obj


@overload
def iter_records(
    path: PathLike, kind: type[R], *, errors: list[RecordError] | None = None
) -> Iterator[tuple[int, R]]: ...
@overload
def iter_records(
    path: PathLike, kind: Literal["problem"], *, errors: list[RecordError] | None = None
) -> Iterator[tuple[int, Problem]]: ...
@overload
def iter_records(
    path: PathLike, kind: Literal["pair"], *, errors: list[RecordError] | None = None
) -> Iterator[tuple[int, Pair]]: ...
def iter_records(
    path: PathLike,
    kind: type[Problem] | Kind,
    *,
    errors: list[RecordError] | None = None,
) -> Iterator[tuple[int, Problem]]:
    """Yield ``(position, record)`` for each record of a JSONL or JSON-array file.

    ``position`` is the 1-based line number (JSONL) or item index (JSON array). ``kind`` is
    ``"problem"``/``"pair"`` or a record class (``Problem``, ``Pair``, ``VariantSet``...).
    Invalid records and duplicate ids raise :class:`RecordError` when reached; if ``errors`` is
    a list, they are appended to it and the record is skipped instead (file-level errors still
    raise).
    """
    cls: type[Problem]
    if kind == "problem":
        cls = Problem
    elif kind == "pair":
        cls = Pair
    elif isinstance(kind, type) and issubclass(kind, Problem):
        cls = kind  # Problem, Pair, or a stage's record type such as VariantSet
    else:
        raise ValueError(f"kind must be 'problem', 'pair' or a Problem subclass, not {kind!r}")
    seen: dict[str, int] = {}
    for position, obj, is_item in _iter_raw(path):
        where = {"item": position} if is_item else {"line": position}
        try:
            if isinstance(obj, RecordError):
                raise obj
            try:
                record = _parse(obj, cls)
            except _Invalid as exc:
                raise RecordError(path, str(exc), **where) from None
            _check_unique(seen, record.id, path, position, is_item)
        except RecordError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        yield position, record


def _check_unique(
    seen: dict[str, int], record_id: str, path: Any, position: int, is_item: bool
) -> None:
    """:class:`RecordError` when ``record_id`` was already read at another position (``seen``
    maps each id to the line or item it was first read on)."""
    first = seen.setdefault(record_id, position)
    if first != position:
        unit = "item" if is_item else "line"
        raise RecordError(
            path, f"duplicate id {record_id!r} (first seen on {unit} {first})", **{unit: position}
        )


def read_problems(path: PathLike, *, errors: list[RecordError] | None = None) -> list[Problem]:
    """All problems in ``path`` (any accepted format; pair fields are dropped)."""
    return [record for _, record in iter_records(path, Problem, errors=errors)]


def read_pairs(path: PathLike, *, errors: list[RecordError] | None = None) -> list[Pair]:
    """All pairs in ``path`` (native pairs or TRL preference data)."""
    return [record for _, record in iter_records(path, Pair, errors=errors)]


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _encode(record: Problem) -> bytes:
    data = record.model_dump(mode="json")
    try:
        return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (legal as JSON escapes) cannot be UTF-8 encoded raw; keep them escaped.
        return (json.dumps(data, ensure_ascii=True) + "\n").encode("ascii")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def write_records(path: PathLike, records: Iterable[Problem], *, append: bool = False) -> int:
    """Write records as native JSONL (gzip if ``path`` ends in .gz); return how many were written.

    Without ``append`` the write is atomic: a temp file in the same directory is filled, fsynced
    and renamed over ``path``, so a failure leaves ``path`` as it was. Ids must be unique.

    With ``append`` (resumable stages; plain .jsonl only) complete lines are appended and fsynced
    once at the end. A process killed mid-append can leave a partial last line: resume with
    :func:`repair_truncated_tail` then :func:`read_completed_ids`. Appending to a file whose last
    line is partial is refused, so a good record is never glued onto a broken one.
    """
    target = Path(path)
    if _is_json_array(target):
        raise ValueError(f"{target}: write_records writes JSONL; use a .jsonl or .jsonl.gz path")
    compressed = target.name.lower().endswith(".gz")
    target.parent.mkdir(parents=True, exist_ok=True)
    if append:
        if compressed:
            raise ValueError(f"{target}: append mode supports plain .jsonl files only")
        if target.exists() and not _ends_with_newline(target):
            raise ValueError(f"{target}: last line is partial; call repair_truncated_tail first")
        count = 0
        with open(target, "ab") as fh:
            for record in records:
                fh.write(_encode(_check_record(record)))
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        return count

    count = 0

    def write(raw: IO[bytes]) -> None:
        nonlocal count
        # mtime=0 keeps gzip output byte-identical across runs.
        sink: IO[bytes] = (
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") if compressed else raw
        )
        seen: set[str] = set()
        for record in records:
            if _check_record(record).id in seen:
                raise ValueError(f"{target}: duplicate id {record.id!r}")
            seen.add(record.id)
            sink.write(_encode(record))
            count += 1
        if compressed:
            sink.close()  # writes the gzip trailer; ``raw`` stays open

    atomic_write(target, write)
    return count


def _check_record(record: Any) -> Problem:
    if not isinstance(record, Problem):
        raise TypeError(f"expected a Problem or Pair, got {type(record).__name__}")
    return record


# ---------------------------------------------------------------------------------------------
# Resumable output
# ---------------------------------------------------------------------------------------------


def read_completed_ids(path: PathLike) -> set[str]:
    """Ids of the complete records of a JSONL file being appended to by a resumable stage.

    A missing file gives an empty set. A final line without a newline that does not parse (the
    writer was killed mid-write) is ignored with a :class:`TruncatedTailWarning`; a final line
    that parses but lacks only its newline counts as complete. Any other bad line raises
    :class:`RecordError`. Only the ``id`` of each line is checked, not the whole record.
    """
    if _is_json_array(path):
        raise ValueError(f"{os.fspath(path)}: not a JSONL file")
    if not Path(path).exists():
        return set()
    ids: set[str] = set()
    for number, raw, complete in _iter_lines(path):
        if not raw.strip():
            continue
        try:
            obj = _decode_line(path, number, raw)
        except RecordError:
            if complete:
                raise
            # Only the last line can lack its newline, so this is a truncated tail.
            warnings.warn(
                f"{os.fspath(path)}:{number}: ignoring truncated last line",
                TruncatedTailWarning,
                stacklevel=2,
            )
            break
        record_id = obj.get("id") if isinstance(obj, dict) else None
        if not isinstance(record_id, str) or not record_id:
            raise RecordError(path, "record has no string 'id'", line=number)
        ids.add(record_id)
    return ids


def repair_truncated_tail(path: PathLike) -> bool:
    """Make a JSONL file end cleanly after an interrupted append; return True if it changed.

    A partial last line that does not parse is cut off; one that parses but lacks only its
    newline gets the newline. Missing files are left alone. Plain (not gzip) files only.
    """
    target = Path(path)
    if target.name.lower().endswith(".gz"):
        raise ValueError(f"{target}: cannot repair a gzip file in place")
    if not target.exists() or _ends_with_newline(target):
        return False
    with open(target, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        # Scan backwards for the last newline; the tail is whatever follows it.
        start = size
        chunk = 1 << 16
        while start > 0:
            step = min(chunk, start)
            fh.seek(start - step)
            found = fh.read(step).rfind(b"\n")
            if found >= 0:
                start = start - step + found + 1
                break
            start -= step
        fh.seek(start)
        tail = fh.read()
        try:
            text = tail.decode("utf-8-sig" if start == 0 else "utf-8")
            complete = isinstance(json.loads(text), dict)
        except (UnicodeDecodeError, json.JSONDecodeError):
            complete = False
        if complete:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())
    return True
