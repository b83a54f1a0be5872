"""Many sandboxed runs in parallel, with an optional progress bar."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from fgit.execution.limits import SandboxLimits
from fgit.execution.policy import DEFAULT, Policy
from fgit.execution.sandbox import run_program
from fgit.execution.verdicts import ExecutionResult, Verdict

__all__ = ["run_many"]


def run_many(
    programs: Sequence[str],
    *,
    limits: SandboxLimits = SandboxLimits(),
    policy: Policy = DEFAULT,
    workers: int | None = None,
    progress: bool = False,
    python: str = sys.executable,
) -> list[ExecutionResult]:
    """Run programs in parallel (one sandboxed child per worker thread), results in order."""
    programs = list(programs)
    if not programs:
        return []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(programs)))
    results: list[ExecutionResult | None] = [None] * len(programs)
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fgit-sandbox")
    try:
        futures = {
            pool.submit(run_program, program, limits=limits, policy=policy, python=python): i
            for i, program in enumerate(programs)
        }
        with _ProgressBar(len(programs), enabled=progress) as bar:
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                bar.advance(result.verdict)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # running ones end within their timeout
        raise
    pool.shutdown(wait=True)
    return [result for result in results if result is not None]


class _ProgressBar:
    """A rich progress bar on stderr with verdict counts and ETA; does nothing when disabled."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.counts: Counter[str] = Counter()
        self.progress: Any = None
        if enabled:
            from fgit.progress import progress_bar  # rich is imported only when shown

            self.progress = progress_bar(False, unit="programs", detail="{task.fields[counts]}")
            self.task = self.progress.add_task("sandbox", total=total, counts="")

    def __enter__(self) -> _ProgressBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, verdict: Verdict) -> None:
        self.counts[verdict.value] += 1
        if self.progress is not None:
            counts = " ".join(f"{name} {n}" for name, n in sorted(self.counts.items()))
            self.progress.update(self.task, advance=1, counts=counts)
