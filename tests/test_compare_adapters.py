"""scripts/compare_adapters.py: the low-rank inner product equals the dense one, on PEFT's files."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "compare_adapters", REPO / "scripts/compare_adapters.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save_adapter(folder: Path, seed: int, **lora: object) -> torch.nn.Module:
    """A tiny Llama with a LoRA adapter whose B is random (PEFT starts it at 0), saved by PEFT."""
    from peft import LoraConfig, get_peft_model

    from fgit.testing import build_tiny_llama, build_tiny_tokenizer

    model = build_tiny_llama(build_tiny_tokenizer(), seed=0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], **lora)
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    peft_model.save_pretrained(folder)
    return peft_model


def _dense_updates(peft_model: torch.nn.Module) -> torch.Tensor:
    """Every module's ΔW = scaling·B·A built densely, the way PEFT's merge computes it."""
    deltas = []
    for _, module in sorted(peft_model.named_modules()):
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            b = module.lora_B["default"].weight.double()
            a = module.lora_A["default"].weight.double()
            deltas.append((b @ a * module.scaling["default"]).flatten())
    return torch.cat(deltas)


@pytest.mark.parametrize("rslora", [False, True])
def test_inner_product_of_saved_adapters_equals_the_dense_updates(
    tmp_path: Path, rslora: bool
) -> None:
    script = _script()
    first = _dense_updates(_save_adapter(tmp_path / "a", seed=1, use_rslora=rslora))
    second = _dense_updates(_save_adapter(tmp_path / "b", seed=2, use_rslora=rslora))
    a, b = script.load_adapter(tmp_path / "a"), script.load_adapter(tmp_path / "b")
    assert len(a) == 4  # q_proj and v_proj in 2 layers
    assert script.update_inner(a, b) == pytest.approx((first @ second).item(), rel=1e-9)
    assert script.update_inner(a, a) == pytest.approx((first @ first).item(), rel=1e-9)


def test_a_module_only_one_adapter_has_counts_as_a_zero_update() -> None:
    script = _script()
    generator = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    factors = {m: (randn(6, 2), randn(2, 5)) for m in "xy"}
    only_x = {"x": factors["x"]}
    b, a = factors["x"]
    assert script.update_inner(factors, only_x) == pytest.approx(((b @ a) ** 2).sum().item())


def test_cli_prints_norms_and_cosines_and_refuses_per_module_ranks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script()
    _save_adapter(tmp_path / "a", seed=1)
    _save_adapter(tmp_path / "b", seed=2)
    assert script.main([str(tmp_path / "a"), str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    cosines = [float(line.rsplit(":", 1)[1]) for line in out.splitlines() if " vs " in line]
    assert len(cosines) == 3 and math.isclose(cosines[0], 1.0)
    assert all(-1.0 <= c <= 1.0 for c in cosines) and not math.isclose(cosines[1], 1.0)

    config_path = tmp_path / "b" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "rank_pattern": {"q_proj": 2}}))
    assert script.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "rank_pattern" in error and str(tmp_path / "b") in error
