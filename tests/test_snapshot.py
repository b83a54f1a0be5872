"""fgit.pipeline.snapshot and scripts/run_snapshot.py: what a snapshot keeps and leaves out.

Rebuilding merged models from adapters, end to end on two LoRA rounds, is
tests/test_onpolicy_pipeline.py::test_a_snapshot_without_merged_weights_restores_to_a_cached_run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fgit.pipeline.snapshot import SNAPSHOT, restore_snapshot, save_snapshot

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("run_snapshot", REPO / "scripts/run_snapshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_snapshot = _script()


def _stage(status: str, run: str) -> dict:
    return {"status": status, "outputs": {"run": run, "model": f"{run}/model"}, "settings": {}}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder: one finished full fine-tuning run, one training run cut short, a sampling
    stage cut short, the lock."""
    root = tmp_path / "run"
    manifest = {
        "config": {"model": "m"},
        "stages": {
            "train:full": _stage("done", "train/full"),
            "train:cut-r1": _stage("running", "train/cut-r1"),
            "attempts:base": {"status": "running", "outputs": {}},
        },
    }
    files = {
        "manifest.json": json.dumps(manifest),
        ".lock": "",
        "train/full/model/model.safetensors": "weights",
        "train/full/checkpoints/step-5/state.bin": "optimizer",
        "train/full/training.json": "{}",
        "train/cut-r1/train_log.jsonl": "{}\n",
        "onpolicy/base/attempts.samples.jsonl": '{"id": 1}\n',
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_snapshot_keeps_the_cache_and_leaves_out_what_cannot_resume(run, tmp_path):
    snap = tmp_path / "snap"
    record = save_snapshot(run, snap)
    kept = sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())
    assert kept == [
        "manifest.json",
        "onpolicy/base/attempts.samples.jsonl",  # a sampling stage resumes from it
        SNAPSHOT,
        "train/full/model/model.safetensors",  # full fine-tuning: no adapter rebuilds it
        "train/full/training.json",
    ]
    assert record["dropped"] == {}


def test_restore_refuses_a_folder_that_holds_a_run(run, tmp_path, capsys):
    snap = tmp_path / "snap"
    assert run_snapshot.main(["save", str(run), str(snap)]) == 0
    assert run_snapshot.main(["restore", str(snap), str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    restored = tmp_path / "restored"
    assert run_snapshot.main(["restore", str(snap), str(restored)]) == 0
    assert (restored / "manifest.json").read_text() == (run / "manifest.json").read_text()
    assert not (restored / SNAPSHOT).exists()
    assert json.loads((restored / "restored.json").read_text())["rebuilt"] == {}


def test_bad_folders_are_one_line_errors(tmp_path, capsys):
    assert run_snapshot.main(["save", str(tmp_path / "none"), str(tmp_path / "s")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    with pytest.raises(Exception, match="not a snapshot"):
        restore_snapshot(tmp_path, tmp_path / "r")
    assert run_snapshot.main(["restore", str(tmp_path), str(tmp_path / "r")]) == 2
    assert "not a snapshot" in capsys.readouterr().err
