"""Uids for sandboxed runs: one per concurrent run, never one of an account, leased across
processes with abstract unix sockets (the kernel releases a lease when its holder closes the
socket or dies)."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import Iterator
from functools import lru_cache

__all__ = ["UID_BASE", "UID_SLOTS", "leased_uid"]

UID_BASE = 2_100_000_000  # far above any real account; one uid per concurrent run
UID_SLOTS = 1024


def _mapped(map_file: str, first: int, count: int) -> bool:
    """Whether ids first..first+count-1 exist in this user namespace."""
    try:
        with open(map_file) as f:
            rows = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    except (OSError, ValueError):
        return False
    return any(start <= first and first + count <= start + length for start, _, length in rows)


@lru_cache(maxsize=1)
def _uid_pool() -> tuple[int, ...]:
    """Uids usable for runs: only as root, never one of an account or group."""
    if os.geteuid() != 0:
        return ()
    if not (
        _mapped("/proc/self/uid_map", UID_BASE, UID_SLOTS)
        and _mapped("/proc/self/gid_map", UID_BASE, UID_SLOTS)
    ):
        return ()
    import grp
    import pwd

    taken = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    return tuple(uid for uid in range(UID_BASE, UID_BASE + UID_SLOTS) if uid not in taken)


_slot_counter = itertools.count()


@contextlib.contextmanager
def leased_uid() -> Iterator[int]:
    """A uid no other run (in any process) uses meanwhile; -1 when uids cannot be switched."""
    pool = _uid_pool()
    if not pool:
        yield -1
        return
    start = next(_slot_counter)
    for i in range(len(pool)):
        uid = pool[(start + i) % len(pool)]
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            lock.bind(b"\0fgit-sandbox-uid-%d" % uid)
        except OSError:
            lock.close()
            continue
        try:
            yield uid
        finally:
            lock.close()
        return
    raise OSError("no free sandbox uid")
