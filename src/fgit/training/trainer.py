"""The paired trainer: one loop for every loss, on accelerate (single device, DDP, FSDP).

Why a loop of our own rather than a transformers ``Trainer`` subclass: the losses need two
sides per pair, chunked log-probabilities that never build full logits, and normalisers that
span all micro-batches and processes of a step; spelled out here they fit on a page.

The run folder::

    OUTPUT_DIR/
      train_log.jsonl        one line per logging step (loss, sensitive/shared NLL, W, H^c, H^a...)
      reference_logps.safetensors   preference losses only: the starting model's log-probs
      checkpoints/step-N/    accelerate state (model, optimizer, scheduler, RNG) + fgit_state.json,
                             and model/ (LoRA: adapter/), a loadable folder of that step's weights;
                             at the end only the loadable folders stay (keep_checkpoints)
      model/                 the fine-tuned model (for LoRA: merged), loads in plain transformers
      adapter/               LoRA only: the peft adapter
      training.json          written last: settings, data report, timings, versions

Every model and adapter folder holds its tokenizer, generation config and model card (README.md,
fgit.training.model_card); weights are saved in ``save_dtype`` (fgit.training.saving).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fgit.io import atomic_write, write_json
from fgit.models import ModelError, ensure_pad_token, load_model, load_tokenizer, resolve
from fgit.progress import progress_bar
from fgit.records import is_dataset_source, source_digest
from fgit.training.collator import PairCollator
from fgit.training.config import ConfigError, TrainConfig
from fgit.training.data import TrainingData, load_training_pairs
from fgit.training.logprobs import CausalLMLogProbs, naive_token_logprobs
from fgit.training.model_card import card_facts
from fgit.training.objective import (
    METRICS,
    StepCounts,
    local_counts,
    micro_batch_loss,
    summarise_metrics,
)
from fgit.training.reference import compute_reference_logps, load_reference, save_reference
from fgit.training.saving import (
    ADAPTER_DIR,
    MODEL_DIR,
    FolderWriter,
    keep_loadable_folders,
    resolve_save_dtype,
)
from fgit.training.schedule import StepPlan
from fgit.versions import versions

__all__ = ["TrainResult", "train"]

LOG_FILE = "train_log.jsonl"
SUMMARY_FILE = "training.json"
REFERENCE_FILE = "reference_logps.safetensors"
STATE_FILE = "fgit_state.json"


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    model_dir: Path
    adapter_dir: Path | None
    steps: int
    cached: bool  # True when an identical finished run was found and nothing was trained
    summary: dict[str, Any]


# ------------------------------------------------------------------------------ set-up helpers


def _has_accelerator_device() -> bool:
    current = getattr(getattr(torch, "accelerator", None), "current_accelerator", None)
    if callable(current):  # torch >= 2.6: CUDA, XPU, MPS, ...
        return current() is not None
    return torch.cuda.is_available()


def _precision(setting: str) -> tuple[str, str]:
    """accelerate's mixed_precision for a config precision, and why."""
    if setting == "auto":
        from fgit.precision import choose_dtype

        choice = choose_dtype("cuda" if torch.cuda.is_available() else "cpu")
        return ("bf16" if choice.dtype == "bfloat16" else "no"), choice.reason
    return {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}[setting], "asked for"


def _load_dtype(config: TrainConfig, mixed: str) -> torch.dtype:
    # Full fine-tuning keeps fp32 master weights under autocast: at lr 5e-6 most updates are
    # below bf16's resolution and would round away. A frozen LoRA base can live in 16 bits.
    if config.lora is None or mixed == "no":
        return torch.float32
    return torch.bfloat16 if mixed == "bf16" else torch.float16


def _quantization_config(config: TrainConfig, dtype: torch.dtype) -> Any:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"quantization={config.quantization!r} (QLoRA) needs bitsandbytes and a CUDA GPU: "
            "pip install bitsandbytes"
        ) from None
    from transformers import BitsAndBytesConfig

    if config.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )


