"""Training on a real packaged model (SmolLM2-135M: tied embeddings, 49k vocabulary): the step-0
check of chunked log-probabilities against the model's own logits, LoRA and full fine-tuning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow
PAIRS = REPO_ROOT / "examples" / "pairs.jsonl"


def _losses(folder: Path) -> list[float]:
    lines = (folder / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


@pytest.mark.parametrize(
    ("loss", "lora"), [("fgit", True), ("sft", False)], ids=["fgit-lora", "sft-full"]
)
def test_smollm2_trains_and_reloads(tmp_path: Path, loss: str, lora: bool) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from fgit.training import LoraSettings, TrainConfig
    from fgit.training.trainer import train

    config = TrainConfig(
        pairs=PAIRS,
        model="smollm2-135m-instruct",
        output_dir=tmp_path / "run",
        loss=loss,
        lora=LoraSettings(r=4) if lora else None,
        per_device_batch_size=3,
        max_steps=2,
        learning_rate=1e-4,
        max_length=512,
        logprob_chunk_size=64,  # several chunks per batch on a real vocabulary
        save_steps=None,
        quiet=True,
    )
    result = train(config)
    losses = _losses(result.output_dir)
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert (result.model_dir / "config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.isfinite(model(input_ids=ids).logits).all()
    if lora:
        assert result.adapter_dir is not None
        assert (result.adapter_dir / "adapter_config.json").is_file()
