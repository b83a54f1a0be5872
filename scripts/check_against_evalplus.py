"""Score one EvalPlus samples file with fgit and with `evalplus.evaluate`, and compare per task.

    python scripts/check_against_evalplus.py SAMPLES.jsonl --benchmark humaneval+ \
        --data-dir ../shared/data

Tasks missing from the file get an empty solution in both (evalplus wants every task). Scored
with evalplus 0.3.1's exact semantics (``fix_find_zero=False``). Prints the tasks where the two
disagree (none expected) and both pass@1 figures over the tasks in the file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from evalplus.evaluate import evaluate

    from fgit.evaluation.samples import read_samples, samples_per_task
    from fgit.evaluation.scoring import ScoreSettings, score_solutions
    from fgit.evaluation.tasks import evalplus_data_override, evalplus_dataset, load_benchmark

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", type=Path)
    parser.add_argument("--benchmark", default="humaneval+", choices=["humaneval+", "mbpp+"])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    bench = load_benchmark(args.benchmark, args.data_dir)
    sets = read_samples(args.samples)
    if samples_per_task(sets, args.samples) > 1:
        parser.error(f"{args.samples}: several samples per task; this compares greedy files")
    given = {task_id: solutions[0] for task_id, solutions in sets.items()}
    everything = {t.task_id: given.get(t.task_id, "") for t in bench.tasks}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "samples.jsonl"
        path.write_text("".join(json.dumps({"task_id": k, "solution": v}) + "\n"
                                for k, v in everything.items()))  # fmt: skip
        with evalplus_data_override(bench.name, Path(bench.source)):
            evaluate(dataset=evalplus_dataset(bench.name), samples=str(path), parallel=args.workers)
        results = json.loads(path.with_name(path.stem + "_eval_results.json").read_text())
    theirs = {task_id: rows[0] for task_id, rows in results["eval"].items()}
    settings = ScoreSettings(workers=args.workers, fix_find_zero=False)
    ours = {s.task_id: s for s in score_solutions(bench, everything, settings, progress=False)}
    disagree = []
    for task_id in given:
        row, score = theirs[task_id], ours[task_id]
        evalplus_pair = (row["base_status"] == "pass", row["plus_status"] == "pass")
        if evalplus_pair != (score.base_passed, score.plus_passed):
            disagree.append((task_id, row["base_status"], row["plus_status"], score))
    n = len(given)
    print(f"{n} tasks in {args.samples}, {args.benchmark}")
    for who, base, plus in (
        ("evalplus", sum(theirs[t]["base_status"] == "pass" for t in given),
         sum(theirs[t]["base_status"] == theirs[t]["plus_status"] == "pass" for t in given)),
        ("fgit", sum(ours[t].base_passed for t in given), sum(ours[t].plus_passed for t in given)),
    ):  # fmt: skip
        print(f"{who:>9}: base {base}/{n}, base+plus {plus}/{n}")
    print(f"disagreements: {len(disagree)}")
    for item in disagree:
        print("  ", item)
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
