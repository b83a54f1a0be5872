"""What the sandbox can do on this machine, found by running a trivial program once."""

from __future__ import annotations

import sys
from dataclasses import asdict
from functools import lru_cache
from typing import Any

from fgit.execution.limits import FILE_SIZE_LIMIT, SandboxLimits
from fgit.execution.policy import DEFAULT
from fgit.execution.sandbox import run_program
from fgit.execution.uids import UID_BASE, UID_SLOTS

__all__ = ["describe_sandbox", "network_isolation_mode"]


@lru_cache(maxsize=8)
def _probe(python: str) -> str:
    result = run_program("pass", limits=SandboxLimits(timeout_s=30), python=python)
    return result.isolation if result.passed else ""


def describe_sandbox(python: str = sys.executable) -> dict[str, Any]:
    """The isolation this machine gives (found by running a trivial program once), the default
    policy's guard and the default limits."""
    mode = dict(item.split("=", 1) for item in _probe(python).split() if "=" in item)
    uid = mode.get("uid", "")
    return {
        "uid_switch": uid.isdigit(),
        "uids": f"{UID_BASE}-{UID_BASE + UID_SLOTS - 1}, one per concurrent run"
        if uid.isdigit()
        else None,
        "network": mode.get("net", "unknown"),
        "processes": mode.get("pid", "unknown"),
        "filesystem": mode.get("fs", "unknown"),
        "guarded": list(DEFAULT.guarded()),
        "limits": asdict(SandboxLimits()),
        "file_size_limit": FILE_SIZE_LIMIT,
        "python": python,
    }


def network_isolation_mode(python: str = sys.executable) -> str:
    """``"namespace"`` (no network at all), ``"socket-guard"`` (patched socket module) or
    ``"unknown"`` (the probe could not run)."""
    return str(describe_sandbox(python)["network"])
