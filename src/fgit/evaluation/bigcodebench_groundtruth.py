"""BigCodeBench's ground truth here: which reference solutions pass on this machine, and why
the others fail.

Upstream checks its ground truth before scoring (``bigcodebench/evaluate.py``,
``get_groundtruth``: ``complete_prompt + "\\n" + canonical_solution`` of every task, uncalibrated)
and reports the share that passes ("Groundtruth pass rate") with the failed task ids. Here a
reference can fail for reasons of the machine, not of the task: no network, a library that is
missing or of another version, a system program (tesseract) that is not installed. This module
runs every reference exactly as scoring runs a solution (:func:`run_bigcodebench`, uncalibrated
as upstream), and records for each task its verdict, detail and a *reason*:

``passed``, ``missing-library`` (a module is not installed), ``library-version`` (a name the
reference uses is not in the installed version: an unexpected keyword argument, a missing
attribute or import name), ``network`` (a connection or name lookup failed: the sandbox has no
network), ``missing-data`` (NLTK data that upstream's tasks download), ``timeout``, ``memory``,
``sandbox`` (the run could not start) or ``failed`` (any other failure here: most often another
library difference, e.g. a changed default or output format). The reasons come from the failure
messages, so they name the likely cause, not a proven one; every row keeps its detail.

The tasks whose reference passes are *the runnable set*, named by the sha256 of their sorted ids
(``"\\n".join(sorted(ids))``, the same hash as a run's ``task_subset``), e.g.
``bigcodebench-v0.1.0-runnable-1a2b3c4d5e6f``, and written one id per line next to the results.
:func:`pass_at_1_split` reports a run's pass@1 over all tasks and over that set.

The run is resumable: each finished task is appended to ``OUT.rows.jsonl`` (with a header that
names the data and settings), and a restarted run skips the tasks found there.
"""

from __future__ import annotations

import json
import platform
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fgit.errors import FgitError
from fgit.evaluation.bigcodebench_scoring import BigCodeBenchSettings, run_bigcodebench
from fgit.evaluation.scores import TaskScore
from fgit.evaluation.scoring import job_verdict
from fgit.evaluation.tasks import Benchmark
from fgit.io import atomic_write

__all__ = [
    "REASONS",
    "GroundTruthError",
    "Row",
    "check_same_data",
    "classify",
    "pass_at_1_split",
    "read_runnable",
    "run_groundtruth",
    "runnable_name",
]

REASONS = (
    "passed",
    "missing-library",
    "library-version",
    "network",
    "missing-data",
    "timeout",
    "memory",
    "sandbox",
    "failed",
)
_MISSING_LIBRARY = re.compile(r"ModuleNotFoundError|No module named")
_LIBRARY_VERSION = re.compile(
    r"unexpected keyword argument|cannot import name|module '[\w.]+' has no attribute"
    r"|type object '\w+' has no attribute|object has no attribute '\w+'\W*$"
)
_NETWORK = re.compile(
    r"ConnectionError|ConnectionRefused|NewConnectionError|Max retries exceeded|NameResolution"
    r"|gaierror|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|URLError|urlopen error|SMTPServerDisconnected|getaddrinfo"
)
_MISSING_DATA = re.compile(r"Resource \S+ not found|nltk\.download|Searched in:")
# Libraries whose versions shape BigCodeBench's verdicts (recorded with the ground truth).
_LIBRARIES = (
    "numpy", "pandas", "scipy", "matplotlib", "scikit-learn", "seaborn", "statsmodels",
    "tensorflow-cpu", "keras", "nltk", "opencv-python-headless", "scikit-image", "requests",
    "Faker", "Django", "flask", "librosa", "gensim", "shapely", "geopandas",
)  # fmt: skip


class GroundTruthError(FgitError):
    """A results file that does not belong to this run (other data or settings)."""


@dataclass(frozen=True)
class Row:
    """One task's reference solution run here."""

    task_id: str
    verdict: str
    reason: str
    detail: str
    seconds: float


def classify(verdict: str, detail: str, stderr: str = "") -> str:
    """The reason of a verdict (one of :data:`REASONS`), from its detail and stderr."""
    if verdict == "passed":
        return "passed"
    if verdict in ("timeout", "memory"):
        return verdict
    if verdict == "sandbox_error":
        return "sandbox"
    text = f"{detail}\n{stderr}"
    if _MISSING_LIBRARY.search(detail) or (
        not _NETWORK.search(detail) and _MISSING_LIBRARY.search(stderr)
    ):
        return "missing-library"
    if _NETWORK.search(text):
        return "network"
    if _MISSING_DATA.search(text):
        return "missing-data"
    if _LIBRARY_VERSION.search(detail):
        return "library-version"
    return "failed"


def runnable_name(ids: Iterable[str]) -> tuple[str, str]:
    """(name, sha256) of a runnable set: the hash of ``"\\n".join(sorted(ids))``."""
    from fgit.evaluation.results import task_subset_record

    digest = task_subset_record(ids)["sha256"]
    return f"bigcodebench-v0.1.0-runnable-{digest[:12]}", digest


def read_runnable(groundtruth: Path) -> list[str]:
    """The runnable ids a ground-truth results file names (its ``runnable.file``, beside it),
    checked against the hash the results record."""
    record = json.loads(groundtruth.read_text(encoding="utf-8"))["runnable"]
    path = groundtruth.parent / record["file"]
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if runnable_name(ids)[1] != record["sha256"]:
        raise GroundTruthError(f"{path}: its ids do not hash to {record['sha256']} ({groundtruth})")
    return ids


