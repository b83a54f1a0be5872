"""`fgit run`: the stages in order, each skipped when its key says its outputs are current.

Per stage: compute its key (settings + the digests of the stages it reads). Done with the same
key and outputs present: cached. Same key but running or failed (a crash, a kill -9): run
again in place, and the stage resumes from what it had written. Another key: its old files are
removed first, so nothing of another setting is mixed in. The manifest marks a stage done only
after its outputs are complete and hashed; a report never shows what is not done.
"""

from __future__ import annotations

import fnmatch
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from fgit.errors import user_errors
from fgit.pipeline.config import RunConfig
from fgit.pipeline.stages import Context, Stage, build_plan
from fgit.pipeline.state import (
    Manifest,
    PipelineError,
    canonical_json,
    digest_paths,
    now,
    run_lock,
    stage_key,
)
from fgit.versions import versions

__all__ = ["RunResult", "run_pipeline"]

console = Console(stderr=True)


@dataclass
class RunResult:
    root: Path
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    seconds: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        index = self.root / "report" / "index.html"
        return index if index.is_file() else None


def _outputs_present(root: Path, stage: Stage) -> bool:
    return all((root / path).exists() for path in stage.outputs.values())


def _clear(root: Path, stage: Stage) -> None:
    for relative in stage.owned:
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _header(config: RunConfig) -> dict[str, Any]:
    import hashlib

    from fgit import __version__

    dumped = config.model_dump(mode="json")
    return {
        "name": config.name,
        "label": config.label,
        "fgit_version": __version__,
        "config": dumped,
        "config_sha256": hashlib.sha256(canonical_json(dumped).encode()).hexdigest(),
        "versions": versions(system=True),
    }


def _preflight(config: RunConfig, quiet: bool) -> None:
    """Fail in seconds, before hours of work, on what can be checked up front."""
    from fgit.models import load_tokenizer

    if config.problems.path is not None and not config.problems.path.is_file():
        raise PipelineError(f"problems.path {config.problems.path}: no such file")
    if config.variants.template is not None and not config.variants.template.is_file():
        raise PipelineError(f"variants.template {config.variants.template}: no such file")
    if config.data_dir is not None and not config.data_dir.is_dir():
        raise PipelineError(f"data_dir {config.data_dir}: no such folder")
    accelerate_config = config.training.accelerate_config
    if accelerate_config is not None and not accelerate_config.is_file():
        raise PipelineError(f"training.accelerate_config {accelerate_config}: no such file")
    load_tokenizer(config.model, quiet=quiet)  # an unknown model fails here, not after variants


def _retire_stale(manifest: Manifest, plan: list[Stage]) -> None:
    """Records of stages the config no longer has (a removed run) move to the manifest's
    ``retired`` section, so the report shows this config's run only; a stage that comes back
    (the run is added again) gets its record back, and with the same key and its files still
    there it is cached instead of trained again."""
    names = [stage.name for stage in plan]
    moved = manifest.retire([name for name in manifest.stages if name not in names])
    returned = manifest.restore([name for name in names if name in manifest.retired])
    if moved or returned:
        manifest.order(names)
        manifest.save()


def _selected(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _until(plan: list[Stage], until: str | None) -> list[Stage]:
    """The plan up to and including the last stage matching ``until`` (all of it for None)."""
    if until is None:
        return plan
    matches = [i for i, stage in enumerate(plan) if _selected(stage.name, [until])]
    if not matches:
        names = ", ".join(stage.name for stage in plan)
        raise PipelineError(f"--until {until}: no such stage (stages: {names})")
    return plan[: matches[-1] + 1]


def run_pipeline(
    config: RunConfig,
    *,
    force: list[str] | None = None,
    quiet: bool = False,
    until: str | None = None,
) -> RunResult:
    """Run every stage of ``config`` that is not current; returns what ran and what was cached.

    ``force``: stage names or patterns (``eval:*``) to run again even when current.
    ``until``: stop after the last stage matching this name or pattern (``selection``,
    ``train:*``); later stages are neither run nor forgotten.
    """
    root = config.output_dir
    full_plan = build_plan(config)
    plan = _until(full_plan, until)
    unknown = [p for p in force or [] if not any(_selected(s.name, [p]) for s in full_plan)]
    if unknown:
        names = ", ".join(stage.name for stage in full_plan)
        raise PipelineError(f"--force {unknown[0]}: no such stage (stages: {names})")
    started = time.perf_counter()
    result = RunResult(root)
    with run_lock(root):
        manifest = Manifest.open(root, _header(config))
        _retire_stale(manifest, full_plan)
        _preflight(config, quiet)
        context = Context(config, root, quiet)
        for number, stage in enumerate(plan, start=1):
            inputs = {name: manifest.stages[name]["digest"] for name in stage.inputs}
            key = stage_key(stage.name, stage.settings, inputs)
            record = manifest.record(stage.name) or {}
            current = (
                record.get("status") == "done"
                and record.get("key") == key
                and _outputs_present(root, stage)
                and not stage.always
                and not _selected(stage.name, force or [])
            )
            where = f"[{number}/{len(plan)}] {stage.name}"
            if current:
                result.cached.append(stage.name)
                if not quiet:
                    console.print(f"[dim]{where} · {stage.title} · cached[/]", highlight=False)
                continue
            resuming = record.get("key") == key and record.get("status") in ("running", "failed")
            if record.get("key") != key or _selected(stage.name, force or []):
                _clear(root, stage)
                resuming = False
            if not quiet:
                note = " · resuming" if resuming else ""
                console.rule(f"[bold]{where} · {stage.title}{note}", align="left")
            manifest.replace_stage(
                stage.name,
                {
                    "key": key,
                    "status": "running",
                    "started": now(),
                    "inputs": inputs,
                    "settings": stage.settings,
                    "outputs": stage.outputs,
                    "info": stage.info,
                    "attempts": record.get("attempts", 0) + 1 if resuming else 1,
                },
            )
            began = time.perf_counter()
            try:
                info = stage.run(context)
                digest = digest_paths(root, [stage.outputs[name] for name in stage.product])
            except BaseException as error:
                manifest.set_stage(
                    stage.name,
                    status="failed",
                    error=f"{type(error).__name__}: {error}"[:1000],
                    seconds=round(time.perf_counter() - began, 2),
                )
                if isinstance(error, user_errors()):  # PipelineError included
                    raise PipelineError(f"stage {stage.name}: {error}") from error
                raise
            manifest.set_stage(
                stage.name,
                status="done",
                finished=now(),
                seconds=round(time.perf_counter() - began, 2),
                digest=digest,
                info={**stage.info, **info},
            )
            result.ran.append(stage.name)
        result.seconds = time.perf_counter() - started
        manifest.data["last_run"] = {
            "finished": now(),
            "seconds": round(result.seconds, 2),
            "ran": result.ran,
            "cached": result.cached,
        }
        manifest.save()
        result.manifest = manifest.data
    return result
