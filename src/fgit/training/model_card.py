"""The model card (``README.md``) in every model and adapter folder a training run writes.

What a reader of the folder (or of its hub page) needs to know where the weights come from: the
base model, the pairs file and its sha256, how many pairs were used and skipped, the loss with
the settings it reads, the optimisation settings, the versions, and, once the pipeline has
evaluated the model, pass@1 per benchmark. The metadata header is huggingface_hub's
``ModelCardData`` (``base_model``, ``library_name``, ``tags``, and ``model-index`` for the
evaluation results), as TRL's ``generate_model_card`` (trl/trainer/utils.py) writes it.

The card holds no times: retraining with the same settings writes the same card, so the
pipeline's digest of the model folder does not change for nothing. Building the text is pure
(:func:`card_text`); :func:`write_card` and :func:`record_evaluation` are the file shells.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fgit.io import atomic_write
from fgit.training.loss_settings import READ_BY

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard

    from fgit.evaluation.results import EvalRun
    from fgit.training.config import TrainConfig

__all__ = [
    "CARD_FILE",
    "CardFacts",
    "EvalRow",
    "card_facts",
    "card_text",
    "eval_rows",
    "folder_facts",
    "record_evaluation",
    "write_card",
]

CARD_FILE = "README.md"
_EVAL_START = "<!-- fgit:evaluation:start -->"
_EVAL_END = "<!-- fgit:evaluation:end -->"
NOT_EVALUATED = "Not evaluated by fgit yet: `fgit run` adds pass@1 here once it has evaluated it."

FolderKind = Literal["model", "merged", "adapter"]


@dataclass(frozen=True)
class EvalRow:
    """One benchmark's greedy (or sampled) pass@1, as an evaluation results file holds it."""

    benchmark: str
    pass_at_1: float  # base tests
    pass_at_1_plus: float | None  # base + plus tests (evalplus); None without plus tests
    tasks: int
    n_samples: int = 1
    subset: str | None = None  # why only some tasks were evaluated (task_subset's note)


@dataclass(frozen=True)
class CardFacts:
    """Everything a card says, gathered by the trainer; the same for every folder of a run but
    ``kind``, ``step`` and ``train_loss``."""

    model: str  # as the settings name it: packaged name, folder or hub id
    base_model: str | None  # its hub id, when it has one (the metadata's base_model)
    loss: str
    loss_settings: dict[str, Any]
    optimisation: dict[str, Any]
    pairs_file: str
    pairs_sha256: str
    data: dict[str, Any]  # fgit.training.data.TrainingData.summary()
    versions: dict[str, str]
    total_steps: int
    save_dtype: str
    base_note: str | None = None  # what the base is, when its hub id does not say it all
    lora: dict[str, Any] | None = None
    hub_model_id: str | None = None
    kind: FolderKind = "model"
    step: int | None = None  # a checkpoint's step; None for the finished run
    train_loss: float | None = None  # the loss logged last (at ``step`` for a checkpoint)
    evaluation: tuple[EvalRow, ...] = field(default_factory=tuple)


def _base_hub_id(model: str) -> str | None:
    """A packaged model's upstream repository, a hub id as it is, None for a local folder."""
    from fgit.models import PACKAGED_MODELS

    if model in PACKAGED_MODELS:
        return PACKAGED_MODELS[model].hf_repo
    if Path(model).expanduser().exists() or model.startswith(("/", ".", "~")):
        return None
    return model


def _base_note(model: str) -> str | None:
    """What a packaged base is: not its upstream weights but a de-quantized 4-bit GGUF."""
    from fgit.models import PACKAGED_MODELS

    spec = PACKAGED_MODELS.get(model)
    if spec is None:
        return None
    return (
        f"fgit's packaged `{model}`: the GGUF `{spec.gguf_name}` of {spec.hf_repo}, "
        "de-quantized, so its starting weights are a quantized copy of the upstream ones"
    )


