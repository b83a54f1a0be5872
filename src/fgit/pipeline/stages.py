"""The stages of `fgit run` and what links them: each reads its inputs' files, writes its own.

A :class:`Stage` names its settings (what its key hashes), the stages it reads, the files it
writes, and which of those are its product (their digest feeds the keys downstream). The work
itself is done by the library's stage functions, which resume on their own after a crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fgit.io import write_json
from fgit.pipeline.config import RunConfig, train_config
from fgit.pipeline.state import PipelineError

__all__ = ["Context", "Stage", "build_plan", "eval_path", "model_ref", "training_stage"]


@dataclass(frozen=True)
class Context:
    config: RunConfig
    root: Path
    quiet: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    settings: dict[str, Any]
    outputs: dict[str, str]  # output name -> path relative to the run folder
    product: tuple[str, ...]  # the outputs whose content downstream stages depend on
    run: Callable[[Context], dict[str, Any]]  # does the work; returns facts for the manifest
    inputs: tuple[str, ...] = ()
    owned: tuple[str, ...] = ()  # removed before the stage reruns with another key
    always: bool = False  # cheap: runs every time, its digest decides what reruns downstream
    info: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- problems

PROBLEMS = "problems/problems.jsonl"


def _problems(ctx: Context) -> dict[str, Any]:
    from fgit.data.build import build_problems

    settings = ctx.config.problems
    try:
        built = build_problems(
            preset=settings.preset,
            path=settings.path,
            data_folder=ctx.config.data_dir,
            decontaminate=settings.decontaminate,
            limit=settings.limit,
            seed=settings.seed,
        )
    except ValueError as error:  # an unknown preset name
        raise PipelineError(f"problems.preset: {error}") from None
    if not built.problems:
        raise PipelineError(built.why_empty())
    built.write(ctx.root / PROBLEMS)
    return {
        "problems": len(built.problems),
        "skipped": built.skipped,
        "decontaminated": built.decontaminated,
    }


def _problems_stage(config: RunConfig) -> Stage:
    settings = config.problems.model_dump(mode="json")
    if config.problems.path is not None:
        settings["path"] = str(config.problems.path)
    return Stage(
        "problems",
        f"problems from {config.problems.preset or config.problems.path}",
        settings,
        {"problems": PROBLEMS, "report": PROBLEMS + ".report.json"},
        ("problems",),
        _problems,
        owned=("problems",),
        always=True,  # a few seconds; re-reading notices a changed data file
    )


# ---------------------------------------------------------------------------------- variants

VARIANTS = "variants/variants.jsonl"


def _variants(ctx: Context) -> dict[str, Any]:
    from fgit.generation import SamplingParams
    from fgit.records import read_problems
    from fgit.variants.sources import load_source
    from fgit.variants.stage import generate_variants

    settings = ctx.config.variants
    problems = read_problems(ctx.root / PROBLEMS)
    params = SamplingParams(
        temperature=settings.temperature,
        max_new_tokens=settings.max_new_tokens,
        seed=settings.seed,
    )
    template = settings.template.read_text(encoding="utf-8") if settings.template else None
    source = load_source(
        settings.teacher,
        params=params,
        template=template,
        seed=settings.seed,
        concurrency=settings.concurrency,
        quiet=ctx.quiet,
    )
    summary = generate_variants(
        problems, source, ctx.root / VARIANTS, k=settings.k, batch_size=settings.batch_size,
        quiet=ctx.quiet,
    )  # fmt: skip
    if summary.usable == 0:
        kinds = ", ".join(f"{kind} {n}" for kind, n in summary.extraction.most_common())
        raise PipelineError(
            f"the teacher {settings.teacher} gave no usable candidate for any of "
            f"{summary.problems} problems (what came back: {kinds or 'nothing'}); check the "
            f"teacher and its prompt (samples in {ctx.root / VARIANTS})"
        )
    return {
        "problems": summary.problems,
        "candidates": summary.candidates,
        "usable": summary.usable,
        "without_candidates": len(summary.without_candidates),
    }


def _variants_stage(config: RunConfig) -> Stage:
    settings = config.variants.model_dump(mode="json", exclude={"concurrency"})
    if config.variants.template is not None:  # the text decides, not where it lies
        settings["template"] = config.variants.template.read_text(encoding="utf-8")
    return Stage(
        "variants",
        f"variants from {config.variants.teacher} (k={config.variants.k})",
        settings,
        {"variants": VARIANTS, "summary": VARIANTS + ".summary.json"},
        ("variants",),
        _variants,
        inputs=("problems",),
        owned=("variants",),
    )


# ---------------------------------------------------------------------------------- selection

PAIRS = "selection/pairs.jsonl"


def _selection(ctx: Context) -> dict[str, Any]:
    from fgit.execution import SandboxLimits
    from fgit.selection.embedders import load_scorer
    from fgit.selection.select import select_pairs

    settings = ctx.config.selection
    summary = select_pairs(
        ctx.root / VARIANTS,
        ctx.root / PAIRS,
        load_scorer(settings.embedder),
        run_tests=settings.tests,
        limits=SandboxLimits(timeout_s=settings.timeout),
        workers=settings.workers,
        quiet=ctx.quiet,
    )
    if summary.pairs == 0:
        reasons = ", ".join(f"{why} {n}" for why, n in summary.skipped.most_common()) or "-"
        raise PipelineError(
            f"selection kept no pair of {summary.problems} problems (skipped: {reasons}); "
            f"every candidate is in {ctx.root / PAIRS}.candidates.jsonl"
        )
    return {
        "pairs": summary.pairs,
        "problems": summary.problems,
        "skipped": dict(summary.skipped),
        "mean_similarity": summary.mean_similarity,
    }


def _selection_stage(config: RunConfig) -> Stage:
    return Stage(
        "selection",
        f"selection (embedder {config.selection.embedder}, tests "
        f"{'on' if config.selection.tests else 'off'})",
        config.selection.model_dump(mode="json", exclude={"workers"}),
        {
            "pairs": PAIRS,
            "summary": PAIRS + ".summary.json",
            "candidates": PAIRS + ".candidates.jsonl",
        },
        ("pairs",),
        _selection,
        inputs=("variants",),
        owned=("selection",),
    )


# ---------------------------------------------------------------------------------- segments

SEGMENTS = "segments"


def _prompt_settings(config: RunConfig) -> dict[str, Any]:
    """How training renders prompts (the first run's settings), so the report shows its masks."""
    first = next(iter(config.training.runs), None)
    if first is None:
        return {"prompt_format": "auto", "system_prompt": None, "max_length": 1024,
                "prompt_template": "{instruction}\n"}  # fmt: skip
    train = train_config(config, first)
    return {
        "prompt_format": train.prompt_format,
        "system_prompt": train.system_prompt,
        "max_length": train.max_length,
        "prompt_template": getattr(train, "prompt_template", "{instruction}\n"),
        # Only when set: a run's segments key stays what it was at the default.
        **({"line_gap": train.line_gap} if train.line_gap != "next-line" else {}),
    }


def _segments(ctx: Context) -> dict[str, Any]:
    from fgit.models import load_tokenizer
    from fgit.records import read_pairs
    from fgit.report import pair_views
    from fgit.segments import PromptFormat
    from fgit.segments.stats import summarise_pairs

    settings = _prompt_settings(ctx.config)
    fmt = PromptFormat(
        kind=settings["prompt_format"],
        template=settings["prompt_template"],
        system=settings["system_prompt"],
    )
    pairs = read_pairs(ctx.root / PAIRS)
    tokenizer = load_tokenizer(ctx.config.model, quiet=ctx.quiet)
    line_gap = settings.get("line_gap", "next-line")
    stats = summarise_pairs(
        pairs, tokenizer, prompt_format=fmt, max_length=settings["max_length"],
        show_progress=not ctx.quiet, line_gap=line_gap,
    )  # fmt: skip
    views, skipped = pair_views(
        pairs, tokenizer, prompt_format=fmt, max_length=settings["max_length"],
        limit=ctx.config.segments.examples, line_gap=line_gap,
    )  # fmt: skip
    folder = ctx.root / SEGMENTS
    folder.mkdir(parents=True, exist_ok=True)
    write_json(
        folder / "stats.json",
        {"rows": stats.rows(), "skips": stats.skip_summary(), "prompt": settings},
    )
    write_json(
        folder / "examples.json",
        {"model": ctx.config.model, "pairs": views, "skipped": skipped},
    )
    return {"encoded": stats.encoded, "skipped": len(stats.skipped), "shown": len(views)}


def _segments_stage(config: RunConfig) -> Stage:
    return Stage(
        "segments",
        "error-sensitive segments",
        {"model": config.model, "examples": config.segments.examples, **_prompt_settings(config)},
        {"stats": f"{SEGMENTS}/stats.json", "examples": f"{SEGMENTS}/examples.json"},
        ("stats", "examples"),
        _segments,
        inputs=("selection",),
        owned=(SEGMENTS,),
    )


# ---------------------------------------------------------------------------------- training

# Settings that change neither the weights nor the log the report reads.
_TRAIN_IGNORED = {"output_dir", "pairs", "save_steps", "save_total_limit", "report_to", "quiet"}


def _launch_accelerate(ctx: Context, name: str, config_path: Path) -> None:
    """`accelerate launch` of `fgit train` (one process per GPU); its output streams through."""
    accelerate_config = ctx.config.training.accelerate_config
    assert accelerate_config is not None
    if not accelerate_config.is_file():
        raise PipelineError(f"training.accelerate_config {accelerate_config}: no such file")
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(accelerate_config), "-m", "fgit", "train", "--config", str(config_path),
    ]  # fmt: skip
    from fgit.warn import strict_env  # --strict reaches every training process

    env = {**os.environ, "PYTHONUNBUFFERED": "1", **strict_env()}
    done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0:
        raise PipelineError(
            f"training run {name}: `accelerate launch` exited with code {done.returncode} "
            f"(command: {' '.join(command)})"
        )


