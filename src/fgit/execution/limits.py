"""The limits of one sandboxed run."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_NPROC", "FILE_SIZE_LIMIT", "SandboxLimits"]

DEFAULT_NPROC = 64  # with a uid of its own, RLIMIT_NPROC counts this run's processes only
FILE_SIZE_LIMIT = 10 * 2**20  # RLIMIT_FSIZE: per file, not per run


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. ``output_bytes`` applies to stdout and stderr each."""

    timeout_s: float = 10.0
    cpu_s: float | None = None  # RLIMIT_CPU; default ceil(timeout_s) + 1
    memory_mb: int = 2048  # RLIMIT_AS
    output_bytes: int = 64_000
    # RLIMIT_NPROC, only where the run has a uid of its own (it counts all of a uid's
    # processes); default 64 there
    max_processes: int | None = None

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.cpu_s is not None and not self.cpu_s > 0:
            raise ValueError(f"cpu_s must be positive, got {self.cpu_s}")
        if self.memory_mb < 16:
            raise ValueError(f"memory_mb must be at least 16, got {self.memory_mb}")
        if self.output_bytes < 0:
            raise ValueError(f"output_bytes must be >= 0, got {self.output_bytes}")
        if self.max_processes is not None and self.max_processes < 1:
            raise ValueError(f"max_processes must be >= 1, got {self.max_processes}")

    @property
    def cpu_limit_s(self) -> int:
        """Soft RLIMIT_CPU in whole seconds (the hard limit is one more)."""
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return math.ceil(self.timeout_s) + 1
