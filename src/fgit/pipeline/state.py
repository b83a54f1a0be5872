"""A run folder's state: the manifest (what ran, with which key, what it wrote), stage keys and
output digests, and a lock so that two `fgit run` never write one folder at once.

A stage's key is the hash of its settings and of the digests of the stages it reads, so a
changed setting reruns that stage and, through the digests, only what depends on it. Every
manifest write replaces the file atomically: a kill at any moment leaves the old or the new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fgit.errors import FgitError
from fgit.io import sha256_file, write_json

__all__ = [
    "MANIFEST",
    "Manifest",
    "PipelineError",
    "digest_paths",
    "run_lock",
    "stage_key",
]

MANIFEST = "manifest.json"
LOCK = ".lock"


class PipelineError(FgitError, RuntimeError):
    """A stage that cannot run or failed; the message names the stage and what to do."""


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def stage_key(name: str, settings: dict[str, Any], inputs: dict[str, str]) -> str:
    """sha256 of what decides a stage's outputs: its settings and its inputs' digests."""
    blob = canonical_json({"stage": name, "settings": settings, "inputs": inputs})
    return hashlib.sha256(blob.encode()).hexdigest()


def digest_paths(root: Path, paths: list[str]) -> str:
    """sha256 over the contents of files and folders (relative to ``root``), names included."""
    digest = hashlib.sha256()
    for relative in paths:
        path = root / relative
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.is_file():
                raise PipelineError(f"expected output {file} is missing")
            digest.update(f"{file.relative_to(root).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


class Manifest:
    """``RUN/manifest.json``: the config, versions, and one record per stage."""

    def __init__(self, root: Path, data: dict[str, Any]) -> None:
        self.root = root
        self.data = data

    @classmethod
    def open(cls, root: Path, header: dict[str, Any]) -> Manifest:
        """The folder's manifest (created if new); ``header`` fields are refreshed."""
        path = root / MANIFEST
        data: dict[str, Any] = {"created": now(), "stages": {}}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise PipelineError(
                    f"{path}: not valid JSON ({error.msg} at line {error.lineno}); it is not a "
                    "manifest fgit wrote — move it away or pick another output_dir"
                ) from None
            if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
                raise PipelineError(f"{path}: not a manifest of `fgit run`")
        data.update(header)
        manifest = cls(root, data)
        manifest.save()
        return manifest

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.data["stages"]

    @property
    def retired(self) -> dict[str, dict[str, Any]]:
        """Records of stages the current config does not have; their files stay on disk."""
        return self.data.setdefault("retired", {})

    def record(self, name: str) -> dict[str, Any] | None:
        return self.stages.get(name)

    def retire(self, names: list[str]) -> list[str]:
        for name in names:
            self.retired[name] = self.stages.pop(name)
        return names

    def restore(self, names: list[str]) -> list[str]:
        for name in names:
            self.stages[name] = self.retired.pop(name)
        return names

    def order(self, names: list[str]) -> None:
        """Stage records in plan order (a restored stage is not listed last)."""
        rank = {name: i for i, name in enumerate(names)}
        self.data["stages"] = dict(
            sorted(self.stages.items(), key=lambda item: rank.get(item[0], len(rank)))
        )

    def set_stage(self, name: str, **fields: Any) -> None:
        self.stages[name] = {**self.stages.get(name, {}), **fields}
        self.save()

    def replace_stage(self, name: str, record: dict[str, Any]) -> None:
        self.stages[name] = record
        self.save()

    def save(self) -> None:
        self.data["updated"] = now()
        write_json(self.root / MANIFEST, self.data)


@contextlib.contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold ``RUN/.lock``; a second `fgit run` on the same folder stops with a clear error.

    An flock dies with its process, so a kill -9 never leaves a stale lock behind.
    """
    root.mkdir(parents=True, exist_ok=True)
    handle = open(root / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 (held for the block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise PipelineError(
                f"{root} is in use by another `fgit run` ({owner}); wait for it or use another "
                "output_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()
