"""``report_to``: the experiment trackers accelerate supports, checked by name when the settings
are read and for being installed when a run starts.

accelerate's own check (``accelerate.tracking.filter_trackers``) refuses an unknown name with a
Python traceback and drops a known but uninstalled tracker with a debug-level log line, so a run
asked to log to MLflow would train without logging. Both are one-line errors here.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["check_installed", "check_names", "known_trackers"]

# pip names where they differ from accelerate's tracker names
_PIP_NAMES = {"comet_ml": "comet-ml", "tensorboard": "tensorboard (or fgit[tensorboard])"}


def known_trackers() -> list[str]:
    """accelerate's tracker names (its ``LoggerType`` values and any registered with
    ``accelerate.tracking.register_tracker_class``), ``all`` first."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS
    from accelerate.utils import LoggerType

    names = [str(kind.value) for kind in LoggerType]
    return names + sorted(set(LOGGER_TYPE_TO_CLASS) - set(names))


def check_names(names: Iterable[str]) -> list[str]:
    """``names`` without repeats if accelerate knows each; ValueError naming the valid ones."""
    names = list(dict.fromkeys(names))
    if not names:
        return names  # the default: nothing to check, and accelerate is not imported
    known = known_trackers()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown tracker {', '.join(map(repr, unknown))}; accelerate "
            f"supports {', '.join(known)}"
        )
    return names


def check_installed(names: Iterable[str]) -> None:
    """ValueError naming the first tracker of ``names`` whose package is missing (``all``
    means the installed ones, so it never fails)."""
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import LoggerType

    # accelerate's own trackers need their package; registered ones are code already loaded
    builtin = {str(kind.value) for kind in LoggerType} - {"all"}
    available = {str(kind.value) for kind in get_available_trackers()}
    for name in names:
        if name in builtin and name not in available:
            raise ValueError(
                f"report_to: {name} is not installed (pip install {_PIP_NAMES.get(name, name)})"
            )
