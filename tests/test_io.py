"""fgit.io: the one atomic write, file hash and file lock every module uses."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import IO

import pytest

from fgit.io import atomic_write, file_lock, sha256_file, write_json


def test_atomic_write_bytes_text_and_writer(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.bin"
    assert atomic_write(path, b"\x00\x01") == path  # creates the folder
    assert path.read_bytes() == b"\x00\x01"
    atomic_write(path, "é\n")
    assert path.read_bytes() == "é\n".encode()
    atomic_write(path, lambda handle: handle.write(b"streamed"))
    assert path.read_bytes() == b"streamed"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.bin"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")

    def half_then_fail(handle: IO[bytes]) -> None:
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_mode_follows_the_umask(tmp_path: Path, mask: int) -> None:
    # mkstemp alone would give 0600 whatever the umask.
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_umask_is_read_without_changing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc tells the umask, reading it never sets it (a thread could see the change)."""
    from fgit import io

    if not Path("/proc/self/status").is_file():
        pytest.skip("no /proc on this platform")
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("os.umask was called"))
        assert io._umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_concurrent_writers_do_not_collide(tmp_path: Path) -> None:
    """Both writers are mid-write at once: with a shared temp name one would overwrite or
    rename away the other's file. Each must finish, and the result is one whole payload."""
    path = tmp_path / "out.txt"
    both_writing = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def write(payload: bytes) -> None:
        def writer(handle: IO[bytes]) -> None:
            handle.write(payload[:5000])
            both_writing.wait()
            handle.write(payload[5000:])

        try:
            atomic_write(path, writer)
        except BaseException as error:  # a thread's exception would be lost otherwise
            errors.append(error)

    payloads = [b"a" * 10_000, b"b" * 10_000]
    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert path.read_bytes() in payloads
    assert list(tmp_path.iterdir()) == [path]


def test_write_json_format(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_json(path, {"b": 1, "path": tmp_path})
    text = path.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "b": 1')
    assert json.loads(text) == {"b": 1, "path": str(tmp_path)}
    write_json(path, [1, 2], indent=None)
    assert path.read_text() == "[1, 2]\n"


def test_sha256_file(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # several read blocks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()


def test_file_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    from filelock import Timeout

    lock_path = tmp_path / ".lock"
    with file_lock(lock_path), pytest.raises(Timeout):
        file_lock(lock_path, timeout=0).acquire()
    with file_lock(lock_path, timeout=0):
        pass
