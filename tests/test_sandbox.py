"""The sandbox runs untrusted programs: verdicts must be right, unfakeable, and the harness safe."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fgit.execution import (
    ALLOW_SUBPROCESS,
    BIGCODEBENCH,
    DEFAULT,
    ExecutionResult,
    Policy,
    SandboxLimits,
    Verdict,
    describe_sandbox,
    network_isolation_mode,
    run_many,
    run_program,
    sandbox,
    uids,
)

QUICK = SandboxLimits(timeout_s=5)
HOSTILE = SandboxLimits(timeout_s=3)
# Wall-clock bounds only tell a run that ends at its deadline from one that waits for its
# program (minutes): a loaded 2-core machine can stall a run for seconds, so they are generous.
SLACK_S = 10.0


def run(source: str, limits: SandboxLimits = QUICK) -> ExecutionResult:
    return run_program(textwrap.dedent(source), limits=limits)


def protected() -> bool:
    """Whether the program cannot signal our processes (own uid or PID namespace)."""
    info = describe_sandbox()
    return bool(info["uid_switch"]) or info["processes"] == "namespace"


needs_protection = pytest.mark.skipif(
    not protected(), reason="needs root or user namespaces: the program could kill the harness"
)
needs_uid_switch = pytest.mark.skipif(
    not describe_sandbox()["uid_switch"], reason="needs root: the program runs under our uid"
)
needs_namespaces = pytest.mark.skipif(
    describe_sandbox()["processes"] != "namespace" or describe_sandbox()["network"] != "namespace",
    reason="needs PID and network namespaces (root or user namespaces)",
)


@pytest.fixture
def fallback(monkeypatch):
    """No namespaces and no uid switch: what the sandbox does for an unprivileged user."""
    monkeypatch.setattr(sandbox, "_USE_NAMESPACES", False)
    monkeypatch.setattr(uids, "_uid_pool", lambda: ())


def processes_with_env(marker: str) -> list[int]:
    """Pids of live processes whose environment contains marker (a run's unique TMPDIR)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def assert_no_strays(marker: str) -> None:
    deadline = time.monotonic() + SLACK_S  # SIGKILLed processes may take a moment to go
    while (left := processes_with_env(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == [], f"processes of the run survived it: {left}"


# --- verdicts ----------------------------------------------------------------------------------


def test_correct_program_passes():
    result = run(
        """
        def add(a, b):
            return a + b

        assert add(2, 3) == 5
        print("done")
        """
    )
    assert result.verdict is Verdict.PASSED and result.passed
    assert result.detail == "ok"
    assert result.stdout == "done\n"
    assert "net=" in result.isolation


def test_failing_assert_is_failed_with_line():
    result = run("x = 1\nassert x == 2, 'x is wrong'\n")
    assert result.verdict is Verdict.FAILED and not result.passed
    assert result.detail == "AssertionError: x is wrong (line 2)"
    assert "Traceback" in result.stderr


def test_exception_is_error_with_type():
    result = run("def f():\n    return 1 / 0\n\nf()\n")
    assert result.verdict is Verdict.ERROR
    assert result.detail.startswith("ZeroDivisionError: division by zero")


def test_syntax_error_is_error():
    result = run("def f(:\n    pass\n")
    assert result.verdict is Verdict.ERROR
    assert result.detail.startswith("SyntaxError")


def test_main_guard_does_not_run_like_the_standard_harnesses():
    result = run("if __name__ == '__main__':\n    raise SystemExit(1)\n")
    assert result.verdict is Verdict.PASSED


def test_infinite_loop_times_out():
    start = time.monotonic()
    result = run("while True:\n    pass\n", SandboxLimits(timeout_s=1))
    assert result.verdict is Verdict.TIMEOUT
    assert result.detail == "timed out after 1.0 s"
    assert time.monotonic() - start < 1 + SLACK_S


def test_cpu_limit_is_timeout():
    # The CPU limit, not the wall clock, ends it: 1 s of CPU can take many seconds under load.
    result = run("while True:\n    pass\n", SandboxLimits(timeout_s=30, cpu_s=1))
    assert result.verdict is Verdict.TIMEOUT
    assert "CPU time" in result.detail


def test_cpu_limit_with_sigxcpu_ignored_is_timeout():
    source = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = run(source, SandboxLimits(timeout_s=10, cpu_s=1))
    assert result.verdict is Verdict.TIMEOUT
    assert "CPU time" in result.detail


def test_sleeping_with_closed_descriptors_times_out():
    source = """
        import os, time
        os.closerange(0, 256)
        time.sleep(60)
    """
    start = time.monotonic()
    assert run(source, SandboxLimits(timeout_s=1)).verdict is Verdict.TIMEOUT
    assert time.monotonic() - start < 1 + SLACK_S  # not the program's 60 s


@pytest.mark.parametrize(
    "source",
    [
        "x = bytearray(10**10)",
        "x = []\nwhile True:\n    x.append(' ' * 10**6)",
    ],
)
def test_memory_bomb_is_memory(source):
    result = run(source, SandboxLimits(timeout_s=10, memory_mb=256))
    assert result.verdict is Verdict.MEMORY
    assert "MemoryError" in result.detail


def test_output_flood_is_truncated_and_does_not_hang():
    limits = SandboxLimits(timeout_s=2, output_bytes=1000)
    start = time.monotonic()
    result = run(
        "import sys\nfor i in range(10**7):\n    print(i)\n    sys.stderr.write('e')\n", limits
    )
    assert time.monotonic() - start < 2 + SLACK_S
    assert result.verdict in (Verdict.PASSED, Verdict.TIMEOUT)
    assert len(result.stdout.encode()) <= 1000 and result.stdout.startswith("0\n1\n2\n")
    assert len(result.stderr.encode()) <= 1000


def test_huge_file_is_refused():
    result = run("with open('big', 'wb') as f:\n    f.write(b'x' * (20 * 2**20))\n")
    assert result.verdict is Verdict.ERROR
    assert "File too large" in result.detail


# --- hostile programs never pass ---------------------------------------------------------------

EARLY_EXITS = {
    "sys.exit": "import sys\nsys.exit(0)\nassert False",
    "os._exit": "import os\nos._exit(0)\nassert False",
    "SystemExit": "raise SystemExit(0)\nassert False",
    "exit": "exit()\nassert False",
    "quit": "quit()\nassert False",
    "fake marker": "import os\nprint('PASS ' + '0' * 32, flush=True)\nos._exit(0)\nassert False",
    "kill self": "import os\nos.kill(os.getpid(), 9)\nassert False",
    "kill self (ctypes)": "import ctypes, os\nctypes.CDLL(None).kill(os.getpid(), 9)\nassert False",
    "abort": "import os\nos.abort()",
    "exit in atexit": "import atexit, os\natexit.register(os._exit, 0)\nassert False",
    "exit in __str__": (
        "import os\nclass E(Exception):\n    def __str__(self):\n        os._exit(0)\nraise E()"
    ),
    "forge report pipes": (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'PASS x\\n')\n"
        "    except OSError:\n        pass"
    ),
    "close report pipe": "import os\nos.closerange(3, 256)",
    "fork guarded": "import os\nif os.fork() == 0:\n    import time; time.sleep(60)",
    "subprocess guarded": "import subprocess\nsubprocess.run(['true'])",
    "os.system guarded": "import os\nos.system('true')",
    "pidfd signal guarded": (
        "import os, signal\nsignal.pidfd_send_signal(os.pidfd_open(os.getpid()), 9)\nassert False"
    ),
    "patched AssertionError": "import builtins\nbuiltins.AssertionError = Exception\nassert False",
    "patched print": "import builtins\nbuiltins.print = lambda *a, **k: None\nassert 1 == 2",
    "patched isinstance": (
        "import builtins\nbuiltins.isinstance = lambda *a: False\n"
        "builtins.BaseException = KeyError\nraise ValueError('x')"
    ),
    "patched os": "import os\nos.write = lambda *a: 0\nos._exit = lambda *a: None\nassert False",
}


@pytest.mark.parametrize("source", EARLY_EXITS.values(), ids=EARLY_EXITS.keys())
def test_hostile_programs_never_pass(source):
    result = run(source, HOSTILE)
    assert not result.passed and result.verdict is not Verdict.PASSED, result
    assert result.verdict is not Verdict.TIMEOUT, result  # and nothing of it hangs
    assert run("pass").passed  # the harness is unharmed


def test_exit_verdicts_are_exited():
    assert run("import sys\nsys.exit(0)").verdict is Verdict.EXITED
    assert run("import os\nos._exit(3)").detail == "exit code 3 before the end of the program"
    assert run("import os, signal\nsignal.raise_signal(9)").detail == "killed by SIGKILL"


def test_guard_reports_permission_error():
    result = run("import os\nos.kill(os.getppid(), 9)")
    assert result.verdict is Verdict.ERROR
    assert "os.kill is disabled" in result.detail


@needs_protection
@pytest.mark.parametrize(
    "source",
    [
        "import ctypes, os\nctypes.CDLL(None).kill(os.getppid(), 9)\nos._exit(0)",
        "import ctypes, os\nctypes.CDLL(None).kill({harness}, 9)\nos._exit(0)",
        "import ctypes, os\nctypes.CDLL(None).kill(-1, 9)\nos._exit(0)",
    ],
    ids=["parent", "harness pid", "everybody"],
)
def test_program_cannot_kill_the_harness(source):
    result = run(source.format(harness=os.getpid()), HOSTILE)
    assert not result.passed
    os.kill(os.getpid(), 0)  # still here
    assert run("pass").passed


@needs_protection
def test_forked_processes_do_not_survive_the_run():
    source = """
        import ctypes, os, sys, time
        print(os.environ["TMPDIR"], flush=True)
        libc = ctypes.CDLL(None)
        if libc.fork() == 0:
            libc.setsid()  # try to leave the process group, then linger
            if libc.fork() == 0:
                time.sleep(60)
            time.sleep(60)
    """
    # The run ends with the program (a pass), long before its deadline or its children's 60 s.
    result = run(source, SandboxLimits(timeout_s=30))
    assert result.verdict is Verdict.PASSED, result
    assert_no_strays(result.stdout.splitlines()[0])


@needs_protection
def test_forked_copy_cannot_report_the_pass():
    source = """
        import ctypes, os, time
        if ctypes.CDLL(None).fork() != 0:
            os._exit(0)  # the original ends early, its copy runs to the end
        time.sleep(0.2)
    """
    result = run(source, HOSTILE)
    assert result.verdict is Verdict.EXITED


def test_fork_bomb_is_bounded():
    source = """
        import ctypes, os, time
        print(os.environ["TMPDIR"], flush=True)
        libc = ctypes.CDLL(None)
        forked = 0
        for _ in range(1000):
            pid = libc.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            if pid < 0:
                break
            forked += 1
        print(forked)
    """
    result = run(source, SandboxLimits(timeout_s=10, max_processes=32))
    marker, forked = result.stdout.split()
    if describe_sandbox()["uid_switch"]:  # RLIMIT_NPROC counts this run's own uid only
        assert int(forked) < 32
    assert_no_strays(marker)


@pytest.mark.parametrize("own_uid", [True, False], ids=["own-uid", "our-uid"])
def test_process_limit_only_with_a_uid_of_its_own(monkeypatch, own_uid):
    """RLIMIT_NPROC counts all of a uid's processes: under ours it would count the harness's
    and every other process we run, so it is set only where the run has its own uid."""
    if not own_uid:
        monkeypatch.setattr(uids, "_uid_pool", lambda: ())
    elif not describe_sandbox()["uid_switch"]:
        pytest.skip("needs root: the program runs under our uid")
    source = "import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC)[0])"
    result = run(source, SandboxLimits(timeout_s=10, max_processes=7))
    assert result.passed, result
    import resource

    unchanged = str(resource.getrlimit(resource.RLIMIT_NPROC)[0])
    assert result.stdout.strip() == ("7" if own_uid else unchanged)


@pytest.fixture
def victim() -> Iterator[Path]:
    """A file outside any run's folder, in a folder everybody sees and only root may write."""
    victim_dir = Path(tempfile.mkdtemp(prefix="fgit-victim-"))
    try:
        victim_dir.chmod(0o755)
        path = victim_dir / "victim.txt"
        path.write_text("keep me")
        path.chmod(0o644)
        yield path
    finally:
        shutil.rmtree(victim_dir)


@needs_uid_switch
def test_program_cannot_delete_files_outside_its_directory(victim: Path):
    for source in [
        f"import os\nos.remove({str(victim)!r})",
        f"import ctypes\nassert ctypes.CDLL(None).unlink({str(victim).encode()!r}) == 0",
        f"import shutil\nshutil.rmtree({str(victim.parent)!r})",
        f"open({str(victim)!r}, 'w').write('overwritten')",
    ]:
        assert not run(source).passed
    assert victim.read_text() == "keep me"


def test_destructive_os_calls_are_guarded(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    result = run(f"import os\nos.remove({str(victim)!r})")
    assert result.verdict is Verdict.ERROR
    assert "PermissionError" in result.detail
    assert victim.exists()


@pytest.fixture
def server():
    """A listening TCP socket on our loopback: (socket, port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener, listener.getsockname()[1]
    finally:
        listener.close()


def nothing_connected(listener: socket.socket) -> bool:
    listener.setblocking(False)
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return True
    return False


def test_no_network(server):
    listener, port = server
    result = run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
    assert result.verdict is Verdict.ERROR
    assert "OSError" in result.detail or "Error" in result.detail
    assert nothing_connected(listener)


def test_network_mode_is_known():
    assert network_isolation_mode() in ("namespace", "socket-guard")
    info = describe_sandbox()
    assert {"uid_switch", "network", "processes", "filesystem", "limits"} <= set(info)


# --- policies ----------------------------------------------------------------------------------

SPAWN = """
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True)
    assert out.stdout == "42\\n", out
    subprocess.run(["true"], check=True)
"""


def test_policies_are_profiles_of_the_guard():
    assert Policy() == DEFAULT and not (DEFAULT.network or DEFAULT.subprocess)
    assert {"os.fork", "subprocess", "os.kill", "os.remove", "os.chroot"} <= set(DEFAULT.guarded())
    assert ALLOW_SUBPROCESS.guarded() == ("os.chroot",) and not ALLOW_SUBPROCESS.network
    assert BIGCODEBENCH.guarded() == ALLOW_SUBPROCESS.guarded() and not BIGCODEBENCH.network
    assert not (ALLOW_SUBPROCESS.private_tmp or ALLOW_SUBPROCESS.loopback)
    assert describe_sandbox()["guarded"] == list(DEFAULT.guarded())


def test_default_policy_cannot_spawn_processes():
    result = run_program(textwrap.dedent(SPAWN), limits=QUICK, policy=DEFAULT)
    assert result.verdict is Verdict.ERROR
    assert "subprocess is disabled" in result.detail


@needs_namespaces
def test_allow_subprocess_spawns_but_has_no_network(server):
    listener, port = server
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    source = (
        SPAWN
        + f"""
    child = subprocess.run([sys.executable, "-c", {connect!r}], capture_output=True, text=True)
    assert child.returncode != 0 and "OSError" in child.stderr, child
    try:
        {connect}
    except OSError:
        pass
    else:
        raise AssertionError("connected")
    """
    )
    result = run_program(textwrap.dedent(source), limits=QUICK, policy=ALLOW_SUBPROCESS)
    assert result.passed, result
    assert "net=namespace" in result.isolation
    assert nothing_connected(listener)


@needs_namespaces
def test_allow_subprocess_processes_die_with_the_run():
    source = """
        import os, subprocess
        print(os.environ["TMPDIR"], flush=True)
        subprocess.Popen(["sleep", "60"], start_new_session=True)
        subprocess.Popen(["sh", "-c", "sleep 60 &"])
    """
    result = run_program(textwrap.dedent(source), limits=HOSTILE, policy=ALLOW_SUBPROCESS)
    assert result.passed, result
    assert_no_strays(result.stdout.splitlines()[0])


@needs_namespaces
def test_allow_subprocess_may_change_its_own_files():
    source = """
        import os, shutil
        os.makedirs("d/e")
        open("d/e/f", "w").write("x")
        os.rename("d/e/f", "d/g")
        os.chmod("d/g", 0o600)
        os.remove("d/g")
        shutil.rmtree("d")
        assert os.listdir(".") == ["program.py"]
    """
    assert run_program(textwrap.dedent(source), limits=QUICK, policy=ALLOW_SUBPROCESS).passed
    assert "os.rename is disabled" in run(source).detail


@needs_namespaces
@needs_uid_switch
def test_allow_subprocess_cannot_touch_files_outside_its_directory(victim: Path):
    for source in [
        f"import os\nos.remove({str(victim)!r})",
        f"import subprocess\nsubprocess.run(['rm', '-rf', {str(victim.parent)!r}], check=True)",
    ]:
        assert not run_program(source, limits=QUICK, policy=ALLOW_SUBPROCESS).passed
    assert victim.read_text() == "keep me"


def test_network_policy_reaches_our_loopback(server):
    listener, port = server
    source = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5).close()"
    result = run_program(source, limits=QUICK, policy=Policy(name="net", network=True))
    assert result.passed, result
    assert "net=host" in result.isolation
    assert not nothing_connected(listener)


def test_allow_subprocess_is_refused_without_namespaces(fallback):
    result = run_program(textwrap.dedent(SPAWN), limits=QUICK, policy=ALLOW_SUBPROCESS)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "needs PID and network namespaces" in result.detail


# --- the BigCodeBench profile: ALLOW_SUBPROCESS, private /tmp, its own loopback ----------------


def run_bcb(source: str, limits: SandboxLimits = QUICK) -> ExecutionResult:
    return run_program(textwrap.dedent(source), limits=limits, policy=BIGCODEBENCH)


@needs_namespaces
@pytest.mark.parametrize(
    "source",
    [s for name, s in EARLY_EXITS.items() if not name.endswith("guarded")],
    ids=[name for name in EARLY_EXITS if not name.endswith("guarded")],
)
def test_bigcodebench_hostile_programs_never_pass(source):
    result = run_bcb(source, HOSTILE)
    assert not result.passed and result.verdict is not Verdict.TIMEOUT, result


@needs_namespaces
def test_bigcodebench_tmp_is_private_and_dies_with_the_run(victim: Path):
    marker = f"fgit-probe-{os.getpid()}-{time.monotonic_ns()}"
    source = f"""
        import os, subprocess
        assert not os.path.exists({str(victim)!r})  # the host's /tmp is not there
        assert os.path.isfile("program.py")  # its own folder is
        for folder in ("/tmp", "/var/tmp", "/dev/shm"):
            open(os.path.join(folder, {marker!r}), "w").write("x")
            subprocess.run(["touch", os.path.join(folder, {marker!r} + ".child")], check=True)
        open("here.txt", "w").write("x")
    """
    result = run_bcb(source)
    assert result.passed, result
    assert "private-tmp" in result.isolation
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not [name for name in os.listdir(folder) if name.startswith(marker)]
    assert victim.read_text() == "keep me"


@needs_namespaces
@needs_uid_switch
def test_bigcodebench_cannot_write_outside_its_folder():
    # A folder outside the private /tmp that everybody may enter but only root may write.
    outside = Path(tempfile.mkdtemp(prefix=".fgit-victim-", dir=Path(__file__).parent))
    try:
        outside.chmod(0o755)
        victim = outside / "victim.txt"
        victim.write_text("keep me")
        for source in [
            f"open({str(victim)!r}, 'w').write('overwritten')",
            f"open({str(outside / 'new.txt')!r}, 'w').write('x')",
            f"import subprocess\nsubprocess.run(['rm', '-rf', {str(outside)!r}], check=True)",
            f"import os\nos.remove({str(victim)!r})",
        ]:
            assert not run_bcb(source).passed
        assert victim.read_text() == "keep me" and os.listdir(outside) == ["victim.txt"]
    finally:
        shutil.rmtree(outside)


@needs_namespaces
@pytest.mark.parametrize("own_uid", [True, False], ids=["own-uid", "our-uid"])
def test_bigcodebench_filesystem_is_read_only_outside_its_folder(monkeypatch, own_uid):
    """Without a uid of its own the program could write every file we own, fgit's trusted
    runner and harness included (which later runs re-read): the mounts are read-only, and it
    has no capability left to remount them."""
    if not own_uid:
        monkeypatch.setattr(uids, "_uid_pool", lambda: ())
    elif not describe_sandbox()["uid_switch"]:
        pytest.skip("needs root: the program runs under our uid")
    outside = Path(tempfile.mkdtemp(prefix=".fgit-victim-", dir=Path(__file__).parent))
    try:
        victim = outside / "victim.txt"
        victim.write_text("keep me")
        trusted = Path(sandbox.RUNNER)
        before = trusted.read_bytes()
        for source in [
            f"open({str(victim)!r}, 'w').write('overwritten')",
            f"open({str(trusted)!r}, 'a').write('# forged')",
            f"import subprocess\nsubprocess.run(['sh', '-c', 'echo x >> {trusted}'], check=True)",
            f"import subprocess\nsubprocess.run(['rm', '-rf', {str(outside)!r}], check=True)",
            "import subprocess\nsubprocess.run(['mount', '-o', 'remount,rw', '/'], check=True)\n"
            f"open({str(victim)!r}, 'w').write('overwritten')",
        ]:
            result = run_bcb(source)
            assert not result.passed and result.verdict is not Verdict.SANDBOX_ERROR, result
        assert victim.read_text() == "keep me" and os.listdir(outside) == ["victim.txt"]
        assert trusted.read_bytes() == before
        # its own folder, /tmp and the processes it starts still write as before
        ok = run_bcb(
            "import subprocess\nopen('a.txt', 'w').write('x')\nopen('/tmp/b', 'w').write('x')\n"
            "subprocess.run(['sh', '-c', 'echo x > c.txt'], check=True)"
        )
        assert ok.passed and "read-only" in ok.isolation, ok
    finally:
        shutil.rmtree(outside)


@needs_namespaces
def test_bigcodebench_has_its_own_loopback_and_no_network(server):
    listener, port = server
    source = f"""
        import socket, threading
        own = socket.create_server(("127.0.0.1", 0))
        def serve():
            conn, _ = own.accept()
            conn.sendall(b"pong")
            conn.close()
        threading.Thread(target=serve).start()
        with socket.create_connection(own.getsockname(), timeout=5) as client:
            assert client.recv(4) == b"pong"
        try:  # the same address and port as the host's server: not the host's loopback
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
        except OSError:
            pass
        else:
            raise AssertionError("reached the host")
        for host in ("1.1.1.1", "8.8.8.8"):
            try:
                socket.create_connection((host, 53), timeout=2)
            except OSError:
                pass
            else:
                raise AssertionError("reached " + host)
    """
    result = run_bcb(source, SandboxLimits(timeout_s=20))
    assert result.passed, result
    assert "net=namespace+loopback" in result.isolation
    assert nothing_connected(listener)


@needs_namespaces
def test_bigcodebench_processes_die_with_the_run():
    source = """
        import os, subprocess
        print(os.environ["TMPDIR"], flush=True)
        subprocess.Popen(["sleep", "60"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                import time; time.sleep(60)
            os._exit(0)
    """
    result = run_bcb(source, HOSTILE)
    assert result.passed, result
    assert_no_strays(result.stdout.splitlines()[0])


@needs_namespaces
def test_bigcodebench_python_on_path_is_the_interpreter_that_runs_it():
    # Tasks run scripts with subprocess.call(["python", ...]) (BigCodeBench/1101, 1103, 1104):
    # as in upstream's image, that is the interpreter with the tasks' libraries.
    source = """
        import subprocess, sys
        child = subprocess.run(
            ["python", "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True
        )
        assert child.stdout.strip() == sys.prefix, (child.stdout, child.stderr, sys.prefix)
    """
    assert run_bcb(source).passed


def test_bigcodebench_is_refused_without_namespaces(fallback):
    result = run_bcb(SPAWN)
    assert result.verdict is Verdict.SANDBOX_ERROR
    assert "needs PID and network namespaces" in result.detail


# --- environment and working directory ---------------------------------------------------------


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent")
    source = """
        import os, sys
        assert "HF_TOKEN" not in os.environ
        assert "/nonexistent" not in sys.path
        assert os.environ["HOME"] == os.environ["TMPDIR"] == os.getcwd()
        assert os.environ["PATH"] == "/usr/bin:/bin"  # the interpreter's folder: subprocess only
    """
    assert run(source).passed


def test_hash_seed_is_fixed():
    first, second = run("print(hash('abc'))"), run("print(hash('abc'))")
    assert first.stdout == second.stdout != ""


def test_fresh_working_directory_is_removed():
    source = "import os\nassert os.listdir('.') == ['program.py']\nprint(os.getcwd())"
    first, second = run(source), run(source)
    assert first.passed and second.passed
    assert first.stdout != second.stdout
    for result in (first, second):
        assert not os.path.exists(result.stdout.strip())


def test_program_may_write_in_its_directory():
    result = run("open('out.txt', 'w').write('x')\nassert open('out.txt').read() == 'x'")
    assert result.passed


def test_imports_from_the_environment_work():
    assert run("import heapq, json, numpy\nassert numpy.arange(3).sum() == 3").passed


# --- fallback without privileges ---------------------------------------------------------------


def test_fallback_isolation(fallback):
    result = run("pass")
    assert result.passed
    assert "net=socket-guard" in result.isolation and "pid=process-group" in result.isolation
    assert run("import sys\nsys.exit(0)").verdict is Verdict.EXITED
    blocked = run("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)")
    assert "network disabled in fgit sandbox" in blocked.detail
    assert "os.fork is disabled" in run("import os\nos.fork()").detail


def test_fallback_kills_the_process_group(fallback):
    source = """
        import ctypes, os, time
        print(os.environ["TMPDIR"], flush=True)
        if ctypes.CDLL(None).fork() == 0:
            time.sleep(60)
    """
    result = run(source, HOSTILE)
    assert result.passed  # the program itself ran to its end
    assert_no_strays(result.stdout.splitlines()[0])


def test_other_interpreter_compiles_the_runner():
    other = os.path.realpath(sys.executable)  # same Python, outside the virtual environment
    result = run_program("import sys\nprint(sys.executable)", python=other)
    assert result.passed
    assert result.stdout.strip() == other


def test_preloaded_files_run_first_in_the_programs_namespace(tmp_path):
    trusted = tmp_path / "trusted.py"
    trusted.write_text("GREETING = 'from the trusted file'\n")
    broken = tmp_path / "broken.py"
    broken.write_text("1 / 0\n")
    tmp_path.chmod(0o700)  # the runner reads preloads before it gives up our uid
    result = run_program("print(GREETING)", limits=QUICK, preload=[str(trusted)])
    assert result.passed and result.stdout == "from the trusted file\n", result
    if describe_sandbox()["uid_switch"]:  # the program itself cannot read them
        assert not run(f"open({str(trusted)!r}).read()").passed
    # An exception in a preloaded file is the program's own.
    result = run_program("pass", limits=QUICK, preload=[str(broken)])
    assert result.verdict is Verdict.ERROR and "ZeroDivisionError" in result.detail


def test_unstartable_interpreter_is_sandbox_error():
    result = run_program("pass", python="/nonexistent/python")
    assert result.verdict is Verdict.SANDBOX_ERROR and not result.passed
    # an interpreter that never runs the program is our failure, not the program's
    assert run_program("pass", python="/bin/false").verdict is Verdict.SANDBOX_ERROR


def test_runner_runs_by_path_from_the_package():
    runner = Path(sandbox.__file__).with_name("runner.py")
    source = """
        import os, sys
        print(sys.modules["__main__"].__file__)
        assert os.path.dirname(sys.modules["__main__"].__file__) not in sys.path
        try:
            import verdicts  # a sibling of the runner: its folder is not importable
        except ImportError:
            pass
        else:
            raise AssertionError("the runner's folder is on sys.path")
    """
    result = run(source)
    assert result.passed, result
    assert result.stdout.strip() == str(runner) == sandbox.RUNNER


def test_limits_are_validated():
    with pytest.raises(ValueError):
        SandboxLimits(timeout_s=0)
    with pytest.raises(ValueError):
        SandboxLimits(memory_mb=1)
    assert SandboxLimits(timeout_s=2.5).cpu_limit_s == 4
    assert SandboxLimits(cpu_s=1.5).cpu_limit_s == 2


# --- run_many ----------------------------------------------------------------------------------


def test_run_many_preserves_order():
    programs = [f"print({i})\nassert {i} % 3 != 0" for i in range(7)]
    results = run_many(programs, limits=QUICK, workers=2)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(7)]
    assert [r.passed for r in results] == [i % 3 != 0 for i in range(7)]
    assert run_many([]) == []


def test_run_many_is_parallel():
    # Each program reports when it ran (CLOCK_MONOTONIC is one clock for all processes): with 2
    # workers, 2 run at once and never more. No wall-clock bound, so load cannot fail it.
    programs = ["import time\ns = time.monotonic()\ntime.sleep(2)\nprint(s, time.monotonic())"] * 4
    results = run_many(programs, limits=SandboxLimits(timeout_s=30), workers=2)
    assert all(r.passed for r in results), results
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    at_once = [sum(1 for s, e in spans if s <= start < e) for start, _ in spans]
    assert max(at_once) == 2


def test_run_many_progress_bar(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line, whatever the terminal
    results = run_many(["pass", "assert False", "1/0"], limits=QUICK, workers=2, progress=True)
    assert [r.verdict for r in results] == [Verdict.PASSED, Verdict.FAILED, Verdict.ERROR]
    out, err = capsys.readouterr()
    assert out == ""  # on stderr, like every fgit progress bar
    assert "3/3" in err and "error 1 failed 1 passed 1" in err
