"""Run untrusted, model-generated Python (a solution plus its tests) and decide pass/fail.

This package is the only place where fgit executes generated code: to check that "incorrect"
training variants really fail their tests, and for pass@1 on HumanEval / MBPP style problems.

How one run works
-----------------
* A fresh temporary directory (removed afterwards) becomes the working directory, ``HOME`` and
  ``TMPDIR``; the program text is written there as ``program.py``.
* The child is ``python -s -B runner.py`` (:mod:`fgit.execution.runner`, executed by path from
  this package, by any interpreter): no user site, no bytecode files, a *scrubbed*
  environment (``PATH``, locale, ``PYTHONHASHSEED=0``, one thread per math library, nothing of
  ours: no tokens, no proxies), ``stdin`` from ``/dev/null``, its own session and process group,
  no inherited descriptors except two pipes. ``-I`` is not used because it would also ignore the
  environment we *do* want (``PYTHONHASHSEED=0`` makes set/dict order, and so verdicts,
  reproducible); everything ``-I`` protects against comes from the environment being ours.
* The runner (trusted code that runs before the program) reads a fresh random nonce
  from the first pipe, then isolates itself, as far as the machine allows and the run's policy
  (:mod:`fgit.execution.policy`) asks; under the default policy:

  - **network**: a new, empty network namespace (no interface is up, not even loopback);
    otherwise ``socket`` is patched to refuse internet sockets (weaker: ``_socket`` remains).
    A policy with ``network`` does neither.
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
    ours anyway). ``ALLOW_SUBPROCESS`` lifts the guard on processes and files: its runs need,
    and are refused without, PID and network namespaces, which contain the unguarded processes
    a program starts.

* The program runs as the module ``program`` (so ``if __name__ == "__main__":`` blocks do not run,
  as in the HumanEval/MBPP harnesses) under ``exec`` inside ``try/except BaseException``, after any
  trusted files the caller preloads into its namespace (evaluation's evalplus check, read by the
  runner before it drops privileges). Only if ``exec`` returns normally (and only in the process
  that started it, not a forked copy) does the runner write ``PASS`` tagged with the nonce to the
  second pipe (never stdout) and exit 0. The harness says PASSED only if that pipe holds exactly the
  runner's messages with the right nonce *and* the program process exited with status 0 (reported by
  the PID namespace's init when there is one). Anything else is not a pass. The harness kills and
  reaps the whole tree at the end of every run, passed or not, and removes the directory.

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
``describe_sandbox()`` says which case applies. Under ``ALLOW_SUBPROCESS`` the guard is gone,
so what a program may change outside its folder is exactly what its uid may: world-writable
places as root, everything we own without root. ``BIGCODEBENCH`` gives the run private
``/tmp``, ``/var/tmp`` and ``/dev/shm`` (so the world-writable places it can reach are its own,
and die with it), the rest of the filesystem read-only (but ``/proc``) with no capability left to
remount it (so even under our uid it cannot change our files, fgit's trusted runner and harness
included), and its own loopback. Run untrusted code from the internet in a
container or VM in addition.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fgit.execution.channels import Pipes, kill_and_reap
from fgit.execution.limits import DEFAULT_NPROC, FILE_SIZE_LIMIT, SandboxLimits
from fgit.execution.policy import DEFAULT, Policy
from fgit.execution.uids import leased_uid
from fgit.execution.verdicts import ExecutionResult, Report, Verdict, decide

__all__ = ["RUNNER", "run_program"]

RUNNER = str(Path(__file__).with_name("runner.py"))  # executed by path, never imported
PROGRAM_NAME = "program.py"
REPORT_LIMIT = 64 * 1024
DRAIN_GRACE_S = 1.0  # after the kill, wait this long at most for the pipes to close
_USE_NAMESPACES = True  # tests turn this off to exercise the fallbacks


def run_program(
    program: str,
    *,
    limits: SandboxLimits = SandboxLimits(),
    policy: Policy = DEFAULT,
    python: str = sys.executable,
    preload: Sequence[str] = (),
) -> ExecutionResult:
    """Run program text in the sandbox and return its verdict; never raises for anything the
    program does (a failure to start is ``SANDBOX_ERROR``). ``policy``: what the program may
    do (:mod:`fgit.execution.policy`).

    ``preload``: paths of trusted Python files executed, in order, in the program's namespace
    just before it, as part of it (an exception there is the program's). The runner reads them
    before it gives up its privileges, so the program's uid need not be able to.
    """
    start = time.monotonic()
    trusted = [os.path.abspath(name) for name in preload]  # the run has a cwd of its own
    try:
        with leased_uid() as uid:
            workdir, path = _make_workdir(program, uid)
            try:
                return _run_in(workdir, path, trusted, uid, limits, policy, python, start)
            finally:
                _remove_workdir(workdir)
    except OSError as exc:
        return _sandbox_error(start, exc)


def _run_in(
    workdir: str,
    path: str,
    preload: list[str],
    uid: int,
    limits: SandboxLimits,
    policy: Policy,
    python: str,
    start: float,
) -> ExecutionResult:
    nonce = secrets.token_hex(16)
    proc, report_fd = _spawn(python, workdir, path, preload, limits, policy, uid, nonce)
    caps = {"stdout": limits.output_bytes, "stderr": limits.output_bytes, "report": REPORT_LIMIT}
    pipes = Pipes(caps)
    status: int | None = None
    exited, cpu_s = False, 0.0
    try:
        assert proc.stdout is not None and proc.stderr is not None
        pipes.add("stdout", proc.stdout.fileno())
        pipes.add("stderr", proc.stderr.fileno())
        pipes.add("report", report_fd)
        status_line = nonce.encode() + b" STATUS\t"
        exited = pipes.wait_exit(proc.pid, start + limits.timeout_s, status_line)
        status, cpu_s = kill_and_reap(proc)
        pipes.drain(DRAIN_GRACE_S)
    finally:
        if status is None and proc.returncode is None:  # interrupted: never leave it running
            kill_and_reap(proc)
        pipes.sel.close()
        os.close(report_fd)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    report = Report.parse(bytes(pipes.data["report"]), nonce)
    stderr = bytes(pipes.data["stderr"])
    verdict, detail = decide(report, not exited, status, cpu_s, limits, stderr)
    return ExecutionResult(
        verdict=verdict,
        passed=verdict is Verdict.PASSED,
        detail=detail,
        duration_s=time.monotonic() - start,
        stdout=pipes.text("stdout"),
        stderr=pipes.text("stderr"),
        isolation=report.mode,
    )


def _sandbox_error(start: float, exc: BaseException) -> ExecutionResult:
    return ExecutionResult(
        verdict=Verdict.SANDBOX_ERROR,
        passed=False,
        detail=f"could not start the sandbox: {type(exc).__name__}: {exc}",
        duration_s=time.monotonic() - start,
        stdout="",
        stderr="",
    )


def _child_env(workdir: str, python: str, policy: Policy) -> dict[str, str]:
    """The whole environment of the child: nothing is inherited from ours. A program that may
    start processes finds the interpreter that runs it first on ``PATH``, so ``python`` (and
    ``python3``) is the one with the tasks' libraries, as in BigCodeBench's image, not a bare
    system Python or nothing (Debian has no ``python``)."""
    one = "1"
    path = "/usr/bin:/bin"
    if policy.subprocess:
        path = f"{os.path.dirname(os.path.abspath(python))}:{path}"
    return {
        "PATH": path,
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


def _spawn(
    python: str,
    workdir: str,
    path: str,
    preload: list[str],
    limits: SandboxLimits,
    policy: Policy,
    uid: int,
    nonce: str,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the runner; returns the process and the read end of its report pipe."""
    nonce_r, nonce_w = os.pipe()
    report_r, report_w = os.pipe()
    # RLIMIT_NPROC counts every process of the uid: without a uid of its own, a limit would
    # count ours and everything else we run too, so it is no per-run limit (none is set)
    nproc = (limits.max_processes or DEFAULT_NPROC) if uid >= 0 else 0
    args = [
        python,
        "-s",
        "-B",
        RUNNER,
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
        ",".join(policy.guarded()),
        "1" if _USE_NAMESPACES else "0",
        "1" if policy.network else "0",
        "1" if policy.needs_namespaces else "0",
        "1" if policy.private_tmp else "0",
        "1" if policy.loopback else "0",
        *preload,
    ]
    try:
        os.write(nonce_w, nonce.encode() + b"\n")  # fits the pipe buffer: no reader needed yet
        os.close(nonce_w)
        nonce_w = -1
        proc = subprocess.Popen(
            args,
            cwd=workdir,
            env=_child_env(workdir, python, policy),
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
