"""Warnings about inputs that run but are likely wrong, and ``--strict``, which makes them
errors.

An empty pairs file, pairs with no error-sensitive token, a problems build that keeps nothing,
a samples file that covers part of a benchmark: each is reported by :func:`warn`, one yellow
``warning:`` line on stderr. In strict mode (``fgit --strict``, or ``FGIT_STRICT=1`` in the
environment, which ``accelerate launch``'s processes inherit) :func:`warn` raises
:class:`StrictError` instead: an :class:`~fgit.errors.FgitError`, so the command line prints it
as one line and exits 2.
"""

from __future__ import annotations

import os

from fgit.errors import FgitError

__all__ = ["STRICT_ENV", "StrictError", "is_strict", "set_strict", "strict_env", "warn"]

STRICT_ENV = "FGIT_STRICT"
_strict: bool | None = None  # None: the environment decides


class StrictError(FgitError):
    """A warning made an error by strict mode."""


def is_strict() -> bool:
    """Whether warnings are errors: :func:`set_strict`'s value, else ``FGIT_STRICT``."""
    if _strict is not None:
        return _strict
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_strict(value: bool | None) -> bool | None:
    """Turn strict mode on or off (None: as the environment says); returns the old setting,
    to restore it."""
    global _strict
    old, _strict = _strict, value
    return old


def strict_env() -> dict[str, str]:
    """The environment a child fgit process needs to be as strict as this one."""
    return {STRICT_ENV: "1"} if is_strict() else {}


def warn(message: str, *, show: bool = True) -> None:
    """Report ``message`` as a warning line on stderr, or raise :class:`StrictError` in strict
    mode. ``show=False`` prints nothing but still raises when strict (a data-parallel worker
    that is not the main process: every process stops, one speaks)."""
    if is_strict():
        raise StrictError(f"{message} (an error under --strict)")
    if show:
        from rich.console import Console
        from rich.text import Text

        # Text, not markup: a message may hold brackets ("[mbpp+]", task ids).
        line = Text.assemble(("warning:", "bold yellow"), " ", message)
        Console(stderr=True).print(line, highlight=False, soft_wrap=True)
