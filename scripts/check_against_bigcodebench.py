"""Score BigCodeBench solutions with fgit and with upstream's own ``untrusted_check``, and compare.

    # the built-in sample: canonical, mutated and hostile solutions of N tasks
    nice -n 19 python scripts/check_against_bigcodebench.py --tasks 12 --workers 2
    # a samples file (fgit/EvalPlus format: task_id, solution)
    nice -n 19 python scripts/check_against_bigcodebench.py --samples runs/eval/x.samples.jsonl

Needs the bigcodebench extra's libraries and ``pip install --no-deps bigcodebench==0.1.9`` (the
last release on dataset v0.1.0, whose ``untrusted_check`` is the one fgit replays). Both sides
score the calibrated solution (upstream's default) with fgit's memory limit; upstream runs in
fresh processes outside any sandbox, as it does itself, so only trusted or hand-written hostile
solutions belong here. Upstream's verdict is ``pass``, ``fail`` or ``timeout``; fgit's is pass or
one of its failure verdicts; they agree when both pass or both do not.

Where fgit is stricter on purpose (a solution that patches unittest's assertions or skips its
tests passes upstream), the sample is labelled ``stricter:`` and must pass upstream and fail in
fgit. A sample that disagrees is scored again on both sides; agreeing then, it is reported as
unstable (a test that reads the clock, under load). Prints the disagreements (none expected)
and exits 1 when there are any.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

# Solutions whose side effects are hostile but whose answer is the reference's: both pass.
_HARMLESS_PREFIXES = {
    "hostile:background-child": "import subprocess\nsubprocess.Popen(['sleep', '600'])\n",
    "hostile:write-tmp": "open('/tmp/fgit-agreement-probe', 'w').write('x')\n",
    "hostile:socket": "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), 2)\n"
    "except OSError:\n    pass\n",
}
# Solutions that must not pass anywhere.
_FAILING = {
    "hostile:sys-exit": "import sys\nsys.exit(0)\n",
    "hostile:os-exit": "import os\nos._exit(0)\n",
    "hostile:exit-in-task": "def task_func(*args, **kwargs):\n    raise SystemExit(0)\n",
    "hostile:fake-marker": "print('PASS')\ndef task_func(*args, **kwargs):\n    return None\n",
    "hostile:patch-wasSuccessful": "import unittest\n"
    "unittest.TestResult.wasSuccessful = lambda self: True\n"
    "def task_func(*args, **kwargs):\n    return None\n",
}
# Solutions that pass upstream and not in fgit: skipping every test; patching unittest's
# assertions (placed before the reference solution: fgit refuses any run that changes
# unittest, whatever its answers).
_STRICTER = {
    "stricter:patch-assertions": "import unittest\n"
    "unittest.TestCase.assertEqual = lambda *a, **k: None\n",
    "stricter:skip": "import unittest\n"
    "def task_func(*args, **kwargs):\n    raise unittest.SkipTest('skipped by the solution')\n",
}

Sample = tuple[str, str, str]  # task_id, label, solution


def agreement_samples(benchmark: Any, n_tasks: int, seed: int = 0) -> list[Sample]:
    """Canonical, one mutant and hostile solutions for ``n_tasks`` tasks spread over the file."""
    from fgit.variants.mutation import mutate

    step = max(1, len(benchmark.tasks) // n_tasks)
    tasks = benchmark.tasks[::step][:n_tasks]
    samples: list[Sample] = []
    for i, task in enumerate(tasks):
        reference = task.canonical_solution
        samples.append((task.task_id, "canonical", reference))
        for mutant in mutate(reference, k=1, seed=seed + i):
            samples.append((task.task_id, f"mutant:{mutant.operator}", mutant.code))
        # spread the hostile kinds over the tasks, one or two each
        kinds = list(_HARMLESS_PREFIXES.items()) + list(_FAILING.items()) + list(_STRICTER.items())
        label, code = kinds[i % len(kinds)]
        prefix = label in _HARMLESS_PREFIXES or label == "stricter:patch-assertions"
        solution = code + reference if prefix else code
        samples.append((task.task_id, label, solution))
    return samples


def _upstream_one(args: tuple[str, str, int]) -> str:
    """upstream's verdict of one calibrated solution (runs in a fresh worker process)."""
    from bigcodebench.eval import untrusted_check

    code, test, memory_mb = args
    status, _ = untrusted_check(code, test, "task_func", memory_mb, memory_mb, 10, 1, 20)
    return str(status)


