"""The sandbox's runner: trusted code that runs in the child before the program.

The harness (:mod:`fgit.execution.sandbox`) executes this file by path, ``python -s -B
runner.py PROGRAM ARGS... [PRELOAD...]``; nothing imports it. It reads the nonce, isolates
itself (namespaces, uid, limits, guard), executes the trusted PRELOAD files and then the program
in the program's namespace, and reports on the report pipe. The threat model is in
:mod:`fgit.execution.sandbox`.

It must stay cheap to start (``os``, ``sys``, ``resource``, ``ctypes`` only; no ``contextlib``)
and, once the program has run, use only references it captured before: the program may patch
``os``, builtins, ``sys.modules`` ...
"""

import os
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
MS_RDONLY, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 1, 8, 32, 1024, 2048
# statvfs's f_flag bits that a bind remount must keep (locked in a user namespace), as MS_ flags
KEPT_FLAGS = (
    (2, MS_NOSUID),
    (4, MS_NODEV),
    (8, MS_NOEXEC),
    (1024, MS_NOATIME),
    (2048, MS_NODIRATIME),
    (4096, 1 << 21),
)  # ST_RELATIME -> MS_RELATIME


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


def unshare(libc, root, isolate_net):
    """New network (if isolate_net) and PID namespaces where allowed; returns (net, pid)."""
    if libc is None:
        return False, False
    uid, gid = os.getuid(), os.getgid()
    # Unprivileged user namespaces give us the same as root has, where the kernel allows them.
    user = 0 if root else CLONE_NEWUSER
    if not isolate_net:
        attempts = [(False, True)]
    elif root:
        attempts = [(True, True), (True, False), (False, True)]
    else:
        attempts = [(True, True), (True, False)]
    for net, pid in attempts:
        flags = user | (CLONE_NEWNET if net else 0) | (CLONE_NEWPID if pid else 0)
        if libc.unshare(flags) == 0:
            if user:  # keep our identity inside the namespace
                try:
                    write_file("/proc/self/setgroups", "deny")
                    write_file("/proc/self/uid_map", f"{uid} {uid} 1")
                    write_file("/proc/self/gid_map", f"{gid} {gid} 1")
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
            options = b"mode=755,size=64k"
            if libc.mount(b"tmpfs", parent.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options):
                raise OSError("cannot mount a tmpfs on " + parent)
            for name, fd in fds.items():
                source = f"/proc/self/fd/{fd}"
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


TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
TMP_OPTIONS = b"mode=1777,size=512m"  # tmpfs is memory: bounded, as RLIMIT_AS cannot


def private_tmp(libc, keep):
    """Fresh tmpfs over /tmp, /var/tmp and /dev/shm in a private mount namespace, so what a
    program writes there is its own and dies with the run; the paths of keep under them (the
    run's folder, an interpreter installed in /tmp) are bound back where they were."""
    if libc is None:
        raise OSError("ctypes unavailable")
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError("unshare(CLONE_NEWNS) failed")
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError("cannot make mounts private")
    fds = {}
    for path in sorted(keep):
        if any(path.startswith(kept + "/") for kept in fds):
            continue  # inside one bound back already
        if any(path.startswith(tmp + "/") for tmp in TMP_DIRS):
            fds[path] = os.open(path, os.O_PATH)
    for tmp in TMP_DIRS:
        if os.path.isdir(tmp) and libc.mount(
            b"tmpfs", tmp.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, TMP_OPTIONS
        ):
            raise OSError("cannot mount a tmpfs on " + tmp)
    for path, fd in fds.items():
        source = f"/proc/self/fd/{fd}"
        if os.path.isdir(source):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_file(path, "")
        if libc.mount(source.encode(), path.encode(), None, MS_BIND | MS_REC, None):
            raise OSError("cannot bind " + path)
        os.close(fd)


def mount_points():
    """Every mount point of this mount namespace, from /proc/self/mountinfo (octal escapes
    such as ``\\040`` decoded)."""
    with open("/proc/self/mountinfo", "rb") as f:
        lines = f.read().splitlines()
    points = []
    for line in lines:
        field = line.split(b" ")[4]
        points.append(field.decode("unicode_escape").encode("latin-1").decode("utf-8", "replace"))
    return points


def remount(libc, path, read_only):
    flags = MS_BIND | MS_REMOUNT | (MS_RDONLY if read_only else 0)
    current = os.statvfs(path).f_flag
    for bit, flag in KEPT_FLAGS:
        if current & bit:
            flags |= flag
    if libc.mount(None, path.encode(), None, flags, None) != 0:
        raise OSError("cannot remount " + path + (" read-only" if read_only else ""))


def read_only_root(libc, writable):
    """Every mount read-only except /proc, the private temporary folders and writable (the
    run's folder, bound onto itself and remounted writable): a program that could write our
    files by its uid (no uid of its own) still cannot change them, fgit's trusted files
    included. Call after private_tmp, in the same mount namespace; the program must then lose
    CAP_SYS_ADMIN (drop_capabilities) so that it cannot remount."""
    own = (*TMP_DIRS, "/proc")
    for point in mount_points():
        if any(point == top or point.startswith(top + "/") for top in own):
            continue
        try:
            remount(libc, point, True)
        except OSError:
            if os.path.exists(point):  # a point left writable would be a way out: no run
                raise
    for path in writable:
        if libc.mount(path.encode(), path.encode(), None, MS_BIND | MS_REC, None) != 0:
            raise OSError("cannot bind " + path)
        remount(libc, path, False)


def drop_bounding_set(libc):
    """Empty the bounding set: no exec regains a capability, even as uid 0."""
    import ctypes

    for cap in range(64):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            if ctypes.get_errno() == 22:  # EINVAL: past the last capability
                break
            raise OSError(f"cannot drop capability {cap}")


