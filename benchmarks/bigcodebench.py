"""Scoring time of BigCodeBench: the reference solutions of the full set and of Hard, scored as
a model's solutions are (calibrated, sandboxed, upstream's limits), with N workers.

    # both subsets on 2 cores (the figures of docs/evaluation.md; ~1 hour, niced):
    nice -n 19 python benchmarks/bigcodebench.py --subsets full,hard --workers 2
    # a quick look: 20 tasks spread over each subset
    nice -n 19 python benchmarks/bigcodebench.py --subsets full,hard --sample 20

Prints, per subset: tasks, wall seconds, tasks per minute and the verdict counts. Needs the
bigcodebench extra (pip install -e '.[bigcodebench]') for figures that mean anything: without
its libraries most tasks fail fast on an import. Time-outs cost up to 242 s each, so the
figure depends on how many references fail that way here (see the ground truth).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path


def score_subset(name: str, workers: int, sample: int | None, data_dir: Path | None) -> None:
    from fgit.evaluation.scoring import ScoreSettings, score_solutions
    from fgit.evaluation.tasks import load_benchmark

    benchmark = load_benchmark(name, data_dir)
    if sample:
        step = max(1, len(benchmark.tasks) // sample)
        benchmark = replace(benchmark, tasks=benchmark.tasks[::step][:sample])
    solutions = {task.task_id: task.canonical_solution for task in benchmark.tasks}
    start = time.perf_counter()
    scores = score_solutions(benchmark, solutions, ScoreSettings(workers=workers), progress=True)
    seconds = time.perf_counter() - start
    counts = Counter(score.base for score in scores)
    shown = ", ".join(f"{verdict} {n}" for verdict, n in sorted(counts.items()))
    print(
        f"{name}: {len(scores)} tasks in {seconds:.0f} s with {workers} workers "
        f"({60 * len(scores) / seconds:.1f} tasks/min); {shown}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subsets", default="full,hard", help="full, hard or both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, help="only this many tasks, spread over the subset")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    names = {"full": "bigcodebench-complete", "hard": "bigcodebench-hard-complete"}
    for subset in args.subsets.split(","):
        score_subset(names[subset.strip()], args.workers, args.sample, args.data_dir)


if __name__ == "__main__":
    main()
