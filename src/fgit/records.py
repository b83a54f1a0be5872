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
from fgit.formats import FormatError, derive_id, json_type, to_native
from fgit.io import atomic_write

__all__ = [
    "Candidate",
    "Message",
    "Pair",
    "Problem",
    "RecordError",
    "TruncatedTailWarning",
    "VariantSet",
    "derive_id",  # re-exported from fgit.formats
    "first_record",
    "is_dataset_source",
    "iter_records",
    "read_completed_ids",
    "read_json_records",
    "read_pairs",
    "read_problems",
    "repair_truncated_tail",
    "source_digest",
    "write_records",
]

PathLike = str | os.PathLike[str]


def _non_empty(value: str) -> str:
    # Check only: the stored string keeps its exact whitespace.
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]


class Message(BaseModel):
    """One turn of a conversation before the response."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Problem(BaseModel):
    """An instruction with its correct response (plus optional tests).

    ``context``: the conversation before ``instruction`` (a system message first, then earlier
    user and assistant turns), empty for a single-turn prompt. Training renders it with the
    chat template, before the instruction (:func:`fgit.segments.encode.render_prompt`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: NonEmptyStr
    instruction: NonEmptyStr
    response: NonEmptyStr  # the correct response
    tests: str | None = None  # test code: asserts or a ``check(candidate)`` function
    entry_point: str | None = None
    source: str | None = None  # dataset name
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Left out of dumps when empty: single-turn records keep their older form, byte for byte.
    context: list[Message] = Field(default_factory=list, exclude_if=lambda value: not value)


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
    """An invalid record or file; the message starts with ``path:line:`` (or ``path: item N:``,
    ``path: row N:``).

    ``line`` is the 1-based JSONL line (or JSON line of a parse error), ``item`` the 1-based index
    in a JSON array, ``row`` the 0-based row index of a ``datasets`` source (as ``dataset[N]``
    reads it); None when it does not apply. ``reason`` is the bare message.
    """

    def __init__(
        self,
        path: PathLike,
        reason: str,
        *,
        line: int | None = None,
        item: int | None = None,
        row: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.line = line
        self.item = item
        self.row = row
        if row is not None:
            where = f"{self.path}: row {row}: "
        elif item is not None:
            where = f"{self.path}: item {item}: "
        elif line is not None:
            where = f"{self.path}:{line}: "
        else:
            where = f"{self.path}: "
        super().__init__(where + reason)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the error picklable (multiprocessing) despite the keyword-only arguments.
        return (_rebuild_error, (self.path, self.reason, self.line, self.item, self.row))


def _rebuild_error(
    path: str, reason: str, line: int | None, item: int | None, row: int | None = None
) -> RecordError:
    return RecordError(path, reason, line=line, item=item, row=row)


class TruncatedTailWarning(UserWarning):
    """A JSONL file ends with a partial line (a writer was killed mid-write)."""


# ---------------------------------------------------------------------------------------------
# Format conversion
# ---------------------------------------------------------------------------------------------

_REQUIRED_STR = frozenset({"id", "instruction", "response", "incorrect"})


def _explain(error: ValidationError, names: dict[str, str]) -> str:
    """One short line from pydantic's errors, naming fields as the input record does."""
    missing: list[str] = []
    unknown: list[str] = []
    other: list[str] = []
    for err in error.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        shown = repr(names.get(field, field))
        kind = err["type"]
        got = json_type(err.get("input"))
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
    """Validate one decoded JSON value as ``cls``; raises ``FormatError`` with a one-line reason."""
    if not isinstance(obj, dict):
        raise FormatError(f"expected a JSON object, got {json_type(obj)}")
    data, names = to_native(obj, want_pair=issubclass(cls, Pair))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise FormatError(_explain(exc, names)) from None


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


# Where a record sits: a JSONL line, a JSON array item, or a ``datasets`` row.
Unit = Literal["line", "item", "row"]
DATASET_SUFFIXES = (".parquet", ".arrow")
HUB_PREFIX = "hf:"


def is_dataset_source(path: PathLike) -> bool:
    """Whether ``path`` names a ``datasets`` source rather than a JSON(L) file: a ``.parquet``
    or ``.arrow`` file, a folder written by ``Dataset.save_to_disk`` or holding parquet files,
    or ``hf:NAME`` (``hf:NAME:SPLIT``) on a Hugging Face hub."""
    name = os.fspath(path)
    if name.startswith(HUB_PREFIX):
        return True
    if name.lower().endswith(DATASET_SUFFIXES):
        return True
    return Path(name).is_dir()


def _dataset_rows(path: PathLike) -> Any:
    """The rows of a ``datasets`` source (:func:`is_dataset_source`)."""
    import datasets

    name = os.fspath(path)
    try:
        if name.startswith(HUB_PREFIX):
            repo, _, split = name[len(HUB_PREFIX) :].partition(":")
            return datasets.load_dataset(repo, split=split or "train")
        folder = Path(name)
        if folder.is_dir():
            saved = ("dataset_info.json", "state.json", "dataset_dict.json")
            if any((folder / marker).is_file() for marker in saved):
                rows = datasets.load_from_disk(name)
            else:
                if not any(folder.glob("*.parquet")) and not any(folder.glob("*/*.parquet")):
                    raise RecordError(
                        path, "folder holds no dataset (save_to_disk) or parquet files"
                    )
                # datasets names the splits from the file names (train-*.parquet, test-...).
                rows = datasets.load_dataset("parquet", data_dir=name)
            if isinstance(rows, datasets.DatasetDict):
                if len(rows) > 1:
                    raise RecordError(
                        path,
                        f"holds the splits {', '.join(rows)}; give one split's file or folder",
                    )
                rows = next(iter(rows.values()))
            return rows
        kind = "parquet" if name.lower().endswith(".parquet") else "arrow"
        return datasets.load_dataset(kind, data_files=name, split="train")
    except RecordError:
        raise
    except Exception as exc:  # datasets raises many kinds; the user needs one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecordError(path, f"cannot load the dataset: {first}") from None


def _iter_raw(path: PathLike) -> Iterator[tuple[int, Any, Unit]]:
    """(position, decoded value or its RecordError, unit of the position) per record."""
    if is_dataset_source(path):
        for index, row in enumerate(_dataset_rows(path)):
            # A table has every column on every row: None there means the row lacks the field.
            yield index, {k: v for k, v in row.items() if v is not None}, "row"
        return
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
            raise RecordError(path, f"expected a JSON array of records, got {json_type(items)}")
        for index, item in enumerate(items, 1):
            yield index, item, "item"
        return
    for number, raw, _complete in _iter_lines(path):
        if not raw.strip():
            continue  # blank lines are allowed
        try:
            value = _decode_line(path, number, raw)
        except RecordError as exc:
            value = exc  # a bad line is a record-level error: the caller may skip it
        yield number, value, "line"


def source_digest(path: PathLike) -> str:
    """sha256 of a records source: of the file's bytes, or of a ``datasets`` source's rows as
    canonical JSON (a hub dataset has no local file to hash)."""
    if not is_dataset_source(path):
        from fgit.io import sha256_file

        return sha256_file(path)
    digest = hashlib.sha256()
    for _, row, _ in _iter_raw(path):
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


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
    for position, obj, unit in _iter_raw(path):
        if isinstance(obj, RecordError):
            raise obj
        if not isinstance(obj, dict):
            raise RecordError(path, "expected a JSON object", **{unit: position})
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
    """Yield ``(position, record)`` for each record of a JSONL or JSON-array file, or of a
    ``datasets`` source (:func:`is_dataset_source`).

    ``position`` is the 1-based line number (JSONL), item index (JSON array), or the 0-based row
    index (a table). ``kind`` is ``"problem"``/``"pair"`` or a record class (``Problem``,
    ``Pair``, ``VariantSet``...). Invalid records and duplicate ids raise :class:`RecordError`
    when reached; if ``errors`` is a list, they are appended to it and the record is skipped
    instead (file-level errors still raise).
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
    for position, obj, unit in _iter_raw(path):
        where = {unit: position}
        try:
            if isinstance(obj, RecordError):
                raise obj
            try:
                record = _parse(obj, cls)
            except FormatError as exc:
                raise RecordError(path, str(exc), **where) from None
            _check_unique(seen, record.id, path, position, unit)
        except RecordError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        yield position, record


def _check_unique(
    seen: dict[str, int], record_id: str, path: Any, position: int, unit: Unit
) -> None:
    """:class:`RecordError` when ``record_id`` was already read at another position (``seen``
    maps each id to the line or item it was first read on)."""
    first = seen.setdefault(record_id, position)
    if first != position:
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