def drop_capabilities(libc):
    """No capabilities left (with drop_bounding_set, none regained by exec): a program running
    as root, or as root of a user namespace, cannot remount what read_only_root made read-only."""
    import ctypes

    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        raise OSError("cannot drop capabilities")


def loopback_up():
    """Bring up lo in the run's own network namespace: the program may talk to itself (a
    server and its client), still to nothing outside."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up, ifreq = 0x8913, 0x8914, 0x1, "16sh22x"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        flags = struct.unpack(ifreq, fcntl.ioctl(s, siocgifflags, struct.pack(ifreq, b"lo", 0)))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack(ifreq, b"lo", flags | iff_up))
    finally:
        s.close()


def needed_paths():
    paths = [p for p in sys.path if p] + [sys.prefix, sys.base_prefix, os.getcwd()]
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def set_limits(cpu, mem, fsize, nproc):
    import resource

    wanted = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, mem, mem),
        (resource.RLIMIT_FSIZE, fsize, fsize),
        (resource.RLIMIT_CORE, 0, 0),
    ]
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
    for name in (
        "create_connection",
        "create_server",
        "getaddrinfo",
        "gethostbyname",
        "gethostbyname_ex",
        "gethostbyaddr",
        "fromfd",
    ):
        setattr(socket, name, refuse)


def guard_process(names):
    """Reliability guard: the named functions ("os.kill", "signal.pidfd_send_signal", and
    "subprocess" for _posixsubprocess.fork_exec) raise PermissionError."""
    import _signal
    import posix

    def deny(name):
        def denied(*args, **kwargs):
            raise PermissionError(name + " is disabled in the fgit sandbox")

        return denied

    for name in names:
        prefix, _, attr = name.rpartition(".")
        if prefix == "os":
            modules = (os, posix)
        elif prefix == "signal":
            modules = (_signal, sys.modules.get("signal"))
        elif name == "subprocess":
            try:
                import _posixsubprocess
            except ImportError:
                continue
            modules, attr = (_posixsubprocess,), "fork_exec"
        else:  # a guard we cannot apply must not pass silently
            raise OSError("unknown guard " + name)
        for module in modules:
            if module is not None and hasattr(module, attr):
                setattr(module, attr, deny(name))


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
    compile_, exec_ = compile, exec
    path, preload = argv[0], argv[16:]
    nonce_fd, report_fd, uid, gid, cpu, mem, fsize, nproc, harness = [int(a) for a in argv[1:10]]
    guarded = [name for name in argv[10].split(",") if name]
    namespaces, allow_net, contain, own_tmp, loopback = (flag == "1" for flag in argv[11:16])
    nonce = b""
    while True:
        chunk = read(nonce_fd, 256)
        if not chunk:
            break
        nonce += chunk
    close(nonce_fd)
    os.set_inheritable(report_fd, False)  # a program it execs never holds the channel
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
        trusted = []  # read now, while the harness's uid can: the program's may not
        for name in preload:
            with open(name, "rb") as f:
                trusted.append((name, f.read()))
        del sys.path[0]  # the runner's directory: nothing for the program to import there
        libc = load_libc()
        die_with_parent(libc)
        if os.getppid() != harness:  # it died before the prctl, or python is a wrapper
            raise OSError("the runner is not a child of the harness")
        root = os.geteuid() == 0
        net, pidns = unshare(libc, root, not allow_net) if namespaces else (False, False)
        if contain and not (pidns and (net or allow_net)):  # its processes would be at large
            raise OSError(
                "the policy lets the program start processes: it needs PID and "
                "network namespaces, which this machine does not give"
            )
        if loopback and net:
            loopback_up()
        fs = "shared"
        if uid >= 0:
            try:
                masked = expose(libc, needed_paths())
                fs = ("masked:" + ",".join(masked)) if masked else "shared"
            except Exception as exc:  # the uid could not import the stdlib: stay as we are
                fs = "uid-switch-failed:" + text(exc).replace(" ", "_")
                uid = -1
        if own_tmp:  # a policy's promise: no run without it (SETUP error)
            private_tmp(libc, needed_paths())
            folder = os.path.dirname(os.path.realpath(path))
            read_only_root(libc, [folder])
            os.chdir(folder)  # the old cwd is on the read-only mount now, the folder's bind is not
            fs += "+private-tmp+read-only"
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
        if own_tmp:  # before setuid, which keeps the bounding set but needs CAP_SETPCAP for it
            drop_bounding_set(libc)
        if uid >= 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        if own_tmp:
            drop_capabilities(libc)
        if libc is not None:
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binaries from here on
        die_with_parent(libc)  # again: changing uid cleared it
        if os.getppid() != parent:
            exit_(3)
        if not (net or allow_net):
            guard_sockets()
        guard_process(guarded)
        user = uid if uid >= 0 else "same"
        network = "namespace" if net else "host" if allow_net else "socket-guard"
        if loopback and net:
            network += "+loopback"
        processes = "namespace" if pidns else "process-group"
        report(b"MODE", f"uid={user} net={network} pid={processes} fs={fs}")
        module = typ(sys)("program")
        module.__file__ = path
        sys.modules["program"] = module
        sys.argv[:] = [path]
        sys.path.insert(0, os.path.dirname(path))
        namespace = module.__dict__
    except base_exc as exc:
        report(b"SETUP", f"{typ(exc).__name__}: {exc}")
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
        for name, code in trusted:
            exec_(compile_(code, name, "exec", 0, True), namespace)
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


if __name__ == "__main__":
    main(sys.argv[1:])
