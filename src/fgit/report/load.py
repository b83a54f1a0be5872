"""Read a run folder (``fgit run``'s output) into :class:`ReportInputs`.

Only outputs of stages whose status is ``done`` are read: a running or failed stage may have
left half-written files. A done stage whose output is missing or invalid is an error that names
the file, since the report would otherwise silently hide a broken run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fgit.errors import FgitError
from fgit.evaluation.results import EvalRun, RunFileError, read_run
from fgit.records import RecordError, read_json_records

__all__ = [
    "MANIFEST",
    "ReportError",
    "ReportInputs",
    "load_report_inputs",
    "section_state",
]

MANIFEST = "manifest.json"
TRAINING_SUMMARY = "training.json"  # fgit.training.trainer.SUMMARY_FILE (no torch import here)

# Which manifest stages feed each report section (a stage name or a "prefix:" family).
SECTION_STAGES: dict[str, tuple[str, ...]] = {
    "pairs": ("segments",),
    "selection": ("variants", "selection", "segments"),
    "training": ("train:",),
    "evaluation": ("eval:",),
    "rounds": ("attempts:", "pairs:"),
}


class ReportError(FgitError, ValueError):
    """A run folder that cannot be reported on; the message names the file."""


@dataclass
class ReportInputs:
    """Everything the report shows, read from one run folder (no further I/O needed)."""

    run_dir: Path
    manifest: dict[str, Any]
    variants_summary: dict[str, Any] | None = None
    selection_summary: dict[str, Any] | None = None
    segment_stats: list[tuple[str, str]] | None = None
    examples: dict[str, Any] | None = None  # {"model": ..., "pairs": [pair_view dicts]}
    training: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # run -> log rows
    # run -> the trainer's training.json (steps, pairs seen, data counts), where there is one
    training_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # benchmark -> model -> run, models in manifest order (the first is the baseline).
    evaluations: dict[str, dict[str, EvalRun]] = field(default_factory=dict)
    # sampling model -> the yield of its attempts (the pairs:MODEL stage's summary)
    round_yields: dict[str, dict[str, Any]] = field(default_factory=dict)
    # sampling model -> its attempts at the training problems (the attempts:MODEL stage's run)
    round_attempts: dict[str, EvalRun] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.run_dir.name)

    @property
    def label(self) -> str | None:
        label = self.manifest.get("label")
        return str(label) if label else None

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("stages") or {}


def section_state(inputs: ReportInputs, section: str) -> str:
    """``"done"`` when any stage feeding ``section`` is done, else ``"not run"`` (no such stage
    in the manifest), ``"failed"`` or ``"not finished"``."""
    wanted = SECTION_STAGES[section]
    statuses = [
        stage.get("status")
        for name, stage in inputs.stages.items()
        if any(name == w or (w.endswith(":") and name.startswith(w)) for w in wanted)
    ]
    if not statuses:
        return "not run"
    if "done" in statuses:
        return "done"
    return "failed" if "failed" in statuses else "not finished"


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def _read_object(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object")
    return data


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    if not path.is_file():
        raise ReportError(f"{path} not found: is {run_dir} a run folder of `fgit run`?")
    manifest = _read_object(path)
    stages = manifest.get("stages", {})
    if not isinstance(stages, dict) or not all(isinstance(s, dict) for s in stages.values()):
        raise ReportError(f"{path}: 'stages' must map stage names to objects")
    return manifest


def _output(run_dir: Path, manifest: dict[str, Any], stage: str, key: str) -> Path | None:
    """The path of a done stage's output ``key``; None when the stage is not done."""
    entry = manifest.get("stages", {}).get(stage)
    if not entry or entry.get("status") != "done":
        return None
    outputs = entry.get("outputs") or {}
    if key not in outputs:
        raise ReportError(f"{run_dir / MANIFEST}: stage {stage!r} lists no {key!r}")
    return run_dir / str(outputs[key])


def _segment_stats(path: Path) -> list[tuple[str, str]]:
    rows = _read_object(path).get("rows")
    ok = isinstance(rows, list) and all(isinstance(r, list) and len(r) == 2 for r in rows)
    if not ok:
        raise ReportError(f"{path}: 'rows' must be a list of [measure, value]")
    return [(str(a), str(b)) for a, b in rows]


