"""`fgit evaluate`: generate greedy solutions (or read a samples file), score, write a run.

Files next to the results JSON ``OUT``: ``OUT.samples.jsonl`` (sanitised solutions, EvalPlus
format, what is scored), ``OUT.raw.jsonl`` (raw solutions) and ``OUT.sampling.json`` (what the
samples were drawn with, :mod:`fgit.evaluation.sampling`). Generation appends a chunk of tasks
at a time, so a killed run resumes with the tasks it has not finished.

n samples per task (``GenerationSettings.n_samples``, with a temperature above 0) are n rows
per task, as evalplus's codegen writes them; a task counts as done once it has n rows, and a
resumed run adds the rows a task lacks. They are scored for pass@k
(:mod:`fgit.evaluation.passk`).

``task_ids`` evaluates a chosen subset of the benchmark (e.g. the held-out half of a HumanEval
split, :func:`fgit.problems.humaneval_task_ids`): those tasks in benchmark order, recorded in the
run's ``task_subset`` (count and sha256 of the sorted ids) so runs on one subset compare.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fgit.backends import Backend, GenerationError, can_complete, load_backend, require_completion
from fgit.backends.protocol import SamplingParams
from fgit.evaluation.benchmark_names import bigcodebench_split, default_max_new_tokens
from fgit.evaluation.passk import parse_ks
from fgit.evaluation.prompts import (
    EvalPrompt,
    PromptError,
    PromptKind,
    build_prompt,
    prompt_format_record,
    sanitizer_name,
    server_prompt,
)
from fgit.evaluation.prompts import solution_from_completion as to_solution
from fgit.evaluation.samples import SamplesError, append_samples, read_samples, samples_per_task
from fgit.evaluation.sampling import (
    SEEDING,
    check_sampling_record,
    sampling_record,
    score_samples,
    task_seed,
)
from fgit.evaluation.scoring import ScoreSettings
from fgit.evaluation.tasks import Benchmark, load_benchmark

__all__ = [
    "GenerationSettings",
    "TaskSubsetError",
    "evaluate_model",
    "evaluate_samples",
    "load_generation_backend",
    "select_tasks",
    "sibling",
]


class TaskSubsetError(SamplesError):
    """Task ids asked for that the benchmark does not have (a SamplesError, so the command line
    reports it in one line)."""


@dataclass(frozen=True)
class GenerationSettings:
    prompt_kind: PromptKind = "auto"
    # None: the benchmark's default (benchmark_names.default_max_new_tokens: 512, BigCodeBench
    # 1280 as upstream); the run records the number used.
    max_new_tokens: int | None = None
    batch_size: int = 16
    dtype: str = "auto"
    device: str | None = None
    sanitize: bool = True
    chunk_tasks: int = 64  # tasks generated between two appends to the samples file
    seed: int = 0
    cache_implementation: str | None = None  # e.g. "static" (transformers backend only)
    # pass@k: n samples per task at this temperature and top-p (0: greedy, n must be 1)
    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0

    def check(self) -> None:
        """One-line GenerationError for settings that cannot sample as asked."""
        if self.n_samples < 1:
            raise GenerationError(f"--n-samples must be >= 1, got {self.n_samples}")
        if self.temperature < 0:
            raise GenerationError(f"--temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise GenerationError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.n_samples > 1 and self.temperature == 0:
            raise GenerationError(
                f"--n-samples {self.n_samples} needs --temperature > 0: greedy decoding gives "
                "one answer (the Codex paper samples at 0.2 for pass@1, 0.8 for pass@100)"
            )


def sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.name.removesuffix(".json") + suffix)


def _limit(benchmark: Benchmark, limit: int | None) -> Benchmark:
    if limit is None:
        return benchmark
    return replace(benchmark, tasks=benchmark.tasks[:limit])


def select_tasks(benchmark: Benchmark, task_ids: Sequence[str] | None) -> Benchmark:
    """Only the tasks of ``task_ids``, in the benchmark's order (``None``: all of them).

    Raises :class:`TaskSubsetError` naming the ids the benchmark lacks (or for an empty list).
    """
    if task_ids is None:
        return benchmark
    if isinstance(task_ids, str):
        raise TypeError("task_ids must be a sequence of task ids, not one string")
    wanted = set(task_ids)
    if not wanted:
        raise TaskSubsetError(f"{benchmark.name}: the task subset is empty")
    unknown = wanted - {task.task_id for task in benchmark.tasks}
    if unknown:
        shown = sorted(unknown)
        more = f" … ({len(shown)} in all)" if len(shown) > 10 else ""
        example = f"; its ids look like {benchmark.tasks[0].task_id!r}" if benchmark.tasks else ""
        raise TaskSubsetError(
            f"{benchmark.name} has no task(s) {', '.join(shown[:10])}{more}{example}"
        )
    return replace(benchmark, tasks=[t for t in benchmark.tasks if t.task_id in wanted])


def _subset_record(
    benchmark: Benchmark, task_ids: Sequence[str] | None, note: str | None
) -> dict[str, Any] | None:
    from fgit.evaluation.results import task_subset_record

    if task_ids is None:
        return None
    return task_subset_record((t.task_id for t in benchmark.tasks), note)


def _generate(
    backend: Backend,
    benchmark: Benchmark,
    settings: GenerationSettings,
    out: Path,
    quiet: bool,
) -> tuple[dict[str, list[str]], float, int]:
    """``settings.n_samples`` solutions for every task, resuming from ``out``'s samples file.
    Returns the solutions, the generation seconds of this call and the tokens generated in it.

    A task lacking samples is generated whole (with its own seed when sampling, so it draws
    what it drew before) and gets only the rows it lacks, in each file."""
    from fgit.records import repair_truncated_tail

    samples_path, raw_path = sibling(out, ".samples.jsonl"), sibling(out, ".raw.jsonl")
    for path in (samples_path, raw_path):
        if path.exists():
            repair_truncated_tail(path)  # a kill -9 mid-line leaves a partial last line
    done = read_samples(samples_path) if samples_path.exists() else {}
    n, sampled = settings.n_samples, settings.temperature > 0
    record = sampling_record(
        n_samples=n, temperature=settings.temperature, top_p=settings.top_p,
        seed=settings.seed, max_new_tokens=settings.max_new_tokens,
    )  # fmt: skip
    check_sampling_record(sibling(out, ".sampling.json"), record, bool(done))
    too_many = [t.task_id for t in benchmark.tasks if len(done.get(t.task_id, ())) > n]
    if too_many:
        raise SamplesError(
            f"{samples_path}: {too_many[0]} has {len(done[too_many[0]])} samples, more than "
            f"the {n} asked for; use another --out, or the same --n-samples"
        )
    raw_done = read_samples(raw_path) if raw_path.exists() else {}
    raw_counts = {task_id: len(rows) for task_id, rows in raw_done.items()}
    todo = [task for task in benchmark.tasks if len(done.get(task.task_id, ())) < n]
    params = SamplingParams(
        n=n, temperature=settings.temperature, top_p=settings.top_p,
        max_new_tokens=settings.max_new_tokens, seed=settings.seed,
    )  # fmt: skip
    started, tokens = time.perf_counter(), 0
    for start in range(0, len(todo), settings.chunk_tasks):
        chunk = todo[start : start + settings.chunk_tasks]
        if sampled:  # each task its own seed: its samples do not depend on the chunk
            params = replace(
                params, seeds=tuple(task_seed(settings.seed, t.task_id) for t in chunk)
            )
        prompts, completions = _complete(backend, chunk, settings, params, benchmark.name)
        raw_rows, rows = [], []
        for task, prompt, texts in zip(chunk, prompts, completions, strict=True):
            tokens += sum(_count_tokens(backend, text) for text in texts)
            pairs = [
                to_solution(prompt, text, task.entry_point, sanitize=settings.sanitize)
                for text in texts
            ]
            have = done.setdefault(task.task_id, [])
            raw_rows += [
                {"task_id": task.task_id, "solution": raw}
                for raw, _ in pairs[raw_counts.get(task.task_id, 0) :]
            ]
            rows += [{"task_id": task.task_id, "solution": sol} for _, sol in pairs[len(have) :]]
            have += [sol for _, sol in pairs[len(have) :]]
        append_samples(raw_path, raw_rows)
        append_samples(samples_path, rows)  # last: a task counts as done once it is here
        if not quiet:
            finished = sum(len(done.get(t.task_id, ())) == n for t in benchmark.tasks)
            print(f"generated {finished}/{len(benchmark.tasks)} tasks", flush=True)
    # Solutions of tasks outside this (possibly --limit'ed) benchmark stay on disk, unscored.
    wanted = {t.task_id: done[t.task_id] for t in benchmark.tasks}
    return wanted, time.perf_counter() - started, tokens


def _complete(
    backend: Backend,
    chunk: list[Any],
    settings: GenerationSettings,
    params: SamplingParams,
    benchmark: str,
) -> tuple[list[EvalPrompt], list[list[str]]]:
    """Prompts and ``params.n`` completions each for a chunk of tasks.

    A local model continues evalplus's (or bigcodebench's) prompt with the answer begun. A
    backend that only takes conversations (an OpenAI-compatible server, vLLM's chat) gets the
    user message and answers in full; the sanitizer then takes the code out of the markdown.
    """
    split = bigcodebench_split(benchmark)
    if settings.prompt_kind == "plain":
        backend = require_completion(backend, "--prompt-format plain")
    if can_complete(backend):
        formatter = backend.prompt_formatter
        prompts = [
            build_prompt(t.prompt, formatter, t.dataset, settings.prompt_kind, split) for t in chunk
        ]
        return prompts, _complete_by_stops(backend, prompts, params)
    prompts = [server_prompt(t.prompt, t.dataset, split) for t in chunk]
    conversations = [[{"role": "user", "content": p.text}] for p in prompts]
    return prompts, backend.generate(conversations, params)


def _complete_by_stops(
    backend: Any, prompts: list[EvalPrompt], params: SamplingParams
) -> list[list[str]]:
    """Completions of ``prompts`` in their order, one backend call per distinct stop tuple:
    a problems file may mix completion-style (HumanEval's stops) and prose problems (MBPP's),
    and each prompt must stop at its own strings. Per-prompt seeds follow their prompts."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(tuple(prompt.stop), []).append(index)
    out: list[list[str]] = [[] for _ in prompts]
    for stop, indices in groups.items():
        seeds = None if params.seeds is None else tuple(params.seeds[i] for i in indices)
        texts = backend.complete(
            [prompts[i].text for i in indices], replace(params, stop=stop, seeds=seeds)
        )
        for index, completions in zip(indices, texts, strict=True):
            out[index] = completions
    return out


def _count_tokens(backend: Backend, text: str) -> int:
    if can_complete(backend):
        return backend.count_tokens(text)
    # A chat-only backend has no tokenizer here: whitespace words, a rough count for tokens/s.
    return len(text.split())


def load_generation_backend(model: str, generation: GenerationSettings, quiet: bool) -> Backend:
    """The backend of the spec ``model`` (:func:`fgit.backends.load_backend`: ``hf:``, a
    packaged name, a folder or a hub id; ``openai:MODEL@URL``; ``vllm:NAME``), given the
    settings of ``generation`` it uses."""
    return load_backend(
        model,
        dtype=generation.dtype,
        device=generation.device,
        batch_size=generation.batch_size,
        cache_implementation=generation.cache_implementation,
        quiet=quiet,
    )


def evaluate_model(
    model: str,
    benchmark_name: str,
    out: Path,
    *,
    data_dir: Path | None = None,
    generation: GenerationSettings = GenerationSettings(),
    scoring: ScoreSettings | None = None,
    limit: int | None = None,
    quiet: bool = False,
    task_ids: Sequence[str] | None = None,
    task_subset_note: str | None = None,
    ks: Sequence[int] | None = None,
) -> Any:
    """Greedy solutions from ``model`` for ``benchmark_name`` (or ``generation.n_samples``
    sampled ones), scored; writes and returns the run (:class:`fgit.evaluation.results.EvalRun`).

    ``task_ids``: only those tasks (in benchmark order; unknown ids raise
    :class:`TaskSubsetError`), recorded as the run's ``task_subset`` with ``task_subset_note``;
    ``limit`` then takes the first ``limit`` of them. ``ks``: the k of pass@k (default: those
    of 1, 10, 100 that are at most n).
    """
    from fgit.evaluation.results import build_run, write_run

    generation.check()
    if ks is not None:
        ks = _ks(ks, generation.n_samples)
    scoring = scoring or ScoreSettings()
    if generation.prompt_kind == "plain" and bigcodebench_split(benchmark_name) == "instruct":
        # Before a model is loaded; with "auto", build_prompt refuses a model without a template.
        raise PromptError(f"{benchmark_name}: --prompt-format plain cannot complete prose prompts")
    if generation.max_new_tokens is None:
        generation = replace(generation, max_new_tokens=default_max_new_tokens(benchmark_name))
    benchmark = select_tasks(load_benchmark(benchmark_name, data_dir), task_ids)
    benchmark = _limit(benchmark, limit)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    backend = load_generation_backend(model, generation, quiet)
    timings["load_s"] = time.perf_counter() - started
    solutions, seconds, tokens = _generate(backend, benchmark, generation, out, quiet)
    timings["generate_s"] = seconds
    timings["tokens_per_s"] = tokens / seconds if seconds > 0 else 0.0
    started = time.perf_counter()
    scores = score_samples(benchmark, solutions, generation.n_samples, scoring, progress=not quiet)
    timings["score_s"] = time.perf_counter() - started
    dataset = _dataset(benchmark)
    formatter = backend.prompt_formatter if can_complete(backend) else None
    fmt = prompt_format_record(
        generation.prompt_kind, formatter, dataset, bigcodebench_split(benchmark_name)
    )
    if len(_datasets(benchmark)) > 1:  # a problems file of completion-style and prose tasks
        fmt["datasets"] = _datasets(benchmark)
    gen = {**backend.describe(), **vars(generation), "greedy": generation.temperature == 0}
    if generation.temperature > 0:
        gen["seeding"] = SEEDING
    run = build_run(
        model=model,
        benchmark=benchmark,
        sample_scores=scores,
        sample_solutions=solutions,
        ks=ks,
        prompt_format=fmt,
        sanitizer=sanitizer_name(dataset, generation.sanitize),
        generation=gen,
        scoring=scoring,
        seed=generation.seed,
        timings=timings,
        task_subset=_subset_record(benchmark, task_ids, task_subset_note),
    )
    write_run(out, run)
    return run


def evaluate_samples(
    samples: Path,
    benchmark_name: str,
    out: Path,
    *,
    data_dir: Path | None = None,
    scoring: ScoreSettings | None = None,
    quiet: bool = False,
    task_ids: Sequence[str] | None = None,
    task_subset_note: str | None = None,
    ks: Sequence[int] | None = None,
) -> Any:
    """Score an existing EvalPlus-format samples file; writes and returns the run.

    ``task_ids``: score only those tasks, as in :func:`evaluate_model`; samples of other tasks
    in the file are ignored, subset tasks without a sample are ``missing``. Several rows per
    task are its n samples, the same n for every task (:func:`samples_per_task`); a task
    without rows gets n ``missing`` verdicts. ``ks``: the k of pass@k, each <= n.
    """
    from fgit.evaluation.results import build_run, write_run

    scoring = scoring or ScoreSettings()
    full = load_benchmark(benchmark_name, data_dir)
    benchmark = select_tasks(full, task_ids)
    prefixes = {
        t.task_id: t.prompt if t.completion_prefix is None else t.completion_prefix
        for t in full.tasks
    }
    solutions = read_samples(samples, prefixes)
    unknown = [task_id for task_id in solutions if task_id not in prefixes]
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise SamplesError(f"{samples}: task {unknown[0]!r}{more} is not in {full.name}")
    if task_ids is not None:
        kept = {t.task_id for t in benchmark.tasks}
        solutions = {tid: code for tid, code in solutions.items() if tid in kept}
    n = max(1, samples_per_task(solutions, samples))
    if ks is not None:
        ks = _ks(ks, n)
    _warn_partial(samples, benchmark, solutions)
    started = time.perf_counter()
    scores = score_samples(benchmark, solutions, n, scoring, progress=not quiet)
    run = build_run(
        model=f"samples:{samples}",
        benchmark=benchmark,
        sample_scores=scores,
        sample_solutions=solutions,
        ks=ks,
        prompt_format={"kind": "samples", "file": str(samples)},
        sanitizer="as given",
        generation={},
        scoring=scoring,
        seed=None,
        timings={"score_s": time.perf_counter() - started},
        task_subset=_subset_record(benchmark, task_ids, task_subset_note),
    )
    write_run(out, run)
    return run


def _warn_partial(samples: Path, benchmark: Benchmark, solutions: Mapping[str, Any]) -> None:
    """A samples file without some of the benchmark's tasks scores those as failures
    (``missing``): a warning before scoring (an error under --strict)."""
    from fgit.warn import warn

    total = len(benchmark.tasks)
    covered = sum(task.task_id in solutions for task in benchmark.tasks)
    if covered < total:
        warn(
            f"{samples}: samples for {covered} of the {total} tasks of {benchmark.name}; the "
            f"other {total - covered} count as failures (missing), so this pass@1 is not "
            f"comparable to published {benchmark.name} numbers"
        )


def _dataset(benchmark: Benchmark) -> str:
    """The dataset of the benchmark's tasks, which picks the prompt record and the sanitizer;
    "" for an empty task list. A problems file may mix "humaneval" (completion-style) and
    "mbpp" (prose) tasks: both are evalplus's prompts and sanitizer, so the first stands for
    all (the record lists them: :func:`_datasets`); BigCodeBench's never mixes with them."""
    datasets = _datasets(benchmark)
    if "bigcodebench" in datasets and len(datasets) > 1:
        raise ValueError(f"{benchmark.name}: tasks of {datasets} in one benchmark")
    return benchmark.tasks[0].dataset if benchmark.tasks else ""


def _datasets(benchmark: Benchmark) -> list[str]:
    """The distinct datasets (prompt styles) of the benchmark's tasks, sorted."""
    return sorted({task.dataset for task in benchmark.tasks})


def _ks(ks: Sequence[int], n: int) -> list[int]:
    try:
        return parse_ks(ks, n)
    except ValueError as error:
        raise SamplesError(str(error)) from None
