"""Stage 4: the FGIT loss and its baselines, the paired collator and the trainer.

``losses`` holds the math as pure tensor functions; ``logprobs`` computes per-token
log-probabilities in chunks; ``collator`` batches pairs; ``objective`` wires a loss to a
forward pass; ``trainer`` runs it all on accelerate.
"""

from fgit.training.config import ConfigError, LoraSettings, TrainConfig, load_train_config
from fgit.training.loss_settings import LossName, Objective

__all__ = [
    "ConfigError",
    "LoraSettings",
    "LossName",
    "Objective",
    "TrainConfig",
    "load_train_config",
]
