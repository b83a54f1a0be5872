"""The failures a user can fix (bad input, a missing file or model, a failed stage).

The command line prints these as one line naming what and where; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


def validation_summary(error: ValidationError, limit: int = 3) -> str:
    """pydantic's errors as one line, ``key.path: message; ...``, the first ``limit`` of them:
    what a config or a file that fails validation is reported with."""
    parts = []
    for err in error.errors()[:limit]:
        where = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")  # pydantic's prefix for ValueError
        parts.append(f"{where}: {message}" if where else message)
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def user_errors() -> tuple[type[Exception], ...]:
    # Imported here: each module is heavy, and a command needs only the errors, not the modules.
    from fgit.evaluation.results import RunFileError
    from fgit.evaluation.samples import SamplesError
    from fgit.generation import GenerationError
    from fgit.models import ModelError
    from fgit.pipeline.state import PipelineError
    from fgit.records import RecordError
    from fgit.report.load import ReportError
    from fgit.segments import SegmentError
    from fgit.training.config import ConfigError

    # DataError (fgit.problems) is a FileNotFoundError.
    return (
        ModelError,
        RecordError,
        SegmentError,
        GenerationError,
        ConfigError,
        SamplesError,
        RunFileError,
        PipelineError,
        ReportError,
        FileNotFoundError,
    )
