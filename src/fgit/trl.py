"""fgit's masks and losses inside TRL: :class:`FGITConfig` and :class:`FGITTrainer`, drop-in
for TRL's ``DPOConfig`` and ``DPOTrainer`` (trl 1.16).

The trainer takes what ``DPOTrainer`` takes (a model or its id, a ``peft_config``, a
``datasets.Dataset`` of prompt/chosen/rejected rows, standard or conversational, with an
explicit or implicit prompt) and trains with any fgit loss: ``fgit``, ``fixed``, ``sft``,
``dpo``, ``dpo+sft`` and ``fault-dpo``. What it changes:

* **Data.** Rows are tokenized by fgit's encoder, which diffs chosen against rejected and
  adds the error-sensitive masks as columns (:mod:`fgit.training.columns`). The prompt is
  tokenized alone (a conversation through the chat template, with the generation prompt) and
  each response on its own, followed by the tokenizer's EOS token: the layout of ``fgit train``.
  A row whose prompt leaves no room within ``max_length`` is skipped, and the skips are counted
  in one warning; a row fgit cannot read is an error naming its index.
* **Loss.** :func:`fgit.training.objective.micro_batch_loss`, the function ``fgit train``
  calls, on log-probabilities from TRL's fused LM head. Token-level losses are normalised by the
  chosen response tokens of the whole optimizer step (all accumulated micro-batches, all
  processes) and sequence-level ones by its pairs, as in ``fgit train``; so gradient
  accumulation gives the gradient of one big batch.
* **Reference.** Only the preference losses read one. For the others no frozen copy of the
  model is loaded.

TRL's own loss options (``loss_type``, ``ld_alpha``, ``use_weighting``, f-divergences) and
``precompute_ref_log_probs`` are refused rather than ignored. docs/trl.md has a complete script.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from accelerate.logging import get_logger
from accelerate.utils import is_peft_model
from datasets import Dataset, Sequence, Value
from torch import Tensor
from trl import DPOConfig, DPOTrainer
from trl.data_utils import extract_prompt
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer import dpo_trainer
from trl.trainer.utils import use_adapter

from fgit.segments.encode import IGNORE_INDEX
from fgit.training.columns import ID_COLUMNS, MASK_COLUMNS, ColumnCollator, batch_from_columns
from fgit.training.config import TrainConfig
from fgit.training.loss_settings import Granularity, LossName, Objective, WeightGradient
from fgit.training.objective import METRICS, StepCounts, micro_batch_loss, summarise_metrics
from fgit.training.rows import SKIP_COLUMN, RowError, encode_preference_rows

__all__ = ["FGITConfig", "FGITTrainer", "RowError", "encode_preference_rows"]

logger = get_logger(__name__)


def _from_objective(name: str) -> dict[str, Any]:
    """``field()`` arguments of a setting declared by fgit's :class:`Objective`: the same
    default, the same help."""
    info = Objective.model_fields[name]
    return {"default": info.default, "metadata": {"help": info.description}}


@dataclass
class FGITConfig(DPOConfig):
    """``DPOConfig`` plus fgit's loss settings, declared once in
    :class:`fgit.training.loss_settings.Objective` (``beta`` and ``label_smoothing`` are
    DPOConfig's own, with the same meaning)."""

    fgit_loss: LossName = field(
        default="fgit", metadata={"help": Objective.model_fields["loss"].description}
    )
    granularity: Granularity = field(**_from_objective("granularity"))
    alpha: float = field(**_from_objective("alpha"))
    detach_weights: bool = field(**_from_objective("detach_weights"))
    weight_gradient: WeightGradient = field(**_from_objective("weight_gradient"))
    fixed_weight: float = field(**_from_objective("fixed_weight"))
    sft_weight: float = field(**_from_objective("sft_weight"))
    shared_weight: float = field(**_from_objective("shared_weight"))
    line_gap: str = field(
        default=TrainConfig.model_fields["line_gap"].default,
        metadata={
            "help": "Lines only in the incorrect response: mark the correct side's next line "
            "(next-line) or nothing (none). docs/segments.md."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.objective  # noqa: B018 - validates the loss settings now, not at the first step
        if self.line_gap not in ("next-line", "none"):
            raise ValueError(f"line_gap must be next-line or none, got {self.line_gap!r}")
        refused = {
            "loss_type": (self.loss_type, ["sigmoid"]),
            "loss_weights": (self.loss_weights, None),
            "ld_alpha": (self.ld_alpha, None),
            "f_divergence_type": (self.f_divergence_type, "reverse_kl"),
            "use_weighting": (self.use_weighting, False),
            "precompute_ref_log_probs": (self.precompute_ref_log_probs, False),
            "truncation_mode": (self.truncation_mode, "keep_start"),
        }
        for name, (value, default) in refused.items():
            if value != default:
                raise ValueError(
                    f"FGITConfig: {name}={value!r} is not supported: FGITTrainer computes fgit's "
                    f"losses (set fgit_loss) and its masks on the start of each row; leave "
                    f"{name} at {default!r}"
                )

    @property
    def objective(self) -> Objective:
        return Objective(
            loss=self.fgit_loss,
            granularity=self.granularity,
            alpha=self.alpha,
            detach_weights=self.detach_weights,
            weight_gradient=self.weight_gradient,
            fixed_weight=self.fixed_weight,
            beta=self.beta,
            label_smoothing=self.label_smoothing,
            sft_weight=self.sft_weight,
            shared_weight=self.shared_weight,
        )


def _encode_batch(
    batch: dict[str, list[Any]], indices: list[int], **kwargs: Any
) -> dict[str, list[Any]]:
    """``datasets.map`` form of :func:`encode_preference_rows` (batched, with indices)."""
    rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
    columns = encode_preference_rows(rows, first_index=indices[0], **kwargs)
    return {name: [c[name] for c in columns] for name in columns[0]}


# --- the trainer -------------------------------------------------------------------------------


@contextlib.contextmanager
def _no_reference_copy(policy_is_path: bool) -> Iterator[None]:
    """Keep ``DPOTrainer.__init__`` from loading a frozen copy of the policy as its reference,
    which it does whenever it trains all weights without precomputed reference log-probs.
    fgit's token-level losses read no reference. trl 1.16 loads both the policy (when given by
    name) and that copy with ``create_model_from_path``; the policy comes first."""
    original = dpo_trainer.create_model_from_path
    loads = 0

    def load(path: str, **kwargs: Any) -> Any:
        nonlocal loads
        loads += 1
        return original(path, **kwargs) if policy_is_path and loads == 1 else None

    dpo_trainer.create_model_from_path = load
    try:
        yield
    finally:
        dpo_trainer.create_model_from_path = original


class _FusedHeadLogProbs:
    """fgit's scoring call (:meth:`fgit.training.logprobs.CausalLMLogProbs.forward`) on TRL's
    fused LM head. It calls the model the trainer hands over, wrapped by DDP/FSDP or not, so
    their hooks run."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(
        self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor, score_mask: Tensor
    ) -> Tensor:
        scored = labels.masked_fill(~score_mask, IGNORE_INDEX)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=scored,
            fused_lm_head=True,
            use_cache=False,
        )
        return _real_positions(out.log_probs, input_ids)


def _real_positions(log_probs: Tensor, input_ids: Tensor) -> Tensor:
    """Prompt-learning PEFT (prompt tuning, p-tuning) puts virtual tokens before the input, so
    the log-probabilities are wider than the ``T-1`` positions of the real tokens: keep those
    (as TRL does)."""
    return log_probs[:, -(input_ids.shape[1] - 1) :]


class FGITTrainer(DPOTrainer):
    """``DPOTrainer`` with fgit's data encoding, masks and losses; see the module docstring."""

    _tag_names: ClassVar[list[str]] = ["trl", "fgit"]
    _name = "FGIT"
    _paper: ClassVar[dict[str, str]] = {}  # no citation until the FGIT paper has a stable one
    # The loss is already a share of the whole step's normaliser: Trainer must not divide it
    # again by the accumulation steps.
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: FGITConfig | None = None,
        data_collator: Any = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class: Any = None,
        compute_metrics: Any = None,
        callbacks: Any = None,
        optimizers: tuple[Any, Any] = (None, None),
        quantization_config: Any = None,
        peft_config: Any = None,
    ) -> None:
        if args is None:
            args = FGITConfig(output_dir="fgit-trl")
        if not isinstance(args, FGITConfig):
            raise TypeError(f"FGITTrainer needs an FGITConfig, got {type(args).__name__}")
        self.objective = args.objective
        if compute_metrics is not None:
            raise ValueError(
                "FGITTrainer does not pass logits to compute_metrics (its fused LM head never "
                "builds them); its metrics are logged by the trainer itself"
            )
        needs_copy = self.objective.needs_reference or ref_model is not None
        context = (
            contextlib.nullcontext() if needs_copy else _no_reference_copy(isinstance(model, str))
        )
        self._fgit_sums: dict[str, dict[str, float]] = defaultdict(
            lambda: dict.fromkeys(METRICS, 0.0)
        )
        with context:
            super().__init__(
                model,
                ref_model=ref_model,
                args=args,
                data_collator=data_collator,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                compute_metrics=compute_metrics,
                callbacks=callbacks,
                optimizers=optimizers,
                quantization_config=quantization_config,
                peft_config=peft_config,
            )
        if self.aux_loss_enabled:
            raise ValueError(
                "this model is a mixture of experts with a router loss; fgit's losses do not add "
                "it yet: set router_aux_loss_coef=0.0 to train without it"
            )
        if data_collator is None:
            self.data_collator = ColumnCollator(
                pad_token_id=self._tokenizer.pad_token_id,
                granularity=args.granularity,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )

    # -- data

    def _prepare_dataset(
        self, dataset: Any, processing_class: Any, args: Any, dataset_name: str
    ) -> Dataset:
        if not isinstance(dataset, Dataset):
            raise TypeError(
                f"FGITTrainer needs a map-style datasets.Dataset for {dataset_name} (it counts "
                f"and reports skipped rows before training), got {type(dataset).__name__}"
            )
        if SKIP_COLUMN in dataset.column_names:  # prepared already (evaluate() on a split)
            return dataset
        if len(dataset) == 0:
            raise ValueError(f"the {dataset_name} dataset is empty")
        if "prompt" not in dataset.column_names:
            if isinstance(dataset[0].get("chosen"), str):
                # TRL would split plain text at the first differing character, often inside a
                # line of code, and train on the rest only.
                raise ValueError(
                    f"the {dataset_name} rows have no 'prompt' and their sides are plain text; "
                    "fgit reads an implicit prompt from conversational rows only: add a 'prompt' "
                    "column"
                )
            dataset = dataset.map(extract_prompt, desc=f"Extracting prompt from {dataset_name}")
        # Explicit types: a first batch whose rows are all skipped (empty lists) would make
        # datasets infer list<null> and fail on the next one.
        features = dataset.features.copy()
        for name in (*ID_COLUMNS, *MASK_COLUMNS):
            features[name] = Sequence(Value("int64"))
        features[SKIP_COLUMN] = Value("string")

        dataset = dataset.map(
            _encode_batch,
            batched=True,
            with_indices=True,
            fn_kwargs={
                "tokenizer": self._tokenizer,
                "max_length": args.max_length or 2**62,
                "line_gap": args.line_gap,
            },
            num_proc=args.dataset_num_proc,
            features=features,
            desc=f"fgit: tokenizing {dataset_name} and marking its error-sensitive tokens",
        )
        reasons = Counter(r.split(":")[0] for r in dataset[SKIP_COLUMN] if r)
        if reasons:
            skipped = sum(reasons.values())
            first = next(k for k, r in enumerate(dataset[SKIP_COLUMN]) if r)
            logger.warning(
                f"{dataset_name}: {skipped} of {len(dataset)} rows skipped "
                f"({', '.join(f'{k}: {v}' for k, v in reasons.items())}); first: row {first}, "
                f"{dataset[first][SKIP_COLUMN]}",
                main_process_only=True,
            )
            dataset = dataset.filter(lambda r: not r, input_columns=SKIP_COLUMN)
            if len(dataset) == 0:
                raise ValueError(f"none of the {dataset_name} rows can be trained on")
        return dataset

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            self._signature_columns = [*ID_COLUMNS, *MASK_COLUMNS]

    # -- loss

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> Tensor:
        """The step's normalisers, ``[chosen response tokens, pairs]``, over its micro-batches
        and all processes (:func:`fgit.training.objective.local_counts` of each batch)."""
        counts = torch.zeros(2, dtype=torch.float64)
        for batch in batch_samples:
            b = batch["input_ids"].shape[0] // 2
            counts[0] += batch["completion_mask"][:b, 1:].sum().item()
            counts[1] += b
        counts = counts.to(device)
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        return counts

    def _reference_logps(self, inputs: Mapping[str, Tensor]) -> Tensor:
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, IGNORE_INDEX)
        kwargs = {
            "input_ids": inputs["input_ids"],
            "attention_mask": inputs["attention_mask"],
            "labels": labels,
            "fused_lm_head": True,
            "use_cache": False,
        }
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
        ):
            if self.ref_model is not None:
                return _real_positions(self.ref_model(**kwargs).log_probs, inputs["input_ids"])
            if not is_peft_model(self.model):
                raise ValueError(f"loss {self.objective.loss!r} needs a reference model")
            # An adapter: the reference is the model without it (or its frozen "ref" copy).
            unwrapped = self.accelerator.unwrap_model(self.model)
            name = "ref" if "ref" in unwrapped.peft_config else None
            with use_adapter(unwrapped, adapter_name=name):
                return _real_positions(self.model(**kwargs).log_probs, inputs["input_ids"])

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | None = None,
    ) -> Any:
        objective = self.objective
        reference = self._reference_logps(inputs) if objective.needs_reference else None
        batch = batch_from_columns(inputs, objective.sides, reference)
        if num_items_in_batch is None:  # evaluation: this batch's own normalisers
            num_items_in_batch = self._get_num_items_in_batch([inputs], inputs["input_ids"].device)
        # Python floats, as fgit train passes them: the loss keeps the model's dtype.
        counts = StepCounts(
            tokens=max(float(num_items_in_batch[0]), 1.0),
            pairs=max(float(num_items_in_batch[1]), 1.0),
        )
        loss, metrics = micro_batch_loss(_FusedHeadLogProbs(model), batch, objective, counts)
        self._record(metrics)
        # DDP/FSDP average gradients over processes; the loss is already a share of the global
        # sum, so undo the average (as Trainer does for average_tokens_across_devices).
        loss = loss * self.accelerator.num_processes
        return (loss, None) if return_outputs else loss

    def prediction_step(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Tensor],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[Tensor, None, None]:
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    # -- logging

    def _record(self, metrics: dict[str, Tensor]) -> None:
        names = [name for name in METRICS if name in metrics]
        # Counts made with torch.tensor(n) sit on the CPU, the sums on the model's device.
        device = self.accelerator.device
        values = torch.stack([metrics[name].detach().to(device, torch.float64) for name in names])
        if self.accelerator.num_processes > 1:
            values = self.accelerator.reduce(values, reduction="sum")
        sums = self._fgit_sums["train" if self.model.training else "eval"]
        for name, value in zip(names, values.tolist(), strict=True):
            sums[name] += value

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        sums = self._fgit_sums.pop(mode, None)
        if sums is not None:
            for name, value in summarise_metrics(sums, 1).items():
                if name != "loss":  # Trainer logs the loss itself
                    self._metrics[mode][name] = [value]
        super().log(logs, start_time)
