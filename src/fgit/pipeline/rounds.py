"""The on-policy stages of `fgit run`: rounds of learning from the model's own attempts.

For each run NAME of ``onpolicy.runs``, round k (1..R) is: the model after round k-1 (the
config's model for k = 1) answers every training problem ``samples`` times, each attempt runs
against the problem's tests; its passing and failing attempts become pairs; NAME's training
settings train from that model on them, giving ``NAME-rk``; evaluation scores ``NAME-rk``. The
stages, named after the model that samples (``base`` for round 1, shared by every on-policy
run, since all start from the same model):

    onpolicy:problems                 the training problems that are sampled (the holdout left out)
    attempts:MODEL                    onpolicy/MODEL/attempts.json (+ .samples/.raw.jsonl)
    pairs:MODEL                       onpolicy/MODEL/pairs.jsonl (+ .summary.json, .outcomes.jsonl)
    train:NAME-rk                     train/NAME-rk/, from train:NAME-r(k-1) (or the config's model)
    eval:NAME-rk:BENCHMARK            (with the other evaluations)

Every stage key includes what it reads, so a round's stages are keyed by the rounds before it;
a killed run resumes inside the round it was in (sampling by its samples file, training by its
checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fgit.pipeline.config import RunConfig, round_name, train_config
from fgit.pipeline.stages import PAIRS, PROBLEMS, Context, Stage, model_ref, training_stage
from fgit.pipeline.state import PipelineError

__all__ = ["ONPOLICY_PROBLEMS", "attempts_path", "onpolicy_stages", "pairs_path", "sampler_of"]

ONPOLICY_PROBLEMS = "onpolicy/problems.jsonl"


def attempts_path(model: str) -> str:
    return f"onpolicy/{model}/attempts.json"


def pairs_path(model: str) -> str:
    return f"onpolicy/{model}/pairs.jsonl"


def sampler_of(run: str, round_number: int) -> str:
    """The model whose attempts round ``round_number`` of ``run`` trains on."""
    return "base" if round_number == 1 else round_name(run, round_number - 1)


def _holdout(config: RunConfig) -> tuple[float, int]:
    """The on-policy runs' shared holdout (checked equal by the config)."""
    settings = train_config(config, config.onpolicy.runs[0])
    return settings.holdout_fraction, settings.holdout_seed


# ---------------------------------------------------------------------------- sampled problems


def _problems(ctx: Context) -> dict[str, Any]:
    from fgit.onpolicy.attempts import sampled_problems
    from fgit.records import read_problems, write_records

    problems = read_problems(ctx.root / PROBLEMS)
    chosen = sampled_problems(problems, *_holdout(ctx.config))
    if not chosen:
        raise PipelineError(
            f"none of the {len(problems)} problems can be sampled on-policy: an attempt is "
            "labelled by the problem's tests, and none outside the holdout has tests that run"
        )
    write_records(ctx.root / ONPOLICY_PROBLEMS, chosen)
    return {"problems": len(chosen), "of": len(problems)}


def _problems_stage(config: RunConfig) -> Stage:
    fraction, seed = _holdout(config)
    return Stage(
        "onpolicy:problems",
        "the training problems that are sampled",
        {"holdout_fraction": fraction, "holdout_seed": seed},
        {"problems": ONPOLICY_PROBLEMS},
        ("problems",),
        _problems,
        inputs=("problems",),
        owned=(ONPOLICY_PROBLEMS,),
        always=True,  # seconds; its digest decides what reruns
    )


# ---------------------------------------------------------------------------- attempts


def _generation(config: RunConfig) -> Any:
    from fgit.evaluation.stage import GenerationSettings

    sampling, evaluation = config.onpolicy, config.evaluation
    return GenerationSettings(
        prompt_kind=evaluation.prompt,
        max_new_tokens=sampling.max_new_tokens,
        batch_size=evaluation.batch_size,
        dtype=evaluation.dtype,
        cache_implementation=None if evaluation.cache == "dynamic" else evaluation.cache,
        seed=sampling.seed,
        n_samples=sampling.samples,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
    )


def _attempts(model: str) -> Callable[[Context], dict[str, Any]]:
    def run(ctx: Context) -> dict[str, Any]:
        from fgit.onpolicy.attempts import sample_attempts

        result = sample_attempts(
            model_ref(ctx.config, ctx.root, model),
            ctx.root / ONPOLICY_PROBLEMS,
            ctx.root / attempts_path(model),
            _generation(ctx.config),
            workers=ctx.config.evaluation.workers,
            timeout=ctx.config.selection.timeout,
            quiet=ctx.quiet,
        )
        samples = sum(len(t.samples or [t]) for t in result.tasks)
        return {"problems": len(result.tasks), "attempts": samples,
                "pass_rate": result.pass_at_1_base}  # fmt: skip

    return run