def _training(
    name: str, run: str | None = None, pairs: str = PAIRS, start: str | None = None
) -> Callable[[Context], dict[str, Any]]:
    """Training run ``run``'s settings (default: ``name``'s) on the pairs at ``pairs``, from the
    model at ``start`` (a path in the run folder; None: the config's model), into
    ``train/NAME``."""

    def go(ctx: Context) -> dict[str, Any]:
        from fgit.training.trainer import SUMMARY_FILE
        from fgit.training.trainer import train as run_training

        out = ctx.root / "train" / name
        links: dict[str, Any] = {"pairs": ctx.root / pairs, "output_dir": out, "quiet": ctx.quiet}
        if start is not None:
            links["model"] = str(ctx.root / start)
        config = train_config(ctx.config, run or name, **links)
        if ctx.config.training.launcher == "accelerate":
            out.mkdir(parents=True, exist_ok=True)
            config_path = out / "train_config.yaml"
            config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
            _launch_accelerate(ctx, name, config_path)
            summary = json.loads((out / SUMMARY_FILE).read_text())
            steps = summary["steps"]
        else:
            result = run_training(config)
            summary, steps = result.summary, result.steps
        if not (out / "model").is_dir():
            raise PipelineError(
                f"training run {name} wrote no merged model ({out / 'model'}); evaluation needs "
                "one: keep lora.merge true"
            )
        data = summary.get("data", {})
        # Pairs the steps trained on, and how many the data offered (max_steps can stop early).
        return {
            "loss": config.loss,
            "steps": steps,
            "pairs_seen": summary.get("distinct_pairs_seen"),
            "pairs_available": data.get("used"),
        }

    return go


