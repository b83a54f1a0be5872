"""The loss settings, declared once: their names, types, bounds, defaults and help texts.

:class:`TrainConfig` inherits them and `fgit train` takes its options' help from the
descriptions. Torch-free, so that the command line can read them without loading torch.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PREFERENCE_LOSSES",
    "Granularity",
    "LossName",
    "Objective",
    "Sides",
    "WeightGradient",
    "one_of",
]

LossName = Literal["sft", "fixed", "fgit", "dpo", "dpo+sft", "fault-dpo"]
PREFERENCE_LOSSES: tuple[LossName, ...] = ("dpo", "dpo+sft", "fault-dpo")
Granularity = Literal["line", "token", "hybrid"]
WeightGradient = Literal["both", "correct"]
Sides = Literal["both", "correct"]  # the responses of a pair that the loss reads


def one_of(choices: Any) -> str:
    """A Literal's values as prose: ``"a, b or c"``."""
    names = [str(value) for value in get_args(choices)]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


class Objective(BaseModel):
    """The loss and its hyper-parameters (see :mod:`fgit.training.losses` for the formulas)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: LossName = Field("fgit", description=f"The training loss: {one_of(LossName)}.")
    granularity: Granularity = Field(
        "hybrid",
        description=f"The error-sensitive mask: {one_of(Granularity)} (docs/segments.md).",
    )
    alpha: float = Field(
        2.0, ge=1.0, description="FGIT α (sensitive weights in (α-1, α], shared ones α-1)."
    )
    detach_weights: bool = Field(False, description="Treat the FGIT weight W as a constant.")
    weight_gradient: WeightGradient = Field(
        "both",
        description="Which H carries W's gradient (unless detached): both (the paper), or "
        "correct (H^c only).",
    )
    fixed_weight: float = Field(
        2.0, ge=0.0, description="The weight k of sensitive tokens (shared ones weigh 1)."
    )
    beta: float = Field(
        0.1, gt=0.0, description="DPO's β: how strongly the policy is kept near the reference."
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=0.5, description="cDPO label smoothing: the assumed share of flipped pairs."
    )
    sft_weight: float = Field(
        1.0, ge=0.0, description="The weight λ of the correct response's NLL term."
    )
    shared_weight: float = Field(
        0.0, ge=0.0, description="The weight s of shared tokens in fault-dpo's sequence scores."
    )

    @property
    def sides(self) -> Sides:
        return "correct" if self.loss in ("sft", "fixed") else "both"

    @property
    def needs_reference(self) -> bool:
        return self.loss in PREFERENCE_LOSSES
