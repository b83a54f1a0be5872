"""The former home of the sandbox, kept so that existing imports keep working: everything now
lives in :mod:`fgit.execution` (the threat model in :mod:`fgit.execution.sandbox`)."""

from fgit.execution import (
    ExecutionResult,
    SandboxLimits,
    Verdict,
    check_program,
    describe_sandbox,
    network_isolation_mode,
    run_many,
    run_program,
)

__all__ = [
    "ExecutionResult",
    "SandboxLimits",
    "Verdict",
    "check_program",
    "describe_sandbox",
    "network_isolation_mode",
    "run_many",
    "run_program",
]