def _verdicts(
    benchmark: Any, samples: list[Sample], workers: int
) -> tuple[list[str], list[Any]]:
    """(upstream's statuses, fgit's scores) of ``samples``, in order."""
    from fgit.evaluation.bigcodebench_scoring import calibrate
    from fgit.evaluation.scoring import ScoreSettings, score_solutions

    settings = ScoreSettings(workers=workers)
    memory = settings.bigcodebench.memory_mb
    # Each sample is its own task (ids must be unique per scoring call).
    tasks = [replace(benchmark.task(t), task_id=f"{t}#{n}") for n, (t, _, _) in enumerate(samples)]
    solutions = {task.task_id: s for task, (_, _, s) in zip(tasks, samples, strict=True)}
    ours = score_solutions(replace(benchmark, tasks=tasks), solutions, settings, progress=True)
    jobs = [(calibrate(solutions[t.task_id], t), t.test or "", memory) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        theirs = list(pool.map(_upstream_one, jobs))
    return theirs, ours


def _agree(label: str, status: str, score: Any) -> bool:
    if label.startswith("stricter:"):
        return status == "pass" and not score.base_passed
    return (status == "pass") == score.base_passed


def compare(
    benchmark: Any, samples: list[Sample], workers: int = 2
) -> tuple[list[Any], list[Any], list[Any]]:
    """(disagreements, every row, unstable rows): rows are (task_id, label, upstream status,
    fgit score).

    A sample whose verdicts differ is scored again on both sides; if they agree then, it is
    *unstable*, not a disagreement: some tests read the clock (BigCodeBench/1045 allows one
    second between two ``datetime.now()`` calls) or race a time limit, so a loaded machine
    can fail them on either side, upstream's too. A difference that comes back is real.
    """
    theirs, ours = _verdicts(benchmark, samples, workers)
    verdicts = zip(samples, theirs, ours, strict=True)
    rows = [(t, label, status, score) for (t, label, _), status, score in verdicts]
    suspects = [i for i, row in enumerate(rows) if not _agree(*row[1:])]
    unstable: list[Any] = []
    if suspects:
        again = _verdicts(benchmark, [samples[i] for i in suspects], workers)
        for i, status, score in zip(suspects, *again, strict=True):
            if _agree(rows[i][1], status, score):
                unstable.append(rows[i])
    disagree = [rows[i] for i in suspects if rows[i] not in unstable]
    return disagree, rows, unstable


def main(argv: list[str] | None = None) -> int:
    from fgit.evaluation.samples import read_samples
    from fgit.evaluation.tasks import load_benchmark

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="bigcodebench-complete")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--samples", type=Path, help="a samples file instead of the built-in set")
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    bench = load_benchmark(args.benchmark, args.data_dir)
    if args.samples:
        samples = [(t, "sample", s) for t, s in read_samples(args.samples).items()]
    else:
        samples = agreement_samples(bench, args.tasks, args.seed)
    disagree, rows, unstable = compare(bench, samples, args.workers)
    for task_id, label, status, score in rows:
        print(f"{task_id:>18} {label:<28} upstream {status:<8} fgit {score.base:<8} {score.detail}")
    for task_id, label, status, score in unstable:
        print(f"unstable (agreed when scored again): {task_id} {label} upstream {status} "
              f"fgit {score.base} {score.detail}")
    print(f"{len(rows)} samples, {len(disagree)} disagreements, {len(unstable)} unstable")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
