"""`fgit run`: problems -> variants -> selection -> segments -> training -> evaluation -> report,
each stage cached by the hash of its inputs and settings and resumable after a crash."""

from fgit.pipeline.config import RunConfig, load_run_config, parse_run_config
from fgit.pipeline.runner import RunResult, run_pipeline
from fgit.pipeline.state import PipelineError

__all__ = [
    "PipelineError",
    "RunConfig",
    "RunResult",
    "load_run_config",
    "parse_run_config",
    "run_pipeline",
]