def training_stage(
    config: RunConfig,
    name: str,
    *,
    run: str | None = None,
    pairs: tuple[str, str] = ("selection", PAIRS),
    start: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Stage:
    """The stage ``train:NAME``: run ``run``'s settings (default ``name``'s) on the pairs of
    stage ``pairs[0]`` (file ``pairs[1]``), from the model of stage ``train:START`` (None: the
    config's model). ``extra``: more settings for the key (a round's number)."""
    train = train_config(config, run or name)
    settings = train.key_settings(_TRAIN_IGNORED)
    inputs: tuple[str, ...] = (pairs[0],)
    if start is not None:  # the starting model is identified by its digest, not its path
        settings["model"] = f"train:{start}"
        inputs += (f"train:{start}",)
    out = f"train/{name}"
    return Stage(
        f"train:{name}",
        f"fine-tune {name} (loss {train.loss})",
        settings | (extra or {}),
        {"run": out, "log": f"{out}/train_log.jsonl", "model": f"{out}/model"},
        ("model",),
        _training(name, run, pairs[1], None if start is None else f"train/{start}/model"),
        inputs=inputs,
        owned=(out,),
        info={"loss": train.loss, **({"run": run} if run else {})},
    )


# ---------------------------------------------------------------------------------- evaluation


def eval_path(model: str, benchmark: str) -> str:
    from fgit.evaluation.problems import is_problems_benchmark, results_label

    if is_problems_benchmark(benchmark):
        return f"eval/{model}/{results_label(benchmark)}.json"
    return f"eval/{model}/{benchmark.replace('+', 'plus')}.json"


def _benchmark_key(benchmark: str) -> tuple[str, dict[str, Any]]:
    """(the name a stage shows, the settings that identify the benchmark in its key). A
    problems file is named ``problems:<file name>`` and identified by its sha256, never by its
    path: moving the file (or the run folder) keeps the key; editing the file changes it."""
    from fgit.evaluation.problems import benchmark_name, is_problems_benchmark, problems_path
    from fgit.io import sha256_file

    if not is_problems_benchmark(benchmark):
        return benchmark, {"benchmark": benchmark}

    path = problems_path(benchmark)
    # A file written after an earlier stage (`fgit run --until problems`, then `fgit problems
    # holdout`) may not exist yet: the stages before this one still run, and this one stops
    # with evaluation's one-line error when it is reached.
    digest = sha256_file(path) if path.is_file() else None
    name = benchmark_name(path)
    return name, {"benchmark": name, "problems_sha256": digest}


def _task_ids(config: RunConfig) -> list[str] | None:
    if config.evaluation.tasks != "heldout-half":
        return None
    from fgit.problems import humaneval_task_ids

    return humaneval_task_ids("heldout", config.data_dir, seed=config.problems.seed)


def model_ref(config: RunConfig, root: Path, model: str) -> str:
    path = config.model if model == "base" else str(root / "train" / model / "model")
    return f"vllm:{path}" if config.evaluation.engine == "vllm" else path


def _evaluation(model: str, benchmark: str) -> Callable[[Context], dict[str, Any]]:
    def run(ctx: Context) -> dict[str, Any]:
        from fgit.evaluation.scoring import ScoreSettings
        from fgit.evaluation.stage import GenerationSettings, evaluate_model

        settings = ctx.config.evaluation
        generation = GenerationSettings(
            prompt_kind=settings.prompt,
            max_new_tokens=_max_new_tokens(ctx.config, benchmark),
            batch_size=settings.batch_size,
            dtype=settings.dtype,
            cache_implementation=None if settings.cache == "dynamic" else settings.cache,
        )
        result = evaluate_model(
            model_ref(ctx.config, ctx.root, model),
            benchmark,
            ctx.root / eval_path(model, benchmark),
            data_dir=ctx.config.data_dir,
            generation=generation,
            scoring=ScoreSettings(workers=settings.workers),
            limit=settings.limit,
            task_ids=_task_ids(ctx.config),
            quiet=ctx.quiet,
        )
        if model != "base":  # the trained model's card lists pass@1 of every benchmark so far
            from fgit.training.model_card import record_evaluation

            results = [ctx.root / eval_path(model, b) for b in settings.benchmarks]
            record_evaluation(ctx.root / "train" / model / "model", results)
        return {"model": model, "benchmark": result.benchmark, **_pass_rates(result)}

    return run


def _max_new_tokens(config: RunConfig, benchmark: str) -> int:
    from fgit.evaluation.benchmark_names import default_max_new_tokens

    given = config.evaluation.max_new_tokens
    return given if given is not None else default_max_new_tokens(benchmark)


def _pass_rates(run: Any) -> dict[str, Any]:
    from fgit.evaluation.results import run_scores

    scores = run_scores(run)
    info: dict[str, Any] = {"tasks": len(scores), "passed_base": sum(s.base_passed for s in scores)}
    if run.pass_at_1_plus is not None:
        info["passed_plus"] = sum(s.plus_passed for s in scores)
    return info


def _evaluation_stage(config: RunConfig, model: str, benchmark: str) -> Stage:
    settings = config.evaluation.model_dump(
        mode="json", exclude={"benchmarks", "models", "workers", "tasks"}
    )
    ids = _task_ids(config)
    name, identity = _benchmark_key(benchmark)
    settings |= {**identity, "tasks": ids if ids is not None else "all"}
    # The limit used, not "unset": a config that left it unset keeps the key it had when the
    # default was a fixed 512 (and a benchmark's default is part of what ran).
    settings["max_new_tokens"] = _max_new_tokens(config, benchmark)
    inputs: tuple[str, ...] = ()
    if model == "base":
        settings["model"] = config.model
    else:
        inputs = (f"train:{model}",)
    path = eval_path(model, name)
    stem = path.removesuffix(".json")
    return Stage(
        f"eval:{model}:{name}",
        f"evaluate {model} on {name}",
        settings,
        {"results": path, "samples": stem + ".samples.jsonl", "raw": stem + ".raw.jsonl"},
        ("results",),
        _evaluation(model, benchmark),
        inputs=inputs,
        owned=(path, stem + ".samples.jsonl", stem + ".raw.jsonl", stem + ".sampling.json"),
        info={"model": model, "benchmark": name},
    )


# ---------------------------------------------------------------------------------- report


def _report(ctx: Context) -> dict[str, Any]:
    from fgit.report import write_report

    index = write_report(ctx.root)
    return {"index": str(index.relative_to(ctx.root))}


def _report_stage() -> Stage:
    return Stage(
        "report",
        "report (HTML + PNG)",
        {},
        {"index": "report/index.html"},
        ("index",),
        _report,
        owned=("report",),
        always=True,  # reads the manifest itself, so it is redone whenever anything ran
    )


def build_plan(config: RunConfig) -> list[Stage]:
    """Every stage of a run, in an order where each comes after the stages it reads."""
    from fgit.pipeline.rounds import onpolicy_stages

    plan = [_problems_stage(config)]
    if config.needs_teacher:
        plan += [_variants_stage(config), _selection_stage(config), _segments_stage(config)]
    plan += [training_stage(config, name) for name in config.teacher_runs]
    plan += onpolicy_stages(config)
    plan += [
        _evaluation_stage(config, model, benchmark)
        for model in config.eval_models
        for benchmark in config.evaluation.benchmarks
    ]
    if config.report:
        plan.append(_report_stage())
    return plan