def _attempts_stage(config: RunConfig, model: str) -> Stage:
    sampling, evaluation = config.onpolicy, config.evaluation
    settings = {
        **sampling.model_dump(
            mode="json", include={"samples", "temperature", "top_p", "max_new_tokens", "seed"}
        ),
        **evaluation.model_dump(mode="json", include={"prompt", "batch_size", "dtype", "cache"}),
        "engine": evaluation.engine,
        "timeout": config.selection.timeout,
    }
    inputs: tuple[str, ...] = ("onpolicy:problems",)
    if model == "base":
        settings["model"] = config.model
    else:
        inputs += (f"train:{model}",)
    path = attempts_path(model)
    stem = path.removesuffix(".json")
    return Stage(
        f"attempts:{model}",
        f"{model} answers the training problems {sampling.samples}× (T = {sampling.temperature})",
        settings,
        {"results": path, "samples": stem + ".samples.jsonl", "raw": stem + ".raw.jsonl"},
        ("results",),
        _attempts(model),
        inputs=inputs,
        owned=(path, stem + ".samples.jsonl", stem + ".raw.jsonl", stem + ".sampling.json"),
        info={"model": model},
    )


# ---------------------------------------------------------------------------- pairs


def _pairs(model: str) -> Callable[[Context], dict[str, Any]]:
    def run(ctx: Context) -> dict[str, Any]:
        from fgit.evaluation.results import read_run
        from fgit.execution import SandboxLimits
        from fgit.onpolicy.attempts import attempts_of
        from fgit.onpolicy.build import build_round_pairs, write_round_pairs
        from fgit.onpolicy.pairs import PairRules
        from fgit.records import read_pairs, read_problems
        from fgit.selection.embedders import load_scorer

        settings = ctx.config.onpolicy
        problems = read_problems(ctx.root / ONPOLICY_PROBLEMS)
        attempts = attempts_of(read_run(ctx.root / attempts_path(model)), problems)
        teacher = read_pairs(ctx.root / PAIRS) if settings.shares.teacher > 0 else []
        rules = PairRules(
            correct=settings.correct,
            incorrect=settings.incorrect,
            pairs_per_problem=settings.pairs_per_problem,
            seed=settings.seed,
        )
        pairs, summary, outcomes = build_round_pairs(
            problems,
            attempts,
            load_scorer(ctx.config.selection.embedder),
            rules,
            teacher_pairs=teacher,
            onpolicy_share=settings.shares.onpolicy,
            teacher_share=settings.shares.teacher,
            selection={"sampled_by": model},
            limits=SandboxLimits(timeout_s=ctx.config.selection.timeout),
            workers=ctx.config.selection.workers,
        )
        out = ctx.root / pairs_path(model)
        write_round_pairs(out, pairs, summary, outcomes)
        if not pairs:
            why = ", ".join(f"{reason} {n}" for reason, n in summary.no_pair.most_common())
            raise PipelineError(
                f"{model}'s attempts gave no pair ({summary.problems} problems; no pair: "
                f"{why or '-'}); every problem's outcome is in {out}.outcomes.jsonl"
            )
        return {
            "pairs": summary.pairs,
            "onpolicy_pairs": summary.onpolicy_pairs,
            "teacher_used": summary.teacher_used,
            "pass_rate": round(summary.pass_rate, 6),
            "with_failure": summary.with_failure,
            "with_pass": summary.with_pass,
            "every_attempt_passes": summary.every_attempt_passes,
        }

    return run


def _pairs_stage(config: RunConfig, model: str) -> Stage:
    settings = config.onpolicy.model_dump(
        mode="json", include={"correct", "incorrect", "pairs_per_problem", "seed", "shares"}
    )
    settings |= {"embedder": config.selection.embedder, "timeout": config.selection.timeout}
    inputs: tuple[str, ...] = (f"attempts:{model}", "onpolicy:problems")
    if config.onpolicy.shares.teacher > 0:
        inputs += ("selection",)
    path = pairs_path(model)
    return Stage(
        f"pairs:{model}",
        f"pairs from {model}'s attempts",
        settings,
        {"pairs": path, "summary": path + ".summary.json", "outcomes": path + ".outcomes.jsonl"},
        ("pairs",),
        _pairs(model),
        inputs=inputs,
        owned=(path, path + ".summary.json", path + ".outcomes.jsonl"),
        info={"model": model},
    )


# ---------------------------------------------------------------------------- the plan


def onpolicy_stages(config: RunConfig) -> list[Stage]:
    """Every on-policy stage, in an order where each comes after what it reads."""
    settings = config.onpolicy
    if not settings.runs:
        return []
    plan = [_problems_stage(config), _attempts_stage(config, "base"), _pairs_stage(config, "base")]
    for run in settings.runs:
        for k in range(1, settings.rounds + 1):
            sampler, model = sampler_of(run, k), round_name(run, k)
            plan.append(
                training_stage(
                    config,
                    model,
                    run=run,
                    pairs=(f"pairs:{sampler}", pairs_path(sampler)),
                    start=None if k == 1 else sampler,
                    extra={"round": k},
                )
            )
            if k < settings.rounds:
                plan += [_attempts_stage(config, model), _pairs_stage(config, model)]
    return plan