def loss_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings the loss reads (``READ_BY``), granularity first: every loss reads it."""
    names = ["granularity", *(n for n, losses in READ_BY.items() if config.loss in losses)]
    return {name: getattr(config, name) for name in names}


def card_facts(
    config: TrainConfig,
    *,
    data: Mapping[str, Any],
    pairs_sha256: str,
    total_steps: int,
    global_batch_size: int,
    processes: int,
    mixed_precision: str,
    save_dtype: str,
    versions: Mapping[str, str],
) -> CardFacts:
    """The facts of one training run (the trainer calls this once)."""
    optimisation = {
        "optimizer": "AdamW (torch)",
        "learning_rate": config.learning_rate,
        "lr_scheduler": config.lr_scheduler,
        "warmup_ratio": config.warmup_ratio,
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "epochs": config.epochs,
        "max_steps": config.max_steps,
        "global_batch_size": (
            f"{global_batch_size} pairs ({config.per_device_batch_size} per device x "
            f"{config.gradient_accumulation_steps} accumulation x {processes} processes)"
        ),
        "max_length": config.max_length,
        "prompt_format": config.prompt_format,
        "mixed_precision": mixed_precision,
        "gradient_checkpointing": config.gradient_checkpointing,
        "quantization": config.quantization,
        "seed": config.seed,
    }
    return CardFacts(
        model=config.model,
        base_model=_base_hub_id(config.model),
        base_note=_base_note(config.model),
        loss=config.loss,
        loss_settings=loss_settings(config),
        optimisation=optimisation,
        pairs_file=config.pairs.name,
        pairs_sha256=pairs_sha256,
        data=dict(data),
        versions=dict(versions),
        total_steps=total_steps,
        save_dtype=save_dtype,
        lora=config.lora.model_dump() if config.lora is not None else None,
        hub_model_id=config.hub_model_id,
    )


# ------------------------------------------------------------------------------------- text


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _table(rows: Sequence[tuple[str, Any]]) -> str:
    lines = ["| | |", "| --- | --- |"]
    lines += [f"| {name} | {_value(value).replace('|', '/')} |" for name, value in rows]
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def evaluation_text(rows: Sequence[EvalRow]) -> str:
    """The evaluation section's body: a table of pass@1 (%) per benchmark."""
    if not rows:
        return NOT_EVALUATED
    from fgit.evaluation.benchmark_names import benchmark_display

    lines = [
        "pass@1 (%) from fgit's evaluation (greedy unless n > 1 samples: then the unbiased "
        "estimate), in fgit's sandbox. evalplus benchmarks show base tests and base + plus tests.",
        "",
        "| benchmark | pass@1 | pass@1, base + plus tests | tasks | samples per task | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda r: r.benchmark):
        lines.append(
            f"| {benchmark_display(row.benchmark)} | {_share(row.pass_at_1)} | "
            f"{_share(row.pass_at_1_plus)} | {row.tasks} | {row.n_samples} | "
            f"{(row.subset or '').replace('|', '/')} |"
        )
    return "\n".join(lines)


# benchmarks that are the original dataset, not evalplus's or BigCodeBench's
_ORIGINAL_DATASETS = {
    "humaneval": "openai/openai_humaneval",
    "mbpp-test": "google-research-datasets/mbpp",
}


def _dataset_type(benchmark: str) -> str:
    """The hub dataset a benchmark's tasks come from, where there is one; else its name."""
    from fgit.data import BENCHMARKS

    data = BENCHMARKS.get(benchmark)
    if data is None:
        return benchmark
    if benchmark in _ORIGINAL_DATASETS:
        return _ORIGINAL_DATASETS[benchmark]
    if data.evalplus:
        return f"evalplus/{data.evalplus}plus"
    if data.bigcodebench:
        return "bigcode/bigcodebench" + ("-hard" if data.bigcodebench[1] == "hard" else "")
    return benchmark


def eval_results(rows: Sequence[EvalRow]) -> list[EvalResult]:
    """The rows as the hub's ``model-index`` entries (one per metric)."""
    from huggingface_hub import EvalResult

    out = []
    for row in sorted(rows, key=lambda r: r.benchmark):
        common = {
            "task_type": "text-generation",
            "dataset_type": _dataset_type(row.benchmark),
            "dataset_name": row.benchmark,
            "metric_type": "pass@1",
        }
        out.append(EvalResult(**common, metric_value=row.pass_at_1, metric_name="pass@1"))
        if row.pass_at_1_plus is not None:
            out.append(
                EvalResult(
                    **common,
                    metric_value=row.pass_at_1_plus,
                    metric_name="pass@1 (base + plus tests)",
                )
            )
    return out


def _title(facts: CardFacts) -> str:
    if facts.hub_model_id:
        return facts.hub_model_id.split("/")[-1]
    return f"{Path(facts.model).name or facts.model} fine-tuned with fgit ({facts.loss})"


def _what(facts: CardFacts) -> str:
    if facts.base_model:
        base = f"[{facts.base_model}](https://huggingface.co/{facts.base_model})"
    else:
        base = f"`{facts.model}`"
    kind = {
        "model": "The fully fine-tuned model",
        "merged": "The LoRA fine-tune merged into its base model",
        "adapter": "A LoRA adapter (peft)",
    }[facts.kind]
    text = (
        f"{kind}, trained from {base} with fgit (Fault-Guided Fine-Tuning) and "
        f"the `{facts.loss}` loss."
    )
    if facts.step is not None:
        text += (
            f" **A checkpoint**: the weights after step {facts.step} of {facts.total_steps}; "
            "the finished run's model is in the run folder's `model/`."
        )
    if facts.base_note:
        text += f" The base is {facts.base_note}."
    return text


def _data_rows(facts: CardFacts) -> list[tuple[str, Any]]:
    data = facts.data
    rows: list[tuple[str, Any]] = [
        ("pairs file", f"`{facts.pairs_file}`"),
        ("sha256", f"`{facts.pairs_sha256}`"),
        ("records in the file", data.get("records")),
        ("pairs used", data.get("used")),
    ]
    rows += [(f"skipped: {reason}", n) for reason, n in sorted(data.get("skipped", {}).items())]
    rows += [
        ("truncated to max_length", data.get("truncated", 0)),
        ("without error-sensitive tokens", data.get("without_sensitive_tokens", 0)),
        ("held out for validation", data.get("held_out_for_validation", 0)),
    ]
    return rows


def _training_rows(facts: CardFacts) -> list[tuple[str, Any]]:
    steps = facts.total_steps if facts.step is None else f"{facts.step} of {facts.total_steps}"
    rows: list[tuple[str, Any]] = [("optimizer steps", steps)]
    rows += [(name.replace("_", " "), value) for name, value in facts.optimisation.items()]
    if facts.lora is not None:
        rows.append(("LoRA", ", ".join(f"{k}={_value(v)}" for k, v in facts.lora.items())))
    weights = (
        facts.save_dtype
        if facts.kind != "adapter"
        else "as trained (peft keeps adapters in float32)"
    )
    rows.append(("weights saved in", weights))
    if facts.train_loss is not None:
        rows.append(("training loss, last logged", f"{facts.train_loss:.4f}"))
    return rows


def _usage(facts: CardFacts, where: str) -> str:
    if facts.kind == "adapter":
        base = facts.base_model or facts.model
        return (
            "```python\nfrom peft import PeftModel\nfrom transformers import "
            "AutoModelForCausalLM\n\n"
            f'base = AutoModelForCausalLM.from_pretrained("{base}")\n'
            f'model = PeftModel.from_pretrained(base, "{where}")\n```'
        )
    return (
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{where}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{where}")\n```'
    )


def card_text(facts: CardFacts) -> str:
    """The whole card: YAML metadata, then the markdown body."""
    from huggingface_hub import ModelCardData

    tags = list(dict.fromkeys(["fgit", "code", facts.loss] + (["lora"] if facts.lora else [])))
    data = ModelCardData(
        base_model=facts.base_model,
        library_name="peft" if facts.kind == "adapter" else "transformers",
        pipeline_tag="text-generation",
        tags=tags,
        model_name=_title(facts),
        eval_results=eval_results(facts.evaluation) or None,
    )
    where = facts.hub_model_id or "path/to/this/folder"
    body = [
        f"# {_title(facts)}",
        _what(facts),
        "## Training data",
        _table(_data_rows(facts)),
        f"## Loss: `{facts.loss}`",
        "The settings this loss reads (docs/training.md, the losses table):",
        _table(list(facts.loss_settings.items())),
        "## Training",
        _table(_training_rows(facts)),
        "## Evaluation",
        f"{_EVAL_START}\n{evaluation_text(facts.evaluation)}\n{_EVAL_END}",
        "## How to load",
        _usage(facts, where),
        "## Versions",
        ", ".join(f"{name} {version}" for name, version in facts.versions.items()),
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(body) + "\n"


def write_card(folder: Path, facts: CardFacts) -> Path:
    """``folder/README.md`` for ``facts``; replaced whole (atomically)."""
    return atomic_write(Path(folder) / CARD_FILE, card_text(facts))


# ------------------------------------------------------------------------------- evaluation


def eval_rows(runs: Sequence[EvalRun]) -> list[EvalRow]:
    """One row per evaluation run (its file's stored, checked pass@1)."""
    rows = []
    for run in runs:
        subset = run.task_subset.get("note") if run.task_subset else None
        rows.append(
            EvalRow(
                benchmark=run.benchmark,
                pass_at_1=run.pass_at_1_base,
                pass_at_1_plus=run.pass_at_1_plus,
                tasks=len(run.tasks),
                n_samples=run.n_samples,
                subset=subset,
            )
        )
    return rows


def with_evaluation(card: ModelCard, rows: Sequence[EvalRow]) -> str:
    """``card``'s text with its evaluation section and ``model-index`` set to ``rows`` (a card
    fgit did not write, without the section, gets one at the end)."""
    card.data.eval_results = eval_results(rows) or None
    if card.data.eval_results and not card.data.model_name:
        card.data.model_name = "model"  # the hub needs a name for model-index
    section = f"{_EVAL_START}\n{evaluation_text(rows)}\n{_EVAL_END}"
    pattern = re.compile(re.escape(_EVAL_START) + ".*?" + re.escape(_EVAL_END), re.DOTALL)
    text = card.text
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n## Evaluation\n\n{section}\n"
    return f"---\n{card.data.to_yaml()}\n---\n{text}"


def record_evaluation(folder: Path, results: Sequence[Path]) -> bool:
    """Set the evaluation of the card in ``folder`` to the results files among ``results``
    that exist (the pipeline passes every benchmark of the model; the ones evaluated so far
    exist). False, and nothing written, when the folder has no card (a run trained by an
    older fgit)."""
    from huggingface_hub import ModelCard

    from fgit.evaluation.results import read_run

    path = Path(folder) / CARD_FILE
    if not path.is_file():
        return False
    runs = [read_run(result) for result in results if Path(result).is_file()]
    card = ModelCard.load(path)
    atomic_write(path, with_evaluation(card, eval_rows(runs)))
    return True


def folder_facts(
    facts: CardFacts, kind: FolderKind, step: int | None, loss: float | None
) -> CardFacts:
    """``facts`` for one folder: its kind, its step (None: the finished run) and last loss."""
    return replace(facts, kind=kind, step=step, train_loss=loss)