def _warn_unmarked(config: TrainConfig, data: TrainingData, main: bool) -> None:
    """Pairs without an error-sensitive token teach every loss but SFT nothing about a fault:
    a warning (an error under --strict, in every process alike; the main one speaks)."""
    from fgit.segments.stats import unmarked_pairs_warning
    from fgit.warn import warn

    if config.loss == "sft":  # reads the correct side only
        return
    message = unmarked_pairs_warning(data.identical, len(data.pairs), str(config.pairs))
    if message:
        warn(f"{message} (loss {config.loss})", show=main)


def _build_model(config: TrainConfig, accelerator: Any, mixed: str) -> torch.nn.Module:
    from accelerate.utils import DistributedType

    dtype = _load_dtype(config, mixed)
    sharded = accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    # Sharded set-ups load on CPU and let accelerate place the shards.
    device = "cpu" if sharded else accelerator.device
    kwargs: dict[str, Any] = {}
    if config.quantization:
        kwargs["quantization_config"] = _quantization_config(config, dtype)
    model = load_model(config.model, dtype=dtype, device=device, quiet=config.quiet, **kwargs)
    model.config.use_cache = False
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.lora is None:
        return model.train()
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if config.quantization:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing
        )
    elif config.gradient_checkpointing:
        model.enable_input_require_grads()
    lora = config.lora
    peft_config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config).train()


# How far fgit's chunked log-probabilities may be from the model's own (True: float32, False:
# mixed precision). Blocked differently, float32 matmuls over a 152k vocabulary differ by about
# 1e-4 (Qwen2.5-0.5B: 1.1e-4); post-processing such as Gemma's logit soft-capping moves them by
# 1e-2 and more, which is what the check is for.
LOGPROB_TOLERANCE = {True: 1e-3, False: 5e-2}


def _check_logprobs(module: CausalLMLogProbs, batch: Any, tolerance: float) -> None:
    """The chunked log-probabilities must equal those from the model's own logits: a model
    whose forward post-processes logits in a way fgit does not know fails here, at step 0."""
    rows = slice(0, min(2, batch.input_ids.shape[0]))
    with torch.no_grad():
        ours = module(
            input_ids=batch.input_ids[rows],
            attention_mask=batch.attention_mask[rows],
            labels=batch.labels[rows],
            score_mask=batch.labels[rows] != -100,
        )
        logits = module.model(
            input_ids=batch.input_ids[rows], attention_mask=batch.attention_mask[rows]
        ).logits
    labels = batch.labels[rows, 1:]
    theirs = naive_token_logprobs(logits[:, :-1], labels, labels != -100)
    gap = (ours - theirs).abs().max().item()
    if not gap <= tolerance:
        raise ModelError(
            f"fgit's chunked log-probabilities differ from the model's logits by {gap:.3g} "
            f"(tolerance {tolerance}); this architecture post-processes its logits in a way "
            "fgit does not support"
        )


def _latest_checkpoint(folder: Path, fingerprint: str) -> tuple[Path, int] | None:
    """The newest complete checkpoint (its state file is written last) of this run."""
    best: tuple[Path, int] | None = None
    for path in sorted(folder.glob("step-*")):
        state_file = path / STATE_FILE
        if not state_file.is_file():
            continue
        state = json.loads(state_file.read_text())
        if state.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{folder} holds checkpoints of a run with other settings or data; "
                "use a new output_dir or pass --overwrite"
            )
        if best is None or state["step"] > best[1]:
            best = (path, int(state["step"]))
    return best


def _truncate_log(path: Path, last_step: int) -> None:
    """Drop log lines after the resumed step so a resumed run never logs a step twice."""
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line)["step"] <= last_step
    ]
    atomic_write(path, "".join(line + "\n" for line in kept))


def _tracker_config(config: TrainConfig) -> dict[str, int | float | str | bool]:
    # TensorBoard's hparams take scalars only: nested settings, lists and None become JSON text.
    flat = {}
    for key, value in config.model_dump(mode="json").items():
        scalar = isinstance(value, (int, float, str, bool))
        flat[key] = value if scalar else json.dumps(value)
    return flat


