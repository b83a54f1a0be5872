"""fgit.versions: the one place result files get their library versions from."""

from __future__ import annotations

import platform

from typer.testing import CliRunner

from fgit import __version__
from fgit.cli import app
from fgit.versions import versions


def test_fgit_first_then_installed_libraries() -> None:
    found = versions()
    assert next(iter(found.items())) == ("fgit", __version__)  # even from an uninstalled tree
    # What the trainer's training.json recorded before (peft only when installed).
    assert {"torch", "transformers", "accelerate", "tokenizers"} <= set(found)
    assert all(isinstance(v, str) and v for v in found.values())


def test_missing_libraries_are_left_out() -> None:
    assert versions(["torch", "no-such-package-fgit"]).keys() == {"fgit", "torch"}


def test_system_adds_python_and_platform_first() -> None:
    found = versions((), system=True)
    assert list(found) == ["python", "platform", "fgit"]
    assert found["python"] == platform.python_version()


def test_version_command_prints_them() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    assert f"fgit {__version__} · torch " in result.output
    assert "transformers" in result.output and "tokenizers" in result.output
