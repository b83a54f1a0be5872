"""The embedded quickstart config: `fgit quickstart` runs it as `fgit run` would."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fgit.config_file import parse_settings
from fgit.pipeline.config import RunConfig, parse_run_config

__all__ = ["QUICKSTART_CONFIG", "quickstart_config"]

QUICKSTART_CONFIG = "quickstart.yaml"


def quickstart_text() -> str:
    return resources.files("fgit.pipeline").joinpath(QUICKSTART_CONFIG).read_text("utf-8")


def quickstart_config(output_dir: Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The quickstart's settings, writing to ``output_dir``, with ``--set`` overrides."""
    data, source = parse_settings(quickstart_text(), "the embedded quickstart config")
    data["output_dir"] = str(Path(output_dir).resolve())
    return parse_run_config(data, source, Path.cwd(), overrides)