def check_same_data(run_data: Mapping[str, Any], groundtruth: Path) -> None:
    """Refuse a run scored on other BigCodeBench data than the ground truth ran (sha256 of the
    tasks file; all four benchmarks read the same file): its runnable set says nothing there."""
    record = json.loads(groundtruth.read_text(encoding="utf-8"))
    theirs, ours = record.get("data", {}).get("sha256"), run_data.get("sha256")
    if theirs != ours:
        raise GroundTruthError(
            f"{groundtruth}: ground truth of data sha256 {theirs}, the run scored {ours}; "
            "run the ground truth on the run's data"
        )


def pass_at_1_split(
    sample_scores: Sequence[Sequence[TaskScore]], runnable: Iterable[str]
) -> dict[str, Any]:
    """pass@1 over every scored task and over those of the runnable set; each task's verdicts of
    its n samples (one for greedy). ``passed`` sums each task's share of passing samples, so
    ``passed / tasks`` is the unbiased pass@1 estimate for any n (the passing count for n = 1)."""
    keep = set(runnable)

    def passed(tasks: Sequence[Sequence[TaskScore]]) -> float:
        return sum(sum(s.base_passed for s in task) / len(task) for task in tasks if task)

    inside = [task for task in sample_scores if task and task[0].task_id in keep]
    name, digest = runnable_name(keep)
    return {
        "all": {"tasks": len(sample_scores), "passed": passed(sample_scores)},
        "runnable": {
            "name": name,
            "sha256": digest,
            "tasks": len(inside),
            "passed": passed(inside),
        },
    }


def _environment(isolation: str) -> dict[str, Any]:
    from fgit.versions import versions

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "isolation": isolation,
        "libraries": versions(_LIBRARIES),
    }


def _header(benchmark: Benchmark, settings: BigCodeBenchSettings) -> dict[str, Any]:
    return {
        "kind": "header",
        "data_sha256": benchmark.sha256,
        "settings": asdict(settings),
    }


def _read_rows(path: Path, header: Mapping[str, Any]) -> tuple[dict[str, Row], str]:
    """The rows of an earlier run (and the isolation it had), after checking its header."""
    from fgit.records import repair_truncated_tail

    if not path.exists():
        atomic_write(path, json.dumps(header) + "\n")
        return {}, ""
    repair_truncated_tail(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or json.loads(lines[0]) != header:
        raise GroundTruthError(
            f"{path} was written for other data or settings; delete it or choose another --out"
        )
    rows, isolation = {}, ""
    for number, line in enumerate(lines[1:], 2):
        try:
            record = json.loads(line)
            if record.get("kind") == "isolation":
                isolation = str(record["value"])
                continue
            row = Row(**record)
        except (ValueError, TypeError, KeyError) as error:
            message = f"{path}, line {number}: not a ground-truth row ({error})"
            raise GroundTruthError(message) from None
        rows[row.task_id] = row
    return rows, isolation


def run_groundtruth(
    benchmark: Benchmark,
    out: Path,
    settings: BigCodeBenchSettings | None = None,
    *,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every task's reference solution of ``benchmark`` (resuming ``OUT.rows.jsonl``), write
    the results to ``out`` and the runnable ids beside it; returns the results."""
    from fgit.progress import progress_bar

    settings = settings or BigCodeBenchSettings(calibrated=False)
    rows_path = out.with_name(out.name.removesuffix(".json") + ".rows.jsonl")
    rows, isolation = _read_rows(rows_path, _header(benchmark, settings))
    todo = [task for task in benchmark.tasks if task.task_id not in rows]
    with (
        progress_bar(quiet=not progress, unit="tasks", detail="{task.fields[counts]}") as bar,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        rows_path.open("a", encoding="utf-8") as sink,
    ):
        counts = Counter(row.reason for row in rows.values())

        def shown() -> str:
            return " ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))

        total = len(benchmark.tasks)
        job = bar.add_task("ground truth", total=total, completed=len(rows), counts=shown())
        futures = {
            pool.submit(run_bigcodebench, task.canonical_solution, task, settings): task
            for task in todo
        }
        for future in as_completed(futures):
            task, result = futures[future], future.result()
            verdict, detail = job_verdict(result, 0, 0)
            row = Row(
                task.task_id,
                verdict,
                classify(verdict, detail, result.stderr),
                detail,
                round(result.duration_s, 2),
            )
            rows[task.task_id] = row
            if not isolation and result.isolation:  # what the sandbox could do: once
                isolation = result.isolation
                sink.write(json.dumps({"kind": "isolation", "value": isolation}) + "\n")
            sink.write(json.dumps(asdict(row)) + "\n")
            sink.flush()
            counts[row.reason] += 1
            bar.update(job, advance=1, counts=shown())
    ordered = [rows[task.task_id] for task in benchmark.tasks]
    runnable = sorted(row.task_id for row in ordered if row.reason == "passed")
    name, digest = runnable_name(runnable)
    ids_file = out.with_name(out.name.removesuffix(".json") + ".runnable.txt")
    atomic_write(ids_file, "".join(f"{task_id}\n" for task_id in runnable))
    results = {
        "benchmark": benchmark.name,
        "data": {
            "source": benchmark.source,
            "version": benchmark.version,
            "sha256": benchmark.sha256,
        },
        "settings": asdict(settings),
        "workers": workers,
        "environment": _environment(isolation),
        "summary": {
            "tasks": len(ordered),
            "passed": len(runnable),
            "by_reason": {r: n for r in REASONS if (n := sum(x.reason == r for x in ordered))},
        },
        "runnable": {
            "name": name,
            "sha256": digest,
            "count": len(runnable),
            "file": ids_file.name,
        },
        "tasks": [asdict(row) for row in ordered],
    }
    atomic_write(out, json.dumps(results, indent=1) + "\n")
    return results
