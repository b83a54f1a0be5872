"""What a sandboxed program may do: the sandbox's policy as an explicit profile.

A profile only switches mechanisms of the runner on or off, so it promises nothing they do not
enforce. Under every profile a run keeps: a process tree of its own, the limits (CPU, memory,
file size, processes), a scrubbed environment, a fresh temporary folder as its working
directory, ``HOME`` and ``TMPDIR``, the nonce pass channel, and, as root, a uid of its own.
That uid, not the profile, decides where a program may write: its folder and world-writable
places (``/tmp``, ``/dev/shm``). Without root it is our uid, and only the guard (which a
program can get around with ``ctypes``) stands between it and our files.

``DEFAULT`` is what every caller gets: no network, no processes, no deleting or renaming
files. ``ALLOW_SUBPROCESS`` is for programs that start processes and manage files: see
:class:`Policy` for what it costs. ``BIGCODEBENCH`` is ``ALLOW_SUBPROCESS`` with a private
``/tmp`` (and ``/var/tmp``, ``/dev/shm``) and the loopback interface up in the run's own network
namespace: what BigCodeBench's tasks need (temporary files, local servers), and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALLOW_SUBPROCESS", "BIGCODEBENCH", "DEFAULT", "FILE_CALLS", "PROCESS_CALLS", "Policy"]

# Starting and signalling processes. "subprocess" is _posixsubprocess.fork_exec, under
# subprocess.Popen and multiprocessing.
PROCESS_CALLS = (
    "os.kill",
    "os.killpg",
    "os.fork",
    "os.forkpty",
    "os.vfork",
    "os.system",
    "os.popen",
    "os.spawnl",
    "os.spawnle",
    "os.spawnlp",
    "os.spawnlpe",
    "os.spawnv",
    "os.spawnve",
    "os.spawnvp",
    "os.spawnvpe",
    "os.posix_spawn",
    "os.posix_spawnp",
    "os.execl",
    "os.execle",
    "os.execlp",
    "os.execlpe",
    "os.execv",
    "os.execve",
    "os.execvp",
    "os.execvpe",
    "os.setsid",
    "os.setpgid",
    "os.setpgrp",
    "signal.pidfd_send_signal",
    "subprocess",
)
# Deleting, renaming, truncating and re-permissioning files.
FILE_CALLS = (
    "os.remove",
    "os.unlink",
    "os.rmdir",
    "os.removedirs",
    "os.rename",
    "os.renames",
    "os.replace",
    "os.truncate",
    "os.chmod",
    "os.lchmod",
    "os.fchmod",
    "os.chown",
    "os.lchown",
    "os.fchown",
)
ALWAYS_GUARDED = ("os.chroot",)


@dataclass(frozen=True)
class Policy:
    """What a program may do beyond computing: each field lifts one mechanism.

    - ``network``: no network namespace and no socket guard; the program shares the host's
      network, loopback included.
    - ``subprocess``: the guard no longer covers :data:`PROCESS_CALLS`. The processes a program
      starts are unguarded (a new interpreter, a shell, ``rm``), so what contains them is the
      kernel: a PID namespace (they all die with the run, and cannot see the harness) and,
      unless ``network`` is also set, a network namespace. A run under this policy is refused
      (``sandbox_error``) where the machine gives neither.
    - ``file_changes``: the guard no longer covers :data:`FILE_CALLS`. Files outside the run's
      folder are then protected by the uid alone: as root, by the run's own uid; without root,
      not at all.
    - ``private_tmp``: ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are fresh tmpfs (512 MB each) in
      a mount namespace of the run's own, so the world-writable places its uid could write are
      its own too, and what it leaves there dies with the run; every other mount but ``/proc``
      is read-only there, and the program has no capability to remount it. The run is refused
      (``sandbox_error``) where no mount namespace can be made.
    - ``loopback``: inside the run's own network namespace, ``lo`` is up, so a program may
      serve and connect to itself on 127.0.0.1; the host's network stays out of reach (no
      effect where the run has no network namespace).
    """

    name: str = "default"
    network: bool = False
    subprocess: bool = False
    file_changes: bool = False
    private_tmp: bool = False
    loopback: bool = False

    def guarded(self) -> tuple[str, ...]:
        """The functions that raise ``PermissionError`` in the program."""
        process = () if self.subprocess else PROCESS_CALLS
        files = () if self.file_changes else FILE_CALLS
        return process + files + ALWAYS_GUARDED

    @property
    def needs_namespaces(self) -> bool:
        """Whether the run must have PID and network namespaces (see ``subprocess``)."""
        return self.subprocess


DEFAULT = Policy()
# Processes and file changes, still no network. A guard on os.remove would not protect
# anything here (the program could run rm), only break programs that tidy up their files.
ALLOW_SUBPROCESS = Policy(name="allow-subprocess", subprocess=True, file_changes=True)
# BigCodeBench's tasks start processes, write and delete files (in their folder and in /tmp),
# and a few run a server and its client on 127.0.0.1: all of it inside the run, nothing
# outside (fgit.evaluation.bigcodebench_scoring).
BIGCODEBENCH = Policy(
    name="bigcodebench", subprocess=True, file_changes=True, private_tmp=True, loopback=True
)
