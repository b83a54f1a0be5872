"""Training settings: one validated object from a YAML file and/or command-line options.

Defaults follow the FGIT paper where it states them (one epoch, learning rate 5e-6, maximum
length 1024, α = 2) and transformers' Trainer elsewhere (linear schedule, no warm-up,
gradient clipping at 1.0).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fgit.config_file import ConfigError, ConfigSource, config_error, issues_from, read_settings
from fgit.merge import deep_merge
from fgit.training.loss_settings import Objective, one_of

if TYPE_CHECKING:
    from fgit.segments.encode import PromptFormat

__all__ = [
    "ConfigError",
    "LoraSettings",
    "TrainConfig",
    "check_prompt_template",
    "load_train_config",
    "read_config_file",
]

Precision = Literal["auto", "bf16", "fp16", "fp32"]
SaveDtype = Literal["auto", "bfloat16", "float16", "float32"]
# Where the finished model goes, not what it is: never part of a run's fingerprint or stage key.
PUBLISHING = frozenset({"keep_checkpoints", "push_to_hub", "hub_model_id", "hub_private"})
DEFAULT_PROMPT_TEMPLATE = "{instruction}\n"  # fgit.segments.PromptFormat's default


def check_prompt_template(template: str) -> str:
    """``template`` if it is a format string whose only field is ``{instruction}``, used once
    (literal braces doubled: ``{{``); ValueError saying what is wrong otherwise."""
    import string

    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(
            f"prompt_template is not a valid format string ({error}); write literal braces "
            "as {{ and }}"
        ) from None
    others = sorted({name for name in fields if name != "instruction"})
    if others:
        raise ValueError(
            f"prompt_template may only use the field {{instruction}}, not "
            f"{', '.join('{' + name + '}' for name in others)} (write literal braces as {{{{ }}}})"
        )
    if fields.count("instruction") != 1:
        raise ValueError(
            "prompt_template must contain {instruction} exactly once, "
            f"found it {fields.count('instruction')} times"
        )
    return template


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraSettings(_Strict):
    """LoRA through peft. ``target_modules="all-linear"`` adapts every linear layer but the
    output layer, as QLoRA does."""

    r: int = Field(16, ge=1)
    alpha: float = Field(32.0, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    merge: bool = True  # also save the merged full model (model/), not only the adapter


class TrainConfig(Objective):
    """Every setting of a training run. The loss settings (``loss``, ``alpha``, ``beta``, ...)
    are :class:`Objective`'s, declared there once."""

    pairs: Path = Field(description="Pairs JSONL (fgit select's output).")
    model: str = Field(description="Packaged model name, local folder or hub id.")
    output_dir: Path = Field(description="Run folder to write.")

    # data
    max_length: int = Field(1024, ge=2)
    # Whole lines only in the incorrect response: mark the correct side's next line (next-line)
    # or nothing, as the paper reads literally (none). docs/segments.md.
    line_gap: Literal["next-line", "none"] = "next-line"
    prompt_format: Literal["auto", "chat", "plain"] = "auto"
    # The plain prompt (prompt_format plain, or auto with a tokenizer without chat template):
    # "{instruction}" alone makes a completion-style problem's prompt exactly its code prefix.
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    system_prompt: str | None = None
    limit: int | None = Field(None, ge=1)
    # Problems left out of training for validation (fgit.validation; chosen by id hash).
    holdout_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    holdout_seed: int = 0

    # optimisation
    epochs: float = Field(1.0, gt=0, description="Passes over the pairs.")
    max_steps: int | None = Field(None, ge=1, description="Stop after N optimizer steps.")
    learning_rate: float = Field(5e-6, gt=0, description="Learning rate.")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0)
    per_device_batch_size: int = Field(4, ge=1, description="Pairs per device per micro-batch.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per step.")
    seed: int = 42

    # model and memory
    precision: Precision = Field(
        "auto", description=f"{one_of(Precision)} (auto: bf16 where the hardware has it)."
    )
    lora: LoraSettings | None = Field(
        None, description="Train a LoRA adapter (peft) instead of all weights."
    )
    quantization: Literal["4bit", "8bit"] | None = None
    gradient_checkpointing: bool = False
    logprob_chunk_size: int = Field(1024, ge=1)

    # bookkeeping
    logging_steps: int = Field(1, ge=1)
    save_steps: int | None = Field(500, ge=1)
    save_total_limit: int = Field(2, ge=1)
    report_to: list[str] = Field(
        default_factory=list,
        description="Experiment trackers (accelerate's: tensorboard, wandb, mlflow, ... or all).",
    )
    quiet: bool = Field(False, description="No progress output.")

    # outputs (docs/training.md, "The run folder")
    save_dtype: SaveDtype = Field(
        "auto",
        description=f"dtype of saved model weights: {one_of(SaveDtype)} (auto: the precision "
        "training computed in; LoRA adapters stay as trained).",
    )
    keep_checkpoints: bool = Field(
        True,
        description="Keep each checkpoint's loadable model folder when the run ends (the "
        "resume state always goes).",
    )
    push_to_hub: bool = Field(False, description="Upload the finished model to the hub.")
    hub_model_id: str | None = Field(None, description="The hub repo to push to: owner/name.")
    hub_private: bool = Field(True, description="Create the hub repo private.")

    @field_validator("prompt_template")
    @classmethod
    def _one_instruction_field(cls, template: str) -> str:
        return check_prompt_template(template)

    @field_validator("report_to")
    @classmethod
    def _known_trackers(cls, names: list[str]) -> list[str]:
        from fgit.training.trackers import check_names

        return check_names(names)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.quantization and self.lora is None:
            raise ValueError(
                "quantization (QLoRA) needs lora settings: a quantized model "
                "cannot be fully fine-tuned"
            )
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("push_to_hub needs hub_model_id (owner/name, e.g. you/qwen-fgit)")
        return self

    @property
    def objective(self) -> Objective:
        """The loss settings alone (the trainer's step function takes only these)."""
        return Objective(**{name: getattr(self, name) for name in Objective.model_fields})

    def build_prompt_format(self) -> PromptFormat:
        """How instructions become prompts for encoding the pairs (fgit.segments)."""
        from fgit.segments.encode import PromptFormat  # numpy and rapidfuzz: only when encoding

        return PromptFormat(
            kind=self.prompt_format, template=self.prompt_template, system=self.system_prompt
        )

    def fingerprint(self, data_sha256: str) -> str:
        """What decides the trained weights: settings (not paths or logging) and the data."""
        ignored = {
            "output_dir",
            "pairs",
            "logging_steps",
            "save_steps",
            "save_total_limit",
            "report_to",
            "quiet",
        }
        settings = self.key_settings(ignored)
        blob = json.dumps({"settings": settings, "data": data_sha256}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def key_settings(self, ignored: set[str]) -> dict[str, Any]:
        """The settings that identify a run (for fingerprints and pipeline stage keys), less
        ``ignored``. Settings added after runs existed are left out at their defaults, so those
        runs' fingerprints and keys stay valid."""
        ignored = set(ignored) | PUBLISHING
        if self.save_dtype == "auto":  # older runs saved fp32 (docs/training.md)
            ignored.add("save_dtype")
        if self.weight_gradient == "both":
            ignored.add("weight_gradient")
        if self.line_gap == "next-line":
            ignored.add("line_gap")
        if self.holdout_fraction == 0.0:
            ignored |= {"holdout_fraction", "holdout_seed"}
        if self.prompt_template == DEFAULT_PROMPT_TEMPLATE:
            ignored.add("prompt_template")
        return self.model_dump(mode="json", exclude=ignored)


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping a YAML config file holds (an empty file is an empty mapping). Any problem is
    one :class:`ConfigError` line naming the file, and the line where YAML can tell it."""
    return read_settings(path)[0]


def load_train_config(path: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Settings from ``path`` (YAML, optional) with ``overrides`` (options given on the
    command line) deep-merged on top: ``{"lora": {"r": 8}}`` keeps the file's other LoRA
    settings, and ``None`` is null (``{"lora": None}`` turns LoRA off), so leave out what was
    not given. Relative paths in the file are relative to the file. A bad setting is reported
    at its line in the file, or as the command line's."""
    data: dict[str, Any] = {}
    source = ConfigSource("command line")
    prefix: tuple[str, ...] = ()
    if path is not None:
        loaded, source = read_settings(path)
        if "train" in loaded:  # a `fgit run`-style file keeps them under train:
            prefix = ("train",)
        data = dict(loaded.get("train", loaded))
        base = Path(path).parent
        for key in ("pairs", "output_dir"):
            value = data.get(key)
            # Paths are relative to the config file; a hub dataset (hf:NAME) is no path.
            if isinstance(value, str) and not (
                Path(value).is_absolute() or value.startswith("hf:")
            ):
                data[key] = str(base / value)
    source = replace(
        source, overrides={"train": overrides} if prefix else overrides,
        overrides_label="command line",
    )  # fmt: skip
    data = deep_merge(data, overrides)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        raise config_error(issues_from(error, TrainConfig, prefix), source) from None
