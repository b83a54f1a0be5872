"""BigCodeBench v0.1.0 as fgit tasks: the four leaderboard columns, split x subset.

``bigcodebench-complete`` and ``bigcodebench-instruct`` hold all 1,140 tasks,
``bigcodebench-hard-complete`` and ``bigcodebench-hard-instruct`` the 148 of BigCodeBench-Hard
(each byte-identical to the same id in the full file). Each task carries, as upstream
(bigcode-project/bigcodebench, ``bigcodebench/evaluate.py``) uses them:

- ``prompt``: ``complete_prompt`` (imports, signature, docstring) or ``instruct_prompt`` (the task
  in prose, ending with the code to start from), by split;
- ``canonical_solution``: ``complete_prompt + "\\n" + canonical_solution``, the program upstream's
  ``get_groundtruth`` runs;
- ``code_prompt``: the imports and signature, which upstream's calibrated scoring puts before
  every solution (``code_prompt + "\\n    pass\\n" + solution``);
- ``test``: the task's ``unittest`` code, a ``TestCases`` class;
- ``entry_point``: ``task_func``; ``dataset``: ``"bigcodebench"`` (which selects the scoring).

Where the files come from: the data folder (``bigcodebench/BigCodeBench-v0.1.0.jsonl.gz`` and
``bigcodebench/BigCodeBench-Hard-ids.txt``). Only where there is no data folder at all are
upstream's release files downloaded, as upstream's own GitHub fallback does
(``bigcodebench/data/utils.py``: ``make_cache(..., gh=True)``), into upstream's cache folder
(``~/.cache/bigcodebench``, shared with the ``bigcodebench`` package). A data folder without the
files is an error, not a download.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fgit.data import DataError, benchmark_data, bigcodebench_files
from fgit.evaluation.tasks import Benchmark, EvalTask
from fgit.io import atomic_write, sha256_file

__all__ = [
    "DATASET",
    "HARD_URL",
    "URL",
    "VERSION",
    "cache_dir",
    "hard_ids",
    "load_bigcodebench",
    "read_records",
]

DATASET = "bigcodebench"
VERSION = "v0.1.0"
_RELEASES = "https://github.com/bigcode-project/bigcodebench-annotation/releases/download"
# v0.1.0's own release (bigcodebench 0.1.0-0.1.2 read it); Hard came with the v0.1.0_hf release.
URL = f"{_RELEASES}/v0.1.0/BigCodeBench.jsonl.gz"
HARD_URL = f"{_RELEASES}/v0.1.0_hf/BigCodeBench-Hard.jsonl.gz"
_FIELDS = ("task_id", "complete_prompt", "instruct_prompt", "canonical_solution", "code_prompt",
           "test", "entry_point")  # fmt: skip


def cache_dir() -> Path:
    """Upstream's cache folder (``appdirs.user_cache_dir("bigcodebench")`` on Linux)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bigcodebench"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The task records of a BigCodeBench JSONL file (``.gz`` or plain), in file order; a bad
    line, or a file that is not gzip (or UTF-8) where it should be, is a :class:`DataError`
    naming the file."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return _parse_lines(f, str(path))
    except (EOFError, OSError, UnicodeDecodeError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        hint = "; delete it to download it again" if path.parent == cache_dir() else ""
        raise DataError(f"{path}: not a readable BigCodeBench file ({error}){hint}") from None


def _parse_lines(lines: Iterable[str], where: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{where}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}, line {number}: not a JSON object")
        missing = [name for name in _FIELDS if not isinstance(record.get(name), str)]
        if missing:
            raise DataError(f"{where}, line {number}: no {', '.join(missing)}")
        records.append(record)
    return records


def _check_download(url: str, data: bytes) -> None:
    """A :class:`DataError` unless ``data`` is gzip of BigCodeBench task lines: a truncated
    transfer or an error page must not be cached, where every later run would read it.
    (The file's sha256 is not pinned: fgit's shared copy comes from the annotation repository's
    ``hf_data``, not from this release asset, so no checksum is known to match it.)"""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (EOFError, OSError, UnicodeDecodeError, zlib.error) as error:
        raise DataError(f"bigcodebench: {url} did not download as gzip ({error})") from None
    if not _parse_lines(text.splitlines(), url):
        raise DataError(f"bigcodebench: {url} downloaded with no tasks")


def hard_ids(path: Path) -> list[str]:
    """The task ids of a Hard ids file (one per line) or of upstream's Hard JSONL file."""
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        return [record["task_id"] for record in read_records(path)]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _download(url: str, target: Path) -> Path:
    """``url`` (gzip) into ``target`` once; later calls read the cached file."""
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise DataError(
            f"bigcodebench: no data folder, and {url} could not be downloaded ({error}); pass "
            "--data-dir or set FGIT_DATA_DIR to a folder holding bigcodebench/"
        ) from None
    _check_download(url, data)  # before writing: the cache is read as it is from then on
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, data)
    return target


def _sources(name: str, data_dir: Path | None) -> tuple[Path, Path | None]:
    """(tasks file, Hard ids file or None for the full subset)."""
    local = bigcodebench_files(name, data_dir)
    if local is not None:
        return local
    hard = (benchmark_data(name).bigcodebench or ("", ""))[1] == "hard"
    tasks = _download(URL, cache_dir() / f"BigCodeBench-{VERSION}.jsonl.gz")
    if not hard:
        return tasks, None
    return tasks, _download(HARD_URL, cache_dir() / "BigCodeBench-Hard-v0.1.0_hf.jsonl.gz")


def load_bigcodebench(name: str, data_dir: Path | None = None) -> Benchmark:
    """The :class:`~fgit.evaluation.tasks.Benchmark` of a BigCodeBench benchmark name."""
    split_subset = benchmark_data(name).bigcodebench
    if split_subset is None:
        raise ValueError(f"{name} is not a BigCodeBench benchmark")
    split = split_subset[0]
    tasks_file, ids_file = _sources(name, data_dir)
    records = read_records(tasks_file)
    if ids_file is not None:
        wanted = set(hard_ids(ids_file))
        unknown = sorted(wanted - {r["task_id"] for r in records})
        if unknown:
            raise DataError(f"{ids_file}: ids not in {tasks_file}: {', '.join(unknown[:5])}")
        records = [r for r in records if r["task_id"] in wanted]
    tasks = [
        EvalTask(
            task_id=r["task_id"],
            prompt=r["complete_prompt"] if split == "complete" else r["instruct_prompt"],
            entry_point=r["entry_point"],
            canonical_solution=r["complete_prompt"] + "\n" + r["canonical_solution"],
            dataset=DATASET,
            test=r["test"],
            code_prompt=r["code_prompt"],
            completion_prefix=r["complete_prompt"],
        )
        for r in records
    ]
    source = str(tasks_file)
    if ids_file is not None:  # the subset is part of the data: name its file and hash too
        source += f" (Hard ids: {ids_file}, sha256 {sha256_file(ids_file)})"
    return Benchmark(
        name=name,
        tasks=tasks,
        source=source,
        version=VERSION,
        sha256=sha256_file(tasks_file),
        has_plus=False,
    )