def _examples(path: Path) -> dict[str, Any]:
    data = _read_object(path)
    if not isinstance(data.get("pairs"), list):
        raise ReportError(f"{path}: 'pairs' must be a list")
    for k, view in enumerate(data["pairs"]):
        if problem := _view_problem(view):
            raise ReportError(f"{path}: pairs[{k}]: {problem}")
    return data


def _view_problem(view: Any) -> str | None:
    """What is wrong with a pair view's shape (see :func:`fgit.report.pair_view`), if anything."""
    if not isinstance(view, dict):
        return "expected an object"
    for name in ("correct", "incorrect"):
        side = view.get(name)
        if not isinstance(side, dict) or not isinstance(side.get("pieces"), list):
            return f"{name!r} must be an object with a 'pieces' list"
        for piece in side["pieces"]:
            ok = isinstance(piece, dict) and isinstance(piece.get("text"), str)
            if not ok or piece.get("mark") not in (0, 1, 2):
                return f"{name!r} pieces must be {{'text': str, 'mark': 0, 1 or 2}}"
    return None


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """One JSON object per line; a bad line is an error naming the file and line."""
    try:
        return [row for _, row in read_json_records(path)]
    except FileNotFoundError:
        raise ReportError(f"{path} not found") from None
    except RecordError as exc:  # not JSON, not UTF-8, or not an object
        raise ReportError(str(exc)) from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc})") from None


def _eval_key(name: str, entry: dict[str, Any]) -> tuple[str, str]:
    """(model, benchmark) of an ``eval:MODEL:BENCH`` stage, preferring its info."""
    info = entry.get("info") or {}
    parts = name.split(":", 2)
    model = info.get("model") or (parts[1] if len(parts) > 1 else name)
    benchmark = info.get("benchmark") or (parts[2] if len(parts) > 2 else "?")
    return str(model), str(benchmark)


def _read_run(path: Path) -> EvalRun:
    try:
        return read_run(path)
    except RunFileError as exc:
        raise ReportError(str(exc)) from None


def _evaluations(run_dir: Path, manifest: dict[str, Any]) -> dict[str, dict[str, EvalRun]]:
    out: dict[str, dict[str, EvalRun]] = {}
    for name, entry in manifest.get("stages", {}).items():
        if not name.startswith("eval:"):
            continue
        path = _output(run_dir, manifest, name, "results")
        if path is None:
            continue
        run = _read_run(path)
        model, benchmark = _eval_key(name, entry)
        out.setdefault(benchmark, {})[model] = run
    # The baseline first: "base" when evaluated, else manifest order.
    for benchmark, runs in out.items():
        if "base" in runs:
            out[benchmark] = {
                "base": runs["base"],
                **{k: v for k, v in runs.items() if k != "base"},
            }
    return out


def load_report_inputs(run_dir: Path) -> ReportInputs:
    """Read everything the report needs from ``run_dir``; :class:`ReportError` on problems."""
    run_dir = Path(run_dir)
    manifest = _read_manifest(run_dir)
    inputs = ReportInputs(run_dir=run_dir, manifest=manifest)
    if path := _output(run_dir, manifest, "variants", "summary"):
        inputs.variants_summary = _read_object(path)
    if path := _output(run_dir, manifest, "selection", "summary"):
        inputs.selection_summary = _read_object(path)
    if path := _output(run_dir, manifest, "segments", "stats"):
        inputs.segment_stats = _segment_stats(path)
    if path := _output(run_dir, manifest, "segments", "examples"):
        inputs.examples = _examples(path)
    for name in manifest.get("stages", {}):
        if name.startswith("train:") and (path := _output(run_dir, manifest, name, "log")):
            run = name.split(":", 1)[1]
            inputs.training[run] = read_train_log(path)
            # Optional: runs written before it existed, or by hand, fall back to the log.
            if (summary := path.with_name(TRAINING_SUMMARY)).is_file():
                inputs.training_summaries[run] = _read_object(summary)
    inputs.evaluations = _evaluations(run_dir, manifest)
    for name in manifest.get("stages", {}):
        if name.startswith("pairs:") and (path := _output(run_dir, manifest, name, "summary")):
            inputs.round_yields[name.split(":", 1)[1]] = _read_object(path)
        if name.startswith("attempts:") and (path := _output(run_dir, manifest, name, "results")):
            inputs.round_attempts[name.split(":", 1)[1]] = _read_run(path)
    return inputs
