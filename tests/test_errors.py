"""fgit.errors: the user's errors and how they are put in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from typer.testing import CliRunner, Result

from fgit.errors import FgitError, user_errors, validation_summary
from fgit.training import ConfigError, load_train_config


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0

    @model_validator(mode="after")
    def _check(self) -> _Settings:
        if self.a < 0:
            raise ValueError("a must not be negative")
        return self


def _error(**data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Settings.model_validate(data)
    return info.value


def test_validation_summary_is_one_line_of_key_and_message() -> None:
    assert validation_summary(_error(a=-1)) == "a must not be negative"  # no "Value error, "
    assert validation_summary(_error(a="x")) == "a: Input should be a valid integer, " + (
        "unable to parse string as an integer"
    )
    many = validation_summary(_error(a="x", b="x", c="x", d="x", e=1))
    assert many.count(": Input should be") == 3 and many.endswith(" (and 2 more)")
    assert "\n" not in many


def test_config_errors_use_it() -> None:
    base = {"pairs": "p.jsonl", "model": "m", "output_dir": "out"}
    with pytest.raises(ConfigError) as info:
        load_train_config(None, base | {"quantization": "4bit"})
    assert str(info.value).startswith("command line: quantization (QLoRA) needs lora settings")


def _public_exceptions() -> dict[str, type[BaseException]]:
    """Every public exception class that fgit's modules define (warnings aside)."""
    import importlib
    import pkgutil

    import fgit

    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(fgit.__path__, "fgit."):
        if module_info.name == "fgit.__main__":
            continue  # runs the command line
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and not issubclass(value, Warning)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_user_error_is_an_fgit_error_and_keeps_its_old_base() -> None:
    from fgit.backends import GenerationError
    from fgit.data import DataError
    from fgit.evaluation.bigcodebench_groundtruth import GroundTruthError
    from fgit.evaluation.problems import ProblemsSpecError
    from fgit.evaluation.prompts import PromptError
    from fgit.evaluation.results import RunFileError
    from fgit.evaluation.samples import SamplesError
    from fgit.evaluation.stage import TaskSubsetError
    from fgit.formats import FormatError
    from fgit.models import ModelError
    from fgit.onpolicy.attempts import AttemptsError
    from fgit.pipeline.state import PipelineError
    from fgit.records import RecordError
    from fgit.report.load import ReportError
    from fgit.segments import SegmentError
    from fgit.training.hub import HubError
    from fgit.training.rows import RowError
    from fgit.warn import StrictError

    old_bases = {
        ModelError: RuntimeError,
        GenerationError: RuntimeError,
        PipelineError: RuntimeError,
        RecordError: ValueError,
        SegmentError: ValueError,
        ConfigError: ValueError,
        SamplesError: ValueError,
        TaskSubsetError: ValueError,
        RunFileError: ValueError,
        ReportError: ValueError,
        DataError: FileNotFoundError,  # code that catches a missing file still does
        PromptError: ValueError,
        ProblemsSpecError: ValueError,
        GroundTruthError: Exception,  # new with BigCodeBench: no older base to keep
        StrictError: Exception,  # a warning under --strict: new, no older base
        RowError: ValueError,
        AttemptsError: ValueError,  # new with on-policy pairs
        FormatError: ValueError,
        HubError: RuntimeError,
    }
    for cls, base in old_bases.items():
        assert issubclass(cls, FgitError) and issubclass(cls, base), cls
    assert set(_public_exceptions().values()) == {FgitError, *old_bases}  # none forgotten
    assert user_errors() == (FgitError, FileNotFoundError)


def test_errors_module_imports_nothing_heavy() -> None:
    heavy = ("pydantic", "rich", "torch", "yaml")
    code = f"import sys, fgit.errors; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _run_command_raising(error: Exception) -> Result:
    """A command under the CLI's ``one_line_errors`` that raises ``error``, invoked."""
    from fgit.cli import one_line_errors

    @one_line_errors
    def command() -> None:
        raise error

    app = typer.Typer()
    app.command()(command)
    return CliRunner().invoke(app, [])


def test_cli_reports_any_fgit_error_in_one_line_with_exit_2() -> None:
    class NewError(FgitError):
        """A user error the command line has never heard of."""

    result = _run_command_raising(NewError("thing.yaml:3: what went wrong"))
    assert result.exit_code == 2
    assert result.output.strip() == "error: thing.yaml:3: what went wrong"


def test_cli_keeps_the_traceback_of_a_bug() -> None:
    result = _run_command_raising(KeyError("a bug"))
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)
