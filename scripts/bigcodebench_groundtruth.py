"""BigCodeBench's ground truth here, and a run's pass@1 over all tasks and the runnable ones.

    # every reference solution (1,140; resumable, hours on 2 cores), niced:
    nice -n 19 python scripts/bigcodebench_groundtruth.py run \
        --out results/bigcodebench/groundtruth.json --workers 2
    # a spread sample of 20 tasks, to try it:
    nice -n 19 python scripts/bigcodebench_groundtruth.py run --sample 20 \
        --out runs/bigcodebench/groundtruth-sample.json
    # pass@1 of a scored run, over all its tasks and over the runnable set:
    python scripts/bigcodebench_groundtruth.py report runs/eval/x-bigcodebench-hard-instruct.json \
        --groundtruth results/bigcodebench/groundtruth.json

Writes OUT (per-task verdict, reason, detail and seconds; counts by reason; the environment;
the runnable set's name and sha256), OUT.runnable.txt (the runnable ids) and OUT.rows.jsonl
(the rows as they finish: a restarted run skips those). See
fgit.evaluation.bigcodebench_groundtruth and docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from fgit.evaluation.bigcodebench_groundtruth import run_groundtruth
    from fgit.evaluation.bigcodebench_scoring import BigCodeBenchSettings
    from fgit.evaluation.tasks import load_benchmark

    benchmark = load_benchmark("bigcodebench-complete", args.data_dir)
    if args.sample:
        step = max(1, len(benchmark.tasks) // args.sample)  # spread over the whole file
        benchmark = replace(benchmark, tasks=benchmark.tasks[::step][: args.sample])
    settings = BigCodeBenchSettings(calibrated=False, memory_mb=args.memory_mb)
    results = run_groundtruth(benchmark, args.out, settings, workers=args.workers)
    summary, runnable = results["summary"], results["runnable"]
    print(f"{summary['passed']}/{summary['tasks']} reference solutions pass here")
    for reason, n in summary["by_reason"].items():
        print(f"  {reason:>16}: {n}")
    print(f"runnable set: {runnable['name']} ({runnable['count']} ids in {runnable['file']})")
    return 0


def _report(args: argparse.Namespace) -> int:
    from fgit.evaluation.bigcodebench_groundtruth import (
        check_same_data,
        pass_at_1_split,
        read_runnable,
    )
    from fgit.evaluation.results import read_run, run_sample_scores

    run = read_run(args.run)
    check_same_data(run.data, args.groundtruth)
    split = pass_at_1_split(run_sample_scores(run), read_runnable(args.groundtruth))
    samples = f", {run.n_samples} samples per task" if run.n_samples > 1 else ""
    for label in ("all", "runnable"):
        part = split[label]
        share = part["passed"] / part["tasks"] if part["tasks"] else 0.0
        name = f" ({part['name']})" if label == "runnable" else ""
        hits = f"{part['passed']:g}/{part['tasks']}"
        print(f"{run.benchmark} {label}{name}: pass@1 {share:.4f} = {hits}{samples}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the reference solutions")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--data-dir", type=Path)
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--sample", type=int, help="only this many tasks, spread over the file")
    run.add_argument("--memory-mb", type=int, default=8192, help="RLIMIT_AS per program")
    report = commands.add_parser("report", help="pass@1 of a run: all tasks and runnable ones")
    report.add_argument("run", type=Path)
    report.add_argument("--groundtruth", type=Path, required=True)
    args = parser.parse_args(argv)
    from fgit.errors import FgitError

    try:
        return _run(args) if args.command == "run" else _report(args)
    except (FgitError, OSError, KeyError, ValueError) as error:  # one line, as fgit prints
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
