"""A run folder without its merged models' weights, and the run folder back from it.

A run that spans machines (a CPU box whose disk goes at the end of a session, a GPU lent for an
hour) resumes from its stage cache only where its folder is. A snapshot keeps everything the
cache needs except what can be rebuilt: the merged weights in ``train/NAME/model/`` of each LoRA
run (2 GB for a 0.5B model in float32, against 17 MB for its adapter), checkpoints, and the folder
of a training run cut short (it starts again). A sampling stage cut short keeps its samples file
and resumes from it. ``snapshot.json`` lists each dropped weight file with its sha256.

Restoring copies the snapshot back and rebuilds each dropped ``model/``: the adapter merged into
the model its run trained from (the config's model, or an earlier round's ``model/``, rebuilt
first), saved in the run's ``save_dtype``, exactly as training saved it. Every rebuilt file is
checked against its recorded sha256; a mismatch (another CPU's arithmetic can round the merge
differently) is reported, never hidden: the run then goes on from a model that differs from the
one that was trained in rounding only, and ``restored.json`` in the run folder says so.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fgit.io import sha256_file, write_json
from fgit.pipeline.state import LOCK, MANIFEST, PipelineError

__all__ = ["RESTORED", "SNAPSHOT", "Rebuilt", "restore_snapshot", "save_snapshot"]

SNAPSHOT = "snapshot.json"
RESTORED = "restored.json"
_WEIGHTS = ("*.safetensors", "*.bin")
_LEFT_OUT = ("checkpoints", "reference_logps.safetensors", LOCK)  # resume state, or rebuilt


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Rebuilt:
    stage: str
    files: int
    matches: bool


def _train_stages(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: record
        for name, record in manifest.get("stages", {}).items()
        if name.startswith("train:") and record.get("status") == "done"
    }


def _start_model(manifest: dict[str, Any], record: dict[str, Any]) -> str:
    """What a training stage trained from: ``train:START`` (an earlier round) or the config's
    model (a name or path, as the config gave it)."""
    start = record.get("settings", {}).get("model")
    if isinstance(start, str) and start.startswith("train:"):
        return start
    return str(manifest["config"]["model"])


def save_snapshot(run: Path, dest: Path) -> dict[str, Any]:
    """Copy ``run`` to ``dest`` without merged weights that its adapter rebuilds, or any
    checkpoint. Returns (and writes as ``dest/snapshot.json``) what was left out."""
    manifest_path = run / MANIFEST
    if not manifest_path.is_file():
        raise PipelineError(f"{run}: not a run folder (no {MANIFEST})")
    manifest = _read(manifest_path)
    dropped: dict[str, Any] = {}
    # A training run cut short resumes from checkpoints, which are left out: it starts again.
    skip: set[Path] = {
        run / record["outputs"]["run"]
        for name, record in manifest.get("stages", {}).items()
        if name.startswith("train:") and record.get("status") != "done"
    }
    for name, record in _train_stages(manifest).items():
        folder = run / record["outputs"]["run"]
        model, adapter = folder / "model", folder / "adapter"
        if not (model.is_dir() and adapter.is_dir()):
            continue  # full fine-tuning: its weights are the only copy, so they stay
        weights = sorted(p for pattern in _WEIGHTS for p in model.glob(pattern))
        skip.update(weights)
        dropped[name] = {
            "model": model.relative_to(run).as_posix(),
            "adapter": adapter.relative_to(run).as_posix(),
            "start": _start_model(manifest, record),
            "files": {
                p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in weights
            },
        }
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n in _LEFT_OUT or Path(folder, n) in skip]

    shutil.copytree(run, dest, ignore=ignore)
    record = {"run": str(run), "dropped": dropped}
    write_json(dest / SNAPSHOT, record)
    return record


def _merge(start: Path | str, adapter: Path, out: Path, save_dtype: str, quiet: bool) -> list[Path]:
    """The weight files of ``adapter`` merged into ``start``, saved in ``save_dtype`` to ``out``
    as training saves its merged model (fgit.training.saving)."""
    import torch
    from peft import PeftModel

    from fgit.models import load_model
    from fgit.training.saving import DTYPES, cast_state

    base = load_model(start, dtype=torch.float32, device="cpu", quiet=quiet)
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    merged.save_pretrained(out, state_dict=cast_state(merged.state_dict(), DTYPES[save_dtype]))
    return sorted(p for pattern in _WEIGHTS for p in out.glob(pattern))


def restore_snapshot(
    snapshot: Path,
    run: Path,
    *,
    quiet: bool = False,
    say: Callable[[str], None] = print,
) -> list[Rebuilt]:
    """Copy ``snapshot`` to ``run`` (which must not hold a run) and rebuild every merged model it
    left out, earlier rounds first; each rebuilt file is checked against its recorded sha256."""
    record_path = snapshot / SNAPSHOT
    if not record_path.is_file():
        raise PipelineError(f"{snapshot}: not a snapshot (no {SNAPSHOT})")
    if (run / MANIFEST).exists():
        raise PipelineError(f"{run} already holds a run ({MANIFEST}); restore into a new folder")
    record = _read(record_path)
    shutil.copytree(snapshot, run, dirs_exist_ok=True)
    (run / SNAPSHOT).unlink()
    dropped: dict[str, Any] = record["dropped"]
    done: dict[str, Rebuilt] = {}

    def rebuild(stage: str) -> Rebuilt:
        if stage in done:
            return done[stage]
        entry = dropped[stage]
        start: Path | str = entry["start"]
        if entry["start"].startswith("train:"):  # an earlier round: its model/, rebuilt first
            if entry["start"] in dropped:
                rebuild(entry["start"])
            start = run / "train" / entry["start"].removeprefix("train:") / "model"
        training = _read((run / entry["model"]).parent / "training.json")
        with tempfile.TemporaryDirectory(dir=run) as scratch:
            files = _merge(
                start, run / entry["adapter"], Path(scratch), training["save_dtype"], quiet
            )
            names = {p.name for p in files}
            if names != set(entry["files"]):
                raise PipelineError(
                    f"{stage}: the merge wrote {sorted(names)}, the snapshot recorded "
                    f"{sorted(entry['files'])}"
                )
            matches = all(sha256_file(p) == entry["files"][p.name]["sha256"] for p in files)
            for p in files:
                shutil.move(str(p), run / entry["model"] / p.name)
        result = Rebuilt(stage, len(files), matches)
        done[stage] = result
        say(
            f"{stage}: rebuilt {entry['model']} from its adapter, "
            + ("identical to the trained one" if matches else "NOT identical to the trained one")
        )
        return result

    for stage in dropped:
        rebuild(stage)
    rebuilt = list(done.values())
    write_json(
        run / RESTORED,
        {
            "snapshot": str(snapshot),
            "rebuilt": {r.stage: {"files": r.files, "identical": r.matches} for r in rebuilt},
        },
    )
    return rebuilt
