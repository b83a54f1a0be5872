"""The failures a user can fix (bad input, a missing file or model, a failed stage).

The command line prints these as one line naming what and where; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


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
