"""Verdicts: what the runner reported and how the program ended, decided into one outcome."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from enum import Enum

from fgit.execution.limits import SandboxLimits

__all__ = ["ExecutionResult", "Report", "Verdict", "decide"]


class Verdict(str, Enum):
    """Outcome of one sandboxed run; only ``PASSED`` counts as a pass."""

    PASSED = "passed"
    FAILED = "failed"  # an AssertionError
    ERROR = "error"  # any other exception, SyntaxError included
    TIMEOUT = "timeout"  # wall clock or CPU time limit
    MEMORY = "memory"  # MemoryError, or killed while out of memory
    EXITED = "exited"  # ended before the end of the program: exit, _exit, signal, ...
    SANDBOX_ERROR = "sandbox_error"  # our fault: the run could not be started


@dataclass(frozen=True)
class ExecutionResult:
    """Verdict of one run, with a one-line detail and the (truncated) output."""

    verdict: Verdict
    passed: bool
    detail: str
    duration_s: float
    stdout: str
    stderr: str
    isolation: str = ""  # what the runner could set up, e.g. "uid=... net=namespace pid=..."


@dataclass
class Report:
    """What the runner said on the report pipe (only lines tagged with the nonce count)."""

    mode: str = ""
    outcome: tuple[str, str] | None = None
    status: int | None = None  # wait status of the program, from the PID namespace's init
    cpu_s: float | None = None  # and its CPU time
    clean: bool = True  # nothing but the runner's own messages

    @classmethod
    def parse(cls, data: bytes, nonce: str) -> Report:
        report = cls()
        tag = nonce.encode() + b" "
        for line in data.split(b"\n"):
            if not line:
                continue
            if not line.startswith(tag):
                report.clean = False
                continue
            kind_b, _, detail_b = line[len(tag) :].partition(b"\t")
            kind, detail = kind_b.decode(errors="replace"), detail_b.decode(errors="replace")
            if kind == "MODE" and not report.mode:
                report.mode = detail
            elif kind == "STATUS" and report.status is None:
                report.status, report.cpu_s = _parse_status(detail)
            elif report.outcome is None and kind in _KINDS:
                report.outcome = (kind, detail)
            else:
                report.clean = False
        return report


def _parse_status(detail: str) -> tuple[int | None, float | None]:
    try:
        status, cpu = detail.split()
        return int(status), float(cpu)
    except ValueError:
        return None, None


_KINDS = {
    "PASS": Verdict.PASSED,
    "FAILED": Verdict.FAILED,
    "ERROR": Verdict.ERROR,
    "MEMORY": Verdict.MEMORY,
    "EXITED": Verdict.EXITED,
    "SETUP": Verdict.SANDBOX_ERROR,
}
_MEMORY_HINTS = (b"MemoryError", b"bad_alloc", b"Cannot allocate memory", b"out of memory")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _status_verdict(
    status: int, cpu_s: float, limits: SandboxLimits, stderr: bytes
) -> tuple[Verdict, str]:
    """Verdict of a program that ended without reporting an outcome."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        cpu_exceeded = signum == signal.SIGXCPU or (
            signum == signal.SIGKILL and cpu_s >= limits.cpu_limit_s - 0.05
        )
        if cpu_exceeded:
            return Verdict.TIMEOUT, f"CPU time limit exceeded ({limits.cpu_limit_s} s)"
        if any(hint in stderr for hint in _MEMORY_HINTS):
            return Verdict.MEMORY, f"killed by {_signal_name(signum)} while out of memory"
        return Verdict.EXITED, f"killed by {_signal_name(signum)}"
    code = os.waitstatus_to_exitcode(status)
    return Verdict.EXITED, f"exit code {code} before the end of the program"


def decide(
    report: Report,
    timed_out: bool,
    status: int | None,
    cpu_s: float,
    limits: SandboxLimits,
    stderr: bytes,
) -> tuple[Verdict, str]:
    """The verdict of one run from the runner's report, whether the deadline came first, the
    runner's wait status and CPU time, and its stderr."""
    # With a PID namespace the program's status comes from init (the runner is only a relay,
    # killed once init has reported); without one the runner is the program.
    program_status = report.status if report.status is not None else status
    if report.cpu_s is not None:
        cpu_s = report.cpu_s
    if report.outcome is not None and report.outcome[0] != "PASS":
        kind, detail = report.outcome
        return _KINDS[kind], detail
    if not report.mode:  # the runner never reached the program: not the program's fault
        how = "in time" if timed_out else _describe_status(status)
        last = stderr.decode(errors="replace").strip().splitlines()[-1:]
        why = f": {last[0]}" if last else ""
        return Verdict.SANDBOX_ERROR, f"the sandbox did not start the program ({how}){why}"
    if timed_out:
        return Verdict.TIMEOUT, f"timed out after {float(limits.timeout_s)} s"
    if program_status is None:
        return Verdict.EXITED, "ended without a status"
    if report.outcome is None:
        return _status_verdict(program_status, cpu_s, limits, stderr)
    if not report.clean:
        return Verdict.ERROR, "unexpected data on the sandbox report channel"
    if report.status is None and "pid=namespace" in report.mode:
        return Verdict.EXITED, "the program's status was not reported"
    if program_status != 0 or (report.status is None and status != 0):
        bad = program_status if program_status != 0 else status or 0
        verdict, detail = _status_verdict(bad, cpu_s, limits, stderr)
        return verdict, f"{detail} after completing"
    return Verdict.PASSED, "ok"


def _describe_status(status: int | None) -> str:
    if status is None:
        return "no status"
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
