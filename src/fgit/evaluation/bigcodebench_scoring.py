"""BigCodeBench's scoring: one sandboxed program per solution, upstream's semantics.

The program (:func:`bigcodebench_program`) is one call into the trusted harness
:mod:`fgit.execution.bigcodebench_check`, which the sandbox runs by path first
(``preload=[BIGCODEBENCH_CHECK]``); it replays upstream's ``unsafe_execute`` on
``code + "\\n" + test_code`` and returns only when every test ran and passed. The program runs
under the :data:`~fgit.execution.BIGCODEBENCH` policy: it may start processes and change files,
has a private ``/tmp`` and its own loopback, and no network.

Limits (upstream: bigcode-project/bigcodebench 0.1.9, ``bigcodebench/evaluate.py`` and
``bigcodebench/eval/__init__.py`` ``untrusted_check``):

- time: the tests run under upstream's ``TIMEOUT_LIMIT`` (240 s) + 1 s, and the whole program
  (imports included) gets 1 s more, upstream's ``join(timeout + 1)``; upstream's per-task
  ``max(240, ground-truth time)`` is 240 s for every task whose reference passes in under 240 s;
- memory: upstream limits the address space to 30 GB (``--max-as-limit 30*1024``), more than
  this 24 GiB machine has; fgit's default is 8 GiB per program (:class:`BigCodeBenchSettings`).
  A run also holds up to 3 x 512 MB of private tmpfs (``/tmp``, ``/var/tmp``, ``/dev/shm``:
  memory the address-space limit does not count), so a run may take
  ``memory_mb + 1536`` MiB, and the default number of parallel runs
  (:func:`bigcodebench_workers`, when ``ScoreSettings.workers`` is None) is as many as the
  machine's physical memory holds at that size, at most one per core: 2 on 24 GiB. Set
  ``memory_mb=30 * 1024`` for upstream's value on a machine that has it;
- stack: 10 MB, upstream's ``--max-stack-limit``;
- processes: 256 per run (threads count: TensorFlow starts dozens), where upstream has none;
  applied only where the run has a uid of its own (as root): ``RLIMIT_NPROC`` counts all of a
  uid's processes, so under ours it would be no per-run limit (the sandbox then sets none).

Calibration (upstream's default, ``calibrated=True``): the task's ``code_prompt`` and ``pass``
go before the solution, so a solution that left out the imports still has them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fgit.evaluation.tasks import EvalTask
from fgit.execution import BIGCODEBENCH, ExecutionResult, SandboxLimits, run_program
from fgit.execution.programs import BIGCODEBENCH_CHECK

__all__ = [
    "UPSTREAM_TIMEOUT_S",
    "BigCodeBenchSettings",
    "bigcodebench_limits",
    "bigcodebench_program",
    "bigcodebench_workers",
    "calibrate",
    "run_bigcodebench",
]

UPSTREAM_TIMEOUT_S = 240.0  # bigcodebench.eval.utils.TIMEOUT_LIMIT
PRIVATE_TMP_MB = 3 * 512  # the runner's private /tmp, /var/tmp, /dev/shm (TMP_OPTIONS)


@dataclass(frozen=True)
class BigCodeBenchSettings:
    """How BigCodeBench programs run; recorded with the results."""

    timeout_s: float = UPSTREAM_TIMEOUT_S  # the tests' limit is this + 1, the program's + 2
    memory_mb: int = 8192  # RLIMIT_AS; upstream: 30 * 1024 (see the module docstring)
    stack_mb: int = 10  # RLIMIT_STACK, upstream's --max-stack-limit
    max_processes: int = 256  # RLIMIT_NPROC of the run's uid (threads included)
    calibrated: bool = True  # upstream's default: code_prompt + "\n    pass\n" + solution


def calibrate(solution: str, task: EvalTask) -> str:
    """Upstream's calibrated solution: the task's imports and signature (with ``pass``) first."""
    if task.code_prompt is None:
        raise ValueError(f"{task.task_id} has no code_prompt to calibrate with")
    return task.code_prompt + "\n    pass\n" + solution


def bigcodebench_program(solution: str, task: EvalTask, settings: BigCodeBenchSettings) -> str:
    """The program for one solution. Run it with ``preload=[BIGCODEBENCH_CHECK]``, under the
    ``BIGCODEBENCH`` policy and :func:`bigcodebench_limits`."""
    if task.test is None:
        raise ValueError(f"{task.task_id} has no unittest code")
    code = calibrate(solution, task) if settings.calibrated else solution
    time_limit = settings.timeout_s + 1.0  # upstream: max(TIMEOUT_LIMIT, ...) + 1
    args = f"{code!r}, {task.test!r}, {time_limit!r}, {settings.stack_mb!r}"
    return f"__fgit_bigcodebench__({args})\n"


def bigcodebench_workers(
    settings: BigCodeBenchSettings, memory_bytes: int | None = None, cores: int | None = None
) -> int:
    """How many programs may run at once: as many as the machine's physical memory holds at
    ``memory_mb`` of address space plus the private tmpfs each, at most one per core, at least
    one. ``memory_bytes``/``cores``: the machine's, by default."""
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    per_run = (settings.memory_mb + PRIVATE_TMP_MB) * 2**20
    return max(1, min(cores or os.cpu_count() or 1, memory_bytes // per_run))


def bigcodebench_limits(settings: BigCodeBenchSettings) -> SandboxLimits:
    """The sandbox's limits: upstream's process deadline (``join(timeout + 1)``), memory and
    processes of the settings."""
    return SandboxLimits(
        timeout_s=settings.timeout_s + 2.0,
        memory_mb=settings.memory_mb,
        max_processes=settings.max_processes,
    )


def run_bigcodebench(
    solution: str, task: EvalTask, settings: BigCodeBenchSettings
) -> ExecutionResult:
    """One solution's whole result (stderr, duration, isolation), run exactly as scoring runs
    it: for the ground truth, which wants more than a verdict."""
    return run_program(
        bigcodebench_program(solution, task, settings),
        limits=bigcodebench_limits(settings),
        policy=BIGCODEBENCH,
        preload=[BIGCODEBENCH_CHECK],
    )
