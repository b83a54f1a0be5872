"""scripts/pair_contrast.py: per-pair confidences and NLLs equal a direct float64 computation."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "pair_contrast", REPO / "scripts/pair_contrast.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being defined
    spec.loader.exec_module(module)
    return module


def test_pair_contrast_equals_the_definitions() -> None:
    """Two pairs; rows 0-1 correct sides, 2-3 incorrect. Pair 1's incorrect side has no
    sensitive token: its H^a is NaN and its W is α."""
    script = _script()
    generator = torch.Generator().manual_seed(0)
    logp = -torch.rand(4, 6, generator=generator, dtype=torch.float64) * 3
    loss_mask = torch.tensor(
        [[0, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1]]
    ).bool()
    # a 2 at a masked position (prompt) must be ignored
    sensitive = torch.tensor(
        [[2, 0, 1, 2, 0, 0], [0, 0, 0, 1, 1, 0], [0, 2, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]
    )
    out = script.pair_contrast(logp, loss_mask, sensitive, alpha=2.0)
    p = logp.exp()

    def h(row: int, cols: list[int], v: list[float]) -> float:
        return sum(p[row, c].item() * w for c, w in zip(cols, v, strict=True)) / sum(v)

    hc = [h(0, [2, 3], [1, 2]), h(1, [3, 4], [1, 1])]
    ha0 = h(2, [1, 3], [2, 1])
    assert out.h_correct.tolist() == pytest.approx(hc, rel=1e-12)
    assert out.h_incorrect[0].item() == pytest.approx(ha0, rel=1e-12)
    assert math.isnan(out.h_incorrect[1].item())
    assert out.weight[0].item() == pytest.approx(2 - abs((hc[0] - ha0) / (hc[0] + ha0)))
    assert out.weight[1].item() == 2.0
    assert out.nll_sensitive[0].item() == pytest.approx(-(logp[0, 2] + logp[0, 3]).item() / 2)
    assert out.nll_shared[0].item() == pytest.approx(-(logp[0, 1] + logp[0, 4]).item() / 2)
    assert out.nll_shared[1].item() == pytest.approx(-(logp[1, 2] + logp[1, 5]).item() / 2)
    margin0 = logp[0, 1:5].sum() - logp[2, 1:4].sum()
    assert out.margin[0].item() == pytest.approx(margin0.item())

    summary = script.summarize(out.rows())
    assert summary["pairs"] == 2
    assert summary["h_incorrect"] == pytest.approx(ha0)  # the NaN left out of the mean
    assert summary["prefers_correct"] == float(hc[0] > ha0) / 2  # NaN compares False


def test_cli_scores_every_pair_of_both_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end on a tiny model: the trained-on and held-out counts add up to the pairs, and
    the JSON holds finite means."""
    from fgit.records import read_pairs
    from fgit.testing import save_tiny_model

    script = _script()
    model = save_tiny_model(tmp_path / "model")
    pairs = REPO / "examples/pairs.jsonl"
    like = tmp_path / "training.json"
    like.write_text(json.dumps({"config": {"holdout_fraction": 0.5, "holdout_seed": 3}}))
    out = tmp_path / "contrast.json"
    code = script.main([str(model), "--pairs", str(pairs), "--like", str(like), "--out", str(out)])
    assert code == 0
    summary = json.loads(out.read_text())[str(model)]
    assert sum(split["pairs"] for split in summary.values()) == len(read_pairs(pairs))
    for split in summary.values():
        assert 0 < split["h_correct"] < 1 and 1 < split["weight"] <= 2
        assert math.isfinite(split["margin"]) and split["nll_sensitive"] > 0
    assert "trained on" in capsys.readouterr().out


def test_cli_names_a_bad_training_json_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script()
    like = tmp_path / "training.json"
    like.write_text(json.dumps({"config": {"alpha": "lots"}}))
    code = script.main(["m", "--pairs", str(REPO / "examples/pairs.jsonl"), "--like", str(like)])
    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1
