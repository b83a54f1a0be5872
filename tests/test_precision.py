"""`dtype: auto`: bf16 where the hardware runs it natively, float32 elsewhere, with a reason."""

from __future__ import annotations

import pytest
import torch

from fgit import precision
from fgit.precision import choose_dtype, cpu_bf16_feature


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "feature"),
    [
        (True, False, "amx_tile"),
        (False, True, "avx512_bf16"),
        (True, True, "amx_tile"),
        (False, False, None),
    ],
)
def test_cpu_feature_probe(monkeypatch, amx, avx512_bf16, feature):
    monkeypatch.delenv("FGIT_CPU_BF16", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert cpu_bf16_feature() == feature


def test_cpu_with_native_bf16_gets_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_feature", lambda: "amx_tile")
    choice = choose_dtype("cpu")
    assert choice.dtype == "bfloat16"
    assert "amx_tile" in choice.reason
    assert choice.record() == {"dtype": "bfloat16", "dtype_reason": choice.reason}


def test_cpu_without_native_bf16_gets_float32(monkeypatch):
    monkeypatch.delenv("FGIT_CPU_BF16", raising=False)
    monkeypatch.setattr(precision, "cpu_bf16_feature", lambda: None)
    choice = choose_dtype("cpu")
    assert choice.dtype == "float32"
    assert "emulated" in choice.reason


def test_cuda_follows_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    # Native support only: emulated bf16 (T4, V100) is slower than float32.
    native = {"value": True}

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        return including_emulation or native["value"]

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert choose_dtype("cuda:0").dtype == "bfloat16"
    native["value"] = False
    assert choose_dtype("cuda").dtype == "float32"


def test_backend_records_the_choice(monkeypatch, tmp_path):
    """An ``auto`` backend loads in the chosen dtype and says why in its description."""
    from fgit.backends.transformers_backend import TransformersBackend
    from fgit.testing import build_tiny_llama, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer("bytelevel")
    folder = tmp_path / "tiny"
    build_tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for feature, dtype in (("amx_tile", "bfloat16"), (None, "float32")):
        monkeypatch.setattr(precision, "cpu_bf16_feature", lambda f=feature: f)
        backend = TransformersBackend(folder, device="cpu", quiet=True)
        described = backend.describe()
        assert described["dtype"] == dtype
        assert described["dtype_reason"] == choose_dtype("cpu").reason
    asked = TransformersBackend(folder, device="cpu", dtype="float32", quiet=True).describe()
    assert asked["dtype_reason"] == "asked for"


def test_environment_overrides_the_feature_check(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    monkeypatch.setenv("FGIT_CPU_BF16", "0")
    assert cpu_bf16_feature() is None
    assert choose_dtype("cpu") == precision.PrecisionChoice("float32", "auto: FGIT_CPU_BF16=0")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setenv("FGIT_CPU_BF16", "1")
    assert choose_dtype("cpu") == precision.PrecisionChoice("bfloat16", "auto: FGIT_CPU_BF16=1")
