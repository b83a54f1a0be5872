"""File helpers with one set of guarantees, used everywhere fgit writes or fingerprints a file.

:func:`atomic_write`: a crash (or a kill -9) leaves either the old file or the new one, never a
half-written one. The data goes to a fresh temp file beside the target (a unique name, so two
writers never share it), is flushed and fsynced, gets the usual permissions (``0666 & ~umask``:
``mkstemp`` alone makes 0600 files, and caches and reports are shared), and is renamed over the
target; the folder is then fsynced so that the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "file_lock", "sha256_file", "write_json"]

PathLike = str | os.PathLike[str]


def _umask() -> int:
    # Linux reports the umask without changing it. os.umask can only read it by setting it, and
    # another thread creating a file in between would get the temporary value.
    with contextlib.suppress(OSError, ValueError):
        status = Path("/proc/self/status").read_text(errors="replace")
        for line in status.splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not possible on every platform, hence best-effort.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: PathLike, data: bytes | str | Callable[[IO[bytes]], Any]) -> Path:
    """Replace ``path`` atomically with ``data``: bytes, text (UTF-8) or a function that writes
    to the open binary file (for streams too large to hold). Creates the parent folder."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(target.parent)
    return target


def write_json(path: PathLike, value: Any, *, indent: int | None = 2) -> Path:
    """``value`` as JSON (non-JSON values via ``str``, a final newline), written atomically."""
    return atomic_write(path, json.dumps(value, indent=indent, default=str) + "\n")


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_lock(path: PathLike, timeout: float = -1) -> Any:
    """An inter-process lock on ``path`` (``filelock.FileLock``; a context manager): for caches
    that several processes may fill at once. ``timeout`` < 0 waits for ever."""
    from filelock import FileLock

    return FileLock(os.fspath(path), timeout=timeout)