def _prepare_output(config: TrainConfig, fingerprint: str, overwrite: bool) -> TrainResult | None:
    """A finished identical run is returned as is; a folder of another run is an error."""
    out = config.output_dir
    summary_path = out / SUMMARY_FILE
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary.get("fingerprint") == fingerprint and not overwrite:
            adapter = out / ADAPTER_DIR
            return TrainResult(
                out,
                out / MODEL_DIR,
                adapter if adapter.is_dir() else None,
                summary["steps"],
                True,
                summary,
            )
        if not overwrite:
            raise ConfigError(
                f"{out} holds a finished run with other settings or data; use a new "
                "output_dir or pass --overwrite"
            )
    return None


def _clear(out: Path) -> None:
    for name in (MODEL_DIR, ADAPTER_DIR, "checkpoints", SUMMARY_FILE, LOG_FILE, REFERENCE_FILE):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# ------------------------------------------------------------------------------------ the run


def train(config: TrainConfig, *, overwrite: bool = False) -> TrainResult:
    """Train ``config.model`` on ``config.pairs``; resumes from the newest checkpoint of the
    same run, and returns at once when the same run already finished."""
    try:
        return _train(config, overwrite=overwrite)
    finally:
        _release_accelerator_settings()


def _release_accelerator_settings() -> None:
    """Forget this run's accelerate settings (mixed precision, plugins), keeping the process
    group: accelerate holds them process-wide and refuses other ones, so the next run in this
    process (`fgit run`'s inline runs, a notebook) could not use another precision.
    transformers' TrainingArguments resets it too, before each run (training_args.py)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()


def _train(config: TrainConfig, *, overwrite: bool) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, set_seed

    started = time.time()
    if not (config.pairs.is_file() or is_dataset_source(config.pairs)):
        raise FileNotFoundError(f"{config.pairs}: no such pairs file")
    data_sha = source_digest(config.pairs)
    fingerprint = config.fingerprint(data_sha)
    mixed, precision_reason = _precision(config.precision)
    _check_output_settings(config)
    accelerator = Accelerator(
        mixed_precision=mixed,
        log_with=list(config.report_to) or None,
        project_dir=str(config.output_dir),
        # Without an accelerator device, accelerate only joins a process group (gloo) when
        # told it runs on CPU; otherwise every launched process would train alone.
        cpu=not _has_accelerator_device(),
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if accelerator.num_processes != launched:
        raise ConfigError(
            f"launched as {launched} processes but accelerate formed a group of "
            f"{accelerator.num_processes}; check the accelerate launch settings"
        )
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        raise ConfigError(
            "DeepSpeed is not supported by fgit's trainer yet (its engine owns gradient "
            "accumulation); use FSDP for sharded training (docs/training.md)"
        )
    main = accelerator.is_main_process
    quiet = config.quiet or not main
    if main and overwrite:
        _clear(config.output_dir)
    accelerator.wait_for_everyone()
    cached = _prepare_output(config, fingerprint, overwrite=False)
    if cached is not None:
        if main:
            _push(config, cached)
        return cached
    _check_trackers_installed(config)
    if main and config.push_to_hub:
        from fgit.training.hub import create_repo

        create_repo(str(config.hub_model_id), private=config.hub_private)  # fail before training
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)

    tokenizer = ensure_pad_token(load_tokenizer(config.model, quiet=quiet))
    prompt_format = config.build_prompt_format()
    data = load_training_pairs(
        config.pairs,
        tokenizer,
        prompt_format=prompt_format,
        max_length=config.max_length,
        limit=config.limit,
        line_gap=config.line_gap,
        holdout=(config.holdout_fraction, config.holdout_seed),
    )
    _warn_unmarked(config, data, main)
    objective = config.objective
    plan = StepPlan(
        num_pairs=len(data.pairs),
        per_device_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        world_size=accelerator.num_processes,
        seed=config.seed,
        epochs=config.epochs,
        max_steps=config.max_steps,
    )

    model = _build_model(config, accelerator, mixed)
    module = CausalLMLogProbs(model, chunk_size=config.logprob_chunk_size)
    optimizer = torch.optim.AdamW(
        trainable_params(module), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    from transformers import get_scheduler

    # Not passed to prepare(): accelerate would step it once per process per step.
    scheduler = get_scheduler(
        config.lr_scheduler,
        optimizer,
        num_warmup_steps=round(config.warmup_ratio * plan.total_steps),
        num_training_steps=plan.total_steps,
    )
    module, optimizer = accelerator.prepare(module, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    inner: CausalLMLogProbs = accelerator.unwrap_model(module)

    save_dtype = resolve_save_dtype(config.save_dtype, mixed)
    writer = FolderWriter(
        tokenizer,
        save_dtype,
        card_facts(
            config,
            data=data.summary(),
            pairs_sha256=data_sha,
            total_steps=plan.total_steps,
            global_batch_size=plan.global_batch_size,
            processes=accelerator.num_processes,
            mixed_precision=mixed,
            save_dtype=save_dtype,
            versions=versions(),
        ),
    )
    checkpoints = out / "checkpoints"
    resume = _latest_checkpoint(checkpoints, fingerprint) if checkpoints.is_dir() else None
    start_step = 0
    if resume is not None:
        accelerator.load_state(str(resume[0]))
        start_step = resume[1]

    reference = None
    if objective.needs_reference:
        reference = _reference(
            accelerator,
            module,
            data,
            tokenizer.pad_token_id,
            config,
            fingerprint,
            resumed=start_step > 0,
            quiet=quiet,
        )
    collator = PairCollator(
        pad_token_id=tokenizer.pad_token_id,
        granularity=objective.granularity,
        sides=objective.sides,
        reference=reference,
    )

    if main:
        _truncate_log(out / LOG_FILE, start_step)
        accelerator.init_trackers("fgit", config=_tracker_config(config))
    if start_step == 0:
        first = collator([(0, data.pairs[0])]).to(accelerator.device)
        with accelerator.autocast():
            _check_logprobs(inner, first, LOGPROB_TOLERANCE[mixed == "no"])

    world = accelerator.num_processes
    window = dict.fromkeys(METRICS, 0.0)
    window_steps = 0
    train_started = time.time()
    with progress_bar(quiet, unit="steps") as bar:
        task = bar.add_task("training", total=plan.total_steps, completed=start_step)
        for step in range(start_step, plan.total_steps):
            micro = plan.micro_batches(step, accelerator.process_index)
            filler = not micro  # a short last batch left this process nothing: still sync
            if filler:
                micro = [[plan.global_batch(step)[0]]]
            batches = [collator([(i, data.pairs[i]) for i in mb]) for mb in micro]
            local = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
            if not filler:
                for b in batches:
                    tokens, pairs = local_counts(b)
                    local += torch.tensor([tokens, pairs], dtype=torch.float64, device=local.device)
            totals = accelerator.reduce(local, reduction="sum")
            counts = StepCounts(tokens=max(totals[0].item(), 1.0), pairs=max(totals[1].item(), 1.0))

            sums = torch.zeros(len(METRICS), dtype=torch.float64, device=accelerator.device)
            for k, batch in enumerate(batches):
                last = k == len(batches) - 1
                sync = contextlib.nullcontext() if last else accelerator.no_sync(module)
                with sync:
                    with accelerator.autocast():
                        loss, metrics = micro_batch_loss(
                            module, batch.to(accelerator.device), objective, counts
                        )
                    # DDP/FSDP average gradients over processes; our loss is already a share
                    # of the global sum, so undo the average.
                    accelerator.backward(loss * (0.0 if filler else world))
                if not filler:
                    for j, name in enumerate(METRICS):
                        if name in metrics:
                            sums[j] += metrics[name].double()
            grad_norm = None
            if config.max_grad_norm is not None:
                grad_norm = accelerator.clip_grad_norm_(
                    trainable_params(module), config.max_grad_norm
                )
            learning_rate = scheduler.get_last_lr()[0]  # the rate this step used
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            totals = accelerator.reduce(sums, reduction="sum").tolist()
            for name, value in zip(METRICS, totals, strict=True):
                window[name] += value
            window_steps += 1
            done = step + 1
            if done % config.logging_steps == 0 or done == plan.total_steps:
                record = {
                    "step": done,
                    "epoch": round(plan.epoch_of(done), 4),
                    "learning_rate": learning_rate,
                    **summarise_metrics(window, window_steps),
                }
                if grad_norm is not None:
                    record["grad_norm"] = float(grad_norm)
                record["elapsed_s"] = round(time.time() - train_started, 3)
                if main:
                    with open(out / LOG_FILE, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
                    accelerator.log({k: v for k, v in record.items() if k != "step"}, step=done)
                bar.update(task, description=f"training · loss {record['loss']:.4f}")
                window = dict.fromkeys(METRICS, 0.0)
                window_steps = 0
            bar.advance(task)
            if config.save_steps and done % config.save_steps == 0 and done < plan.total_steps:
                _save_checkpoint(
                    accelerator, module, writer, config, checkpoints, done, fingerprint
                )

    result = _save_final(
        accelerator,
        module,
        writer,
        config,
        data,
        fingerprint,
        plan,
        started,
        data_sha,
        precision={
            "mixed_precision": mixed,
            "mixed_precision_reason": precision_reason,
            "save_dtype": save_dtype,
        },
    )
    accelerator.end_training()
    if main:
        _push(config, result)  # after the last collective: a failed push stops no other process
    return result


def _check_output_settings(config: TrainConfig) -> None:
    """A push without a token fails here, in every process alike, before anything is loaded."""
    if config.push_to_hub:
        from fgit.training.hub import require_token

        require_token()


def _check_trackers_installed(config: TrainConfig) -> None:
    """A tracker whose package is missing: one line, in every process alike, before training
    (accelerate would leave it out and train without it)."""
    from fgit.training.trackers import check_installed

    try:
        check_installed(config.report_to)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _push(config: TrainConfig, result: TrainResult) -> None:
    """The finished folder to the hub: model/ (for LoRA the merged model), or the adapter when
    there is no merged model (QLoRA, lora.merge false)."""
    if not config.push_to_hub:
        return
    from fgit.training.hub import push_folder

    folder = result.model_dir if result.model_dir.is_dir() else result.adapter_dir
    assert folder is not None
    push_folder(
        folder,
        str(config.hub_model_id),
        private=config.hub_private,
        message=f"fgit: {config.loss} fine-tune of {config.model}, {result.steps} steps",
    )


def trainable_params(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def _reference(
    accelerator: Any,
    module: torch.nn.Module,
    data: TrainingData,
    pad_token_id: int,
    config: TrainConfig,
    fingerprint: str,
    *,
    resumed: bool,
    quiet: bool,
) -> dict:
    from accelerate.utils import gather_object

    path = config.output_dir / REFERENCE_FILE
    cached = load_reference(path, fingerprint)
    if cached is not None and len(cached) == len(data.pairs):
        return cached
    if resumed:
        raise ConfigError(
            f"{path} is missing or stale but training has already started: the reference must "
            "come from the starting model; rerun with --overwrite"
        )
    rank, world = accelerator.process_index, accelerator.num_processes
    mine = [(i, data.pairs[i]) for i in range(rank, len(data.pairs), world)]
    collator = PairCollator(pad_token_id=pad_token_id, sides="both")
    local = compute_reference_logps(
        module,
        mine,
        collator,
        batch_size=config.per_device_batch_size,
        device=accelerator.device,
        autocast=accelerator.autocast,
        quiet=quiet,
    )
    gathered = gather_object([local]) if world > 1 else [local]
    reference: dict = {}
    for part in gathered:
        reference.update(part)
    if accelerator.is_main_process:
        save_reference(path, reference, fingerprint)
    accelerator.wait_for_everyone()
    return reference


def _last_logged_loss(out: Path, step: int | None = None) -> float | None:
    """The loss of the last log line (at or before ``step``), for the model card."""
    path = out / LOG_FILE
    if not path.is_file():
        return None
    loss = None
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            if step is None or record["step"] <= step:
                loss = record["loss"]
    return loss


def _save_checkpoint(
    accelerator: Any,
    module: torch.nn.Module,
    writer: FolderWriter,
    config: TrainConfig,
    folder: Path,
    step: int,
    fingerprint: str,
) -> None:
    """accelerate's state for resuming, and a loadable folder of this step's weights (model/,
    LoRA: adapter/) with its card; the state file, written last, marks both complete."""
    path = folder / f"step-{step:07d}"
    accelerator.save_state(str(path))
    state = _strip_prefix(accelerator.get_state_dict(module))  # every process: FSDP gathers
    if accelerator.is_main_process:
        lm = accelerator.unwrap_model(module).model
        loss = _last_logged_loss(config.output_dir, step)
        if config.lora is not None:
            writer.adapter(lm, path / ADAPTER_DIR, state, step=step, loss=loss)
        else:
            writer.model(lm, path / MODEL_DIR, state, step=step, loss=loss)
        record = {"step": step, "fingerprint": fingerprint}
        write_json(path / STATE_FILE, record, indent=None)  # last: marks the checkpoint complete
        complete = sorted(p for p in folder.glob("step-*") if (p / STATE_FILE).is_file())
        for old in complete[: -config.save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _strip_prefix(state: dict[str, Any], prefix: str = "model.") -> dict[str, Any]:
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state.items()}


def _save_final(
    accelerator: Any,
    module: torch.nn.Module,
    writer: FolderWriter,
    config: TrainConfig,
    data: TrainingData,
    fingerprint: str,
    plan: StepPlan,
    started: float,
    data_sha: str,
    precision: dict[str, str],
) -> TrainResult:
    out = config.output_dir
    accelerator.wait_for_everyone()
    state = _strip_prefix(accelerator.get_state_dict(module))
    model_dir, adapter_dir = out / MODEL_DIR, (out / ADAPTER_DIR if config.lora else None)
    summary: dict[str, Any] = {}
    if accelerator.is_main_process:
        lm = accelerator.unwrap_model(module).model
        lm.config.use_cache = True
        loss = _last_logged_loss(out)
        if adapter_dir is not None:
            writer.adapter(lm, adapter_dir, state, loss=loss)
            # A quantized base cannot be merged into exactly; its adapter is the result.
            if config.lora is not None and config.lora.merge and not config.quantization:
                writer.model(lm.merge_and_unload(), model_dir, kind="merged", loss=loss)
        else:
            writer.model(lm, model_dir, state, loss=loss)
        summary = {
            "fingerprint": fingerprint,
            "steps": plan.total_steps,
            "global_batch_size": plan.global_batch_size,
            # What the steps really trained on (data.used is what was available).
            "pairs_seen": plan.pairs_seen,
            "distinct_pairs_seen": plan.distinct_pairs_seen,
            "processes": accelerator.num_processes,
            # bf16 mixed precision keeps fp32 master weights for full fine-tuning.
            **precision,
            "model_source": resolve(config.model, quiet=True),
            "pairs_sha256": data_sha,
            "data": data.summary(),
            "config": config.model_dump(mode="json"),
            "seconds": round(time.time() - started, 2),
            "versions": versions(),
        }
        write_json(out / SUMMARY_FILE, summary)  # last: marks the run finished
        keep_loadable_folders(out / "checkpoints", keep=config.keep_checkpoints, marker=STATE_FILE)
    accelerator.wait_for_everyone()
    if not summary:
        summary = json.loads((out / SUMMARY_FILE).read_text())
    return TrainResult(out, model_dir, adapter_dir, plan.total_steps, False, summary)
