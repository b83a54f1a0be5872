"""The loss settings, declared once: their names, types, bounds, defaults, help texts and
which losses read them.

:class:`TrainConfig` inherits them and `fgit train` takes its options' help from the
descriptions. Torch-free, so that the command line can read them without loading torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "PREFERENCE_LOSSES",
    "READ_BY",
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

# The losses that read each loss-specific setting (fgit.training.objective passes nothing else
# to fgit.training.losses). Any other loss ignores it, so setting it there to anything but its
# default is an error, not a silent no-op. granularity is not here: every loss reads it, for its
# masks (fixed, fgit, fault-dpo) or for the logged nll_sensitive and nll_shared (the others).
READ_BY: dict[str, tuple[LossName, ...]] = {
    "alpha": ("fgit",),
    "detach_weights": ("fgit",),
    "weight_gradient": ("fgit",),
    "fixed_weight": ("fixed",),
    "beta": PREFERENCE_LOSSES,
    "label_smoothing": ("dpo",),
    "sft_weight": ("dpo+sft", "fault-dpo"),
    "shared_weight": ("fault-dpo",),
}


def _prose(names: Sequence[Any], last: str = "or") -> str:
    """``"a, b or c"`` (or ``"a, b and c"``)."""
    words = [str(name) for name in names]
    return ", ".join(words[:-1]) + f" {last} " + words[-1] if len(words) > 1 else "".join(words)


def one_of(choices: Any) -> str:
    """A Literal's values as prose: ``"a, b or c"``."""
    return _prose(get_args(choices))


def _readers(setting: str) -> str:
    """``"loss fgit"``, ``"losses dpo+sft and fault-dpo"``: who reads ``setting``."""
    losses = READ_BY[setting]
    return f"loss{'es' if len(losses) > 1 else ''} {_prose(losses, 'and')}"


def _read_by(setting: str, text: str) -> str:
    """A loss setting's description, naming the losses that read it."""
    return f"{text} Read by {_readers(setting)} only."


class Objective(BaseModel):
    """The loss and its hyper-parameters (see :mod:`fgit.training.losses` for the formulas)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: LossName = Field("fgit", description=f"The training loss: {one_of(LossName)}.")
    granularity: Granularity = Field(
        "hybrid",
        description=f"The error-sensitive mask: {one_of(Granularity)} (docs/segments.md).",
    )
    alpha: float = Field(
        2.0,
        ge=1.0,
        description=_read_by("alpha", "FGIT α (sensitive weights in (α-1, α], shared ones α-1)."),
    )
    detach_weights: bool = Field(
        False, description=_read_by("detach_weights", "Treat the FGIT weight W as a constant.")
    )
    weight_gradient: WeightGradient = Field(
        "both",
        description=_read_by(
            "weight_gradient",
            "Which H carries W's gradient (unless detached): both (the paper), or correct (H^c "
            "only).",
        ),
    )
    fixed_weight: float = Field(
        2.0,
        ge=0.0,
        description=_read_by(
            "fixed_weight", "The weight k of sensitive tokens (shared ones weigh 1)."
        ),
    )
    beta: float = Field(
        0.1,
        gt=0.0,
        description=_read_by(
            "beta", "DPO's β: how strongly the policy is kept near the reference."
        ),
    )
    label_smoothing: float = Field(
        0.0,
        ge=0.0,
        lt=0.5,
        description=_read_by(
            "label_smoothing", "cDPO label smoothing: the assumed share of flipped pairs."
        ),
    )
    sft_weight: float = Field(
        1.0,
        ge=0.0,
        description=_read_by("sft_weight", "The weight λ of the correct response's NLL term."),
    )
    shared_weight: float = Field(
        0.0,
        ge=0.0,
        description=_read_by(
            "shared_weight", "The weight s of shared tokens in the sequence scores."
        ),
    )

    @field_validator(*READ_BY)
    @classmethod
    def _read_by_the_loss(cls, value: Any, info: ValidationInfo) -> Any:
        # loss is declared first, so it is validated (and in info.data) before these; a default
        # is allowed anywhere, so that one config can switch losses with --loss.
        name = str(info.field_name)
        loss = info.data.get("loss")
        if loss is None or loss in READ_BY[name] or value == cls.model_fields[name].default:
            return value
        raise ValueError(f"{value!r} has no effect with loss {loss}: read by {_readers(name)} only")

    @property
    def sides(self) -> Sides:
        return "correct" if self.loss in ("sft", "fixed") else "both"

    @property
    def needs_reference(self) -> bool:
        return self.loss in PREFERENCE_LOSSES
