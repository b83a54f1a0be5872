"""n samples per task for pass@k: each task's seed, what a samples file was drawn with, and the
verdicts of every sample.

**Seeding.** A sampled run (temperature > 0) draws task T's samples with the seed
:func:`task_seed` ``(seed, T)``, passed to the backend per prompt (``SamplingParams.seeds``). A
task's samples then depend only on the model, its prompt, the settings and that seed, not on
which tasks share a chunk or a batch, nor on where a killed run stopped: a resumed run writes the
samples an uninterrupted one writes (on the same machine and software; the transformers backend
gives each sample a generator of its own, so the batch size does not matter either, except with
a static cache, where it does when n exceeds it). Greedy runs are deterministic and ignore the
seed.

**What a samples file was drawn with.** ``OUT.sampling.json`` beside ``OUT.samples.jsonl``
records temperature, top-p, seed and max_new_tokens; a run that would append samples drawn
otherwise is refused (:func:`check_sampling_record`), so one file never mixes greedy and sampled
answers, or two temperatures. n itself may grow: the missing samples are added.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fgit.evaluation.samples import SamplesError
from fgit.evaluation.scores import TaskScore
from fgit.evaluation.scoring import ScoreSettings, score_solution_sets
from fgit.evaluation.tasks import Benchmark
from fgit.io import write_json

__all__ = [
    "check_sampling_record",
    "sampling_record",
    "score_samples",
    "task_seed",
]

SEEDING = "per task: first 4 bytes of sha256(f'{seed}\\0{task_id}'), top bit cleared"


def task_seed(seed: int, task_id: str) -> int:
    """Task ``task_id``'s seed in a run seeded with ``seed``: the first four bytes of
    ``sha256(f"{seed}\\0{task_id}")``, big-endian, top bit cleared. 31 bits, because every
    backend takes that (llama.cpp's server, for one, wants an unsigned 32-bit seed)."""
    digest = hashlib.sha256(f"{seed}\0{task_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def sampling_record(
    *, n_samples: int, temperature: float, top_p: float, seed: int, max_new_tokens: int
) -> dict[str, Any]:
    """What decides a run's samples, as written to ``OUT.sampling.json``. Greedy runs record
    neither top-p nor the seed, which do not change greedy answers."""
    record: dict[str, Any] = {"temperature": temperature, "max_new_tokens": max_new_tokens}
    if temperature > 0:
        record |= {"top_p": top_p, "seed": seed, "seeding": SEEDING}
    return record | {"n_samples": n_samples}


def check_sampling_record(path: Path, record: Mapping[str, Any], samples_exist: bool) -> None:
    """Refuse to add to existing samples drawn otherwise than ``record`` says, then write
    ``record`` to ``path``. ``n_samples`` may differ: a resumed run tops the tasks up to its n.
    Samples without a record come from a greedy run of an fgit older than this file: they
    resume greedy only."""
    if samples_exist and path.exists():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SamplesError(f"{path}: unreadable sampling record ({error})") from None
        drawn = {k: v for k, v in found.items() if k != "n_samples"}
        wanted = {k: v for k, v in record.items() if k != "n_samples"}
        if drawn != wanted:
            raise SamplesError(
                f"{path}: the samples beside it were drawn with {_settings(drawn)}, this run "
                f"asks for {_settings(wanted)}; use another --out, or delete those samples"
            )
    elif samples_exist and record["temperature"] > 0:
        raise SamplesError(
            f"{path}: missing, so the samples beside it come from a greedy run; a sampled run "
            "would add to them; use another --out, or delete those samples"
        )
    write_json(path, dict(record))


def _settings(record: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in record.items() if k != "seeding")


class _LoadOnce(Mapping[str, Any]):
    """A benchmark's expected outputs, loaded at the first lookup and kept: scoring reads them
    once for n samples, and never for a benchmark that does not use them."""

    def __init__(self, benchmark: Benchmark, progress: bool) -> None:
        self._benchmark, self._progress = benchmark, progress
        self._data: Mapping[str, Any] | None = None

    def _loaded(self) -> Mapping[str, Any]:
        if self._data is None:
            from fgit.evaluation.groundtruth import expected_outputs

            self._data = expected_outputs(self._benchmark, progress=self._progress)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def score_samples(
    benchmark: Benchmark,
    samples: Mapping[str, Sequence[str]],
    n: int,
    settings: ScoreSettings | None = None,
    *,
    progress: bool = True,
    expected: Mapping[str, Any] | None = None,
) -> list[list[TaskScore]]:
    """Each task's verdicts for its ``n`` samples, tasks in benchmark order, samples in file
    order. Sample i of every task is set i of :func:`score_solution_sets` (the same programs,
    sandbox and verdicts as greedy pass@1, all samples' programs in one pool). A task without
    samples gets ``n`` ``missing`` verdicts; every other task must have exactly ``n``
    (:func:`samples_per_task`)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    wrong = [tid for tid, solutions in samples.items() if len(solutions) != n]
    if wrong:
        raise ValueError(f"{wrong[0]} has {len(samples[wrong[0]])} samples, not {n}")
    table = expected if expected is not None else _LoadOnce(benchmark, progress)
    # One pool for all n x tasks programs, one progress bar: n passes one after another would
    # each wait for their slowest program.
    passes = score_solution_sets(
        benchmark,
        [{task_id: solutions[i] for task_id, solutions in samples.items()} for i in range(n)],
        settings,
        progress=progress,
        expected=table,
    )
    return [list(task_scores) for task_scores in zip(*passes, strict=True)]
