"""The harness's side of a run's pipes: bounded non-blocking reads until the program ends, and
the kill and reap of the whole process tree."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field

__all__ = ["Pipes", "kill_and_reap"]


@dataclass
class Pipes:
    """Non-blocking reads of stdout, stderr and the report pipe, each kept up to a cap."""

    caps: dict[str, int]
    sel: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    data: dict[str, bytearray] = field(default_factory=dict)

    def add(self, name: str, fd: int) -> None:
        os.set_blocking(fd, False)
        self.data[name] = bytearray()
        self.sel.register(fd, selectors.EVENT_READ, name)

    def open_count(self) -> int:
        return sum(1 for key in self.sel.get_map().values() if key.data in self.data)

    def read(self, key: selectors.SelectorKey) -> None:
        try:
            chunk = os.read(key.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.sel.unregister(key.fd)
            return
        buf = self.data[key.data]
        room = self.caps[key.data] - len(buf)
        if room > 0:
            buf += chunk[:room]  # the rest is read and dropped so the child never blocks

    def wait_exit(self, pid: int, deadline: float, status_line: bytes) -> bool:
        """Read until process pid exits or the report holds status_line (the PID namespace's
        init saw the program end); False when the deadline came first."""
        pidfd = _pidfd(pid)
        if pidfd is not None:
            self.sel.register(pidfd, selectors.EVENT_READ, "exit")
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                wait = remaining if pidfd is not None else min(remaining, 0.005)
                for key, _ in self.sel.select(wait):
                    if key.data == "exit":
                        return True
                    self.read(key)
                    if key.data == "report" and status_line in self.data["report"]:
                        return True
                if pidfd is None and _has_exited(pid):
                    return True
            return False
        finally:
            if pidfd is not None:
                self.sel.unregister(pidfd)
                os.close(pidfd)

    def drain(self, grace: float) -> None:
        """Read what is left until every pipe is closed (or grace runs out)."""
        deadline = time.monotonic() + grace
        while self.open_count() and (remaining := deadline - time.monotonic()) > 0:
            for key, _ in self.sel.select(remaining):
                self.read(key)

    def text(self, name: str) -> str:
        return self.data[name].decode("utf-8", errors="replace")


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # old kernel or Python: poll instead
        return None


def _has_exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def kill_and_reap(proc: subprocess.Popen[bytes]) -> tuple[int | None, float]:
    """Kill the child's whole process group (even after a pass), reap it: (status, cpu s)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # somebody else reaped it: no status, so no pass
        proc.returncode = -1
        return None, 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return status, usage.ru_utime + usage.ru_stime
