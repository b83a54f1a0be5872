"""Loadable model folders: the finished run's ``model/`` and ``adapter/``, and the same at every
checkpoint, in the dtype ``save_dtype`` asks for.

Full fine-tuning keeps fp32 master weights (fgit.training.trainer), so saving them as they are
doubles the size of a bf16 model for nothing a bf16 user can load. ``save_dtype: auto`` saves the
weights in the precision the run computed in: bf16 under bf16 mixed precision, fp16 under fp16,
float32 when it trained in float32 (``precision: fp32``, or ``auto`` on hardware without bf16).
The cast is made on a copy of the state dict, on the CPU, at save time: the training weights
are never touched. A LoRA adapter is saved as trained (peft keeps adapter weights in float32):
it is small, and its updates are the whole result.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fgit.io import write_json
from fgit.training.model_card import CardFacts, FolderKind, folder_facts, write_card

__all__ = [
    "ADAPTER_DIR",
    "MODEL_DIR",
    "FolderWriter",
    "cast_state",
    "keep_loadable_folders",
    "resolve_save_dtype",
]

MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_save_dtype(setting: str, mixed_precision: str) -> str:
    """The dtype name weights are saved in: ``setting``, or for ``auto`` the precision the run
    computed in (accelerate's ``mixed_precision``: bf16, fp16 or no)."""
    if setting != "auto":
        return setting
    return {"bf16": "bfloat16", "fp16": "float16"}.get(mixed_precision, "float32")


def cast_state(state: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """A CPU copy of ``state`` with its floating-point tensors in ``dtype`` (integer and bool
    tensors as they are). Never a view of the input: the caller's tensors stay untouched.
    Tensors that share memory (tied embeddings) share their copy too, so that transformers still
    sees them as tied and saves one (it finds ties by storage pointer)."""
    out = {}
    copies: dict[tuple[Any, ...], torch.Tensor] = {}
    for name, tensor in state.items():
        target = dtype if tensor.is_floating_point() else tensor.dtype
        key = (
            tensor.device,
            tensor.dtype,
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
        )
        if key not in copies:
            copies[key] = tensor.detach().to(device="cpu", dtype=target, copy=True)
        out[name] = copies[key]
    return out


def _finish_config(folder: Path, dtype: str) -> None:
    """config.json as a user loads it: the dtype its weights are in (transformers writes the
    model's, the fp32 master weights'), and the KV cache on (training turns it off)."""
    path = folder / "config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in ("dtype", "torch_dtype"):  # transformers 5 writes dtype, 4 torch_dtype
        if key in config:
            config[key] = dtype
    if "use_cache" in config:
        config["use_cache"] = True
    write_json(path, config)


@dataclass(frozen=True)
class FolderWriter:
    """Writes one run's loadable folders: weights, tokenizer, generation config, card."""

    tokenizer: Any
    save_dtype: str  # a key of DTYPES: what model/ weights are saved in
    facts: CardFacts

    def model(
        self,
        lm: Any,
        folder: Path,
        state: Mapping[str, torch.Tensor] | None = None,
        *,
        kind: FolderKind = "model",
        step: int | None = None,
        loss: float | None = None,
    ) -> Path:
        """A transformers model folder of ``lm`` with ``state`` (default: its own) cast to the
        save dtype."""
        state = lm.state_dict() if state is None else state
        lm.save_pretrained(folder, state_dict=cast_state(state, DTYPES[self.save_dtype]))
        _finish_config(folder, self.save_dtype)
        self.tokenizer.save_pretrained(folder)
        write_card(folder, folder_facts(self.facts, kind, step, loss))
        return folder

    def adapter(
        self,
        peft_model: Any,
        folder: Path,
        state: Mapping[str, torch.Tensor],
        *,
        step: int | None = None,
        loss: float | None = None,
    ) -> Path:
        """A peft adapter folder (``PeftModel.from_pretrained`` loads it), weights as trained."""
        peft_model.save_pretrained(folder, state_dict=dict(state))
        self.tokenizer.save_pretrained(folder)
        write_card(folder, folder_facts(self.facts, "adapter", step, loss))
        return folder


def keep_loadable_folders(checkpoints: Path, keep: bool, marker: str) -> None:
    """At the end of a run: drop the resume state of every checkpoint (optimizer, RNG, accelerate's
    fp32 copy of the model), which a finished run never reads, and keep the loadable folders
    unless ``keep`` is False (then the whole ``checkpoints/`` goes, as before). A checkpoint
    without its ``marker`` file was cut short by a crash: it goes whole."""
    if not checkpoints.is_dir():
        return
    if not keep:
        shutil.rmtree(checkpoints, ignore_errors=True)
        return
    for step in checkpoints.glob("step-*"):
        if not (step / marker).is_file():
            shutil.rmtree(step, ignore_errors=True)
            continue
        for path in step.iterdir():
            if path.name in (MODEL_DIR, ADAPTER_DIR):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if not any(step.iterdir()):  # a checkpoint written before loadable folders existed
            step.rmdir()
