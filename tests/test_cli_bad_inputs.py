"""Every command, fed bad input, ends with one short error and exit 2: never a traceback.

The matrix must cover every command the CLI has, so a new command cannot skip it. Each case
fails before any model loads (a missing or malformed file, a folder where a file belongs, an
unknown name or a value out of range), so the whole matrix runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fgit.cli import app

runner = CliRunner()

# Commands that take no input that could be bad.
NO_INPUT = {"version", "models list"}


def command_paths() -> set[str]:
    def walk(command, prefix: tuple[str, ...] = ()):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, (*prefix, name))
        else:
            yield " ".join(prefix)

    return set(walk(typer.main.get_command(app)))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    malformed = root / "malformed.jsonl"
    malformed.write_text(
        '{"id": "a", "instruction": "i", "response": "r", "incorrect": "x"}\n{oops\n'
    )
    broken_yaml = root / "broken.yaml"
    broken_yaml.write_text("training:\n  runs: [fgit\n")
    folder = root / "a-folder"
    folder.mkdir()
    return {
        "missing": root / "missing.jsonl",
        "malformed": malformed,
        "yaml": broken_yaml,
        "folder": folder,
        "out": root / "out.jsonl",
    }


def cases(f: dict[str, Path]) -> dict[str, list[list[str]]]:
    m, bad, folder, out = str(f["missing"]), str(f["malformed"]), str(f["folder"]), str(f["out"])
    return {
        "variants": [
            ["--problems", m, "--teacher", "mutation", "--out", out],
            ["--problems", bad, "--teacher", "mutation", "--out", out],
            ["--problems", bad, "--teacher", "mutation", "--out", folder],
        ],
        "export": [
            ["--pairs", m, "--out", out],
            ["--pairs", bad, "--out", out],
            ["--pairs", bad, "--out", str(f["folder"] / "x.csv")],
        ],
        "select": [["--variants", m, "--out", out], ["--variants", bad, "--out", folder]],
        "onpolicy": [
            ["--attempts", m, "--problems", m, "--out", out],
            ["--attempts", bad, "--problems", bad, "--out", out],
            ["--attempts", bad, "--problems", bad, "--out", folder],
            ["--attempts", m, "--problems", m, "--out", out, "--correct", "nope"],
        ],
        "train": [
            ["--config", str(f["yaml"])],
            ["--config", m],
            ["--pairs", bad, "--model", "x", "--output-dir", folder, "--loss", "nope"],
            ["--pairs", bad, "--model", "x", "--output-dir", folder, "--alpha", "0.5"],
        ],
        "evaluate": [
            ["--benchmark", "nope", "--samples", m],
            ["--benchmark", "humaneval+", "--samples", m],
            ["--benchmark", "humaneval+", "--samples", bad],
            ["--benchmark", "humaneval+"],
            ["--benchmark", "humaneval+", "--samples", bad, "--out", folder],
        ],
        "validate": [["--model", "x", "--problems", m, "--out", out]],
        "compare": [[m, m], [bad, bad]],
        "run": [[str(f["yaml"])], [m]],
        "quickstart": [["--output-dir", str(f["malformed"])], ["--set", "nonsense"]],
        "report": [[m], [folder]],
        "models prepare": [["no-such-model"]],
        "problems build": [
            ["--preset", "nope", "--out", out],
            ["--preset", "mbpp", "--out", folder],
        ],
        "problems holdout": [
            ["--problems", m, "--out", out],
            ["--problems", bad, "--out", out],
            ["--problems", bad, "--out", out, "--fraction", "1.5"],
        ],
        "segments show": [
            ["--pairs", m, "--model", "x", "--id", "a"],
            ["--pairs", bad, "--model", "x", "--id", "a"],
        ],
        "segments stats": [["--pairs", m, "--model", "x"], ["--pairs", bad, "--model", "x"]],
    }


def test_the_matrix_covers_every_command(files):
    assert command_paths() - NO_INPUT == set(cases(files))


def test_every_bad_input_is_one_line_with_exit_2(files, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    failures = []
    for command, invocations in cases(files).items():
        for args in invocations:
            result = runner.invoke(app, [*command.split(), *args], env={"COLUMNS": "200"})
            text = result.output
            ok = (
                result.exit_code == 2
                and "Traceback" not in text
                and (result.exception is None or isinstance(result.exception, SystemExit))
                and len(text.strip().splitlines()) <= 8
            )
            if not ok:
                failures.append(
                    f"fgit {command} {' '.join(args)} -> {result.exit_code}: {text[-400:]!r}"
                )
    assert not failures, "\n".join(failures)
