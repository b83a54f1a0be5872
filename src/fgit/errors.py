"""The failures a user can fix (bad input, a missing file or model, a failed stage).

Each is a :class:`FgitError` (and a ValueError, RuntimeError or FileNotFoundError as before).
The command line prints these as one line naming what and where; anything else is a bug and
keeps its traceback. Nothing heavy is imported here: every module imports this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["FgitError", "user_errors", "validation_summary"]


class FgitError(Exception):
    """A failure the user can fix; its message is one line naming what and where."""


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
    """What the command line reports in one line: fgit's own errors, and a plain missing file
    (an input path the user gave)."""
    return (FgitError, FileNotFoundError)
