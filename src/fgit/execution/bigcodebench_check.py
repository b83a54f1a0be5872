"""BigCodeBench's test harness, run in the sandbox before the program: trusted code, executed
by path.

:mod:`fgit.evaluation.bigcodebench_scoring` has the sandbox's runner execute this file in the
program's namespace before the program (``run_program(..., preload=[BIGCODEBENCH_CHECK])``), so
it runs before anything of the solution. The program is then one line::

    __fgit_bigcodebench__(CODE, TEST_CODE, TIME_LIMIT_S, STACK_MB)

which replays upstream's ``unsafe_execute`` (bigcode-project/bigcodebench 0.1.9,
``bigcodebench/eval/__init__.py``, with ``safe_environment``, ``create_tempdir``,
``reliability_guard``, ``swallow_io`` and ``time_limit`` of ``bigcodebench/eval/utils.py``), step
for step:

- ``safe_environment``: ``os.kill``/``killpg`` only for this process and the processes its
  ``Popen`` started, ``os.system``/``subprocess.call``/``run``/``os.popen`` with ``kill`` in the
  command pretend to succeed, ``check_output`` of ``ps`` returns nothing, ``Popen`` starts a new
  session and its ``communicate`` turns a timeout into ``(None, None)``, ``os.exec*`` do nothing;
- a fresh temporary folder (under the run's folder) as the working directory;
- ``reliability_guard``: ``TZ=UTC``, ``OMP_NUM_THREADS=1``, TensorFlow's log level and oneDNN off,
  the stack limit (10 MB), ``faulthandler`` off, ``exit``/``quit`` set to None, and matplotlib's
  pyplot imported and its figures closed;
- ``code + "\\n" + test_code`` compiled as ``__test__.py`` and executed in a module ``__test__``
  whose namespace starts with ``sys``, ``os`` and ``environ``, with stdout, stderr and stdin
  swallowed (and ``subprocess.Popen``/``run`` capturing their output by default);
- ``TestLoader().loadTestsFromTestCase(TestCases)`` run into a ``TestResult`` under a
  ``setitimer`` limit (upstream's 240 s + 1).

Upstream passes when the run has no failures and no errors. fgit passes when, in addition, every
test it loaded ran, none was skipped or succeeded unexpectedly (no v0.1.0 test skips itself: a
skip comes from the solution, e.g. ``raise unittest.SkipTest``), and the program left
``unittest`` and the builtins as they were: the classes (whole), functions and submodules of
the ``unittest`` modules and every builtin are captured before the solution runs and compared,
by identity, after the tests. So a solution that patches ``TestResult.wasSuccessful``,
``TestCase.assertEqual`` or ``builtins.isinstance``, or replaces ``sys.modules["unittest"]``,
never passes. The verdict then comes from the sandbox's nonce marker, written only when this
function returns. Libraries the tests call (``numpy.testing``, ``pandas.testing``) are not
captured: patching those fools upstream and fgit alike.

Outcomes: the function returns on a pass; otherwise it raises ``TestsFailed`` (an
``AssertionError``: a test failed, was skipped, or did not run), ``TestsRaised`` (a test raised
another exception), ``FgitInputTimeout`` (past the time limit),
``MemoryError`` (a test ran out of memory) or ``FgitTampering`` (the program changed
``unittest`` or the builtins), each with a one-line detail naming the tests; tracebacks go to
stderr. Nothing imports this module.
"""


def __fgit_bigcodebench__(code, test_code, time_limit_s, stack_mb):
    import builtins
    import faulthandler
    import io
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    import types
    import unittest
    import unittest.mock  # captured with the rest of unittest

    write, isinst, text, len_ = os.write, isinstance, str, len
    getattr_, issubclass_, vars_, exc_base = getattr, issubclass, vars, BaseException

    class FgitInputTimeout(Exception):  # upstream's TimeoutException: an Exception too
        pass

    class TestsFailed(AssertionError):  # the names read as the verdict's detail
        pass

    class TestsRaised(Exception):
        pass

    class FgitTampering(Exception):
        pass

    # --- what the solution must leave alone: unittest's modules and classes, the builtins ---
    builtins.exit = None  # upstream's reliability_guard, before anything is captured
    builtins.quit = None

    def unittest_modules():
        return {
            name: module
            for name, module in list(sys.modules.items())
            if name == "unittest" or name.startswith("unittest.")
        }

    modules = unittest_modules()
    module_state = {name: dict(vars_(module)) for name, module in modules.items()}
    class_state = {}
    for name, state in module_state.items():
        for attr, value in state.items():
            if isinst(value, type) and getattr_(value, "__module__", None) == name:
                class_state[name + "." + attr] = (value, dict(vars_(value)))
    builtin_state = dict(vars_(builtins))
    real_test_case = unittest.TestCase
    loader_class, result_class = unittest.TestLoader, unittest.TestResult

    code_like = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)

    def tampered():
        """The first change the program made to unittest or the builtins, or None. A module's
        data may change as it runs (``unittest.mock`` fills ``file_spec`` lazily): only its
        functions, classes and modules must stay; a class may not change at all."""
        now = unittest_modules()
        for name, module in modules.items():
            if now.get(name) is not module:
                return f"sys.modules[{name!r}] was replaced"
            current = vars_(module)
            for attr, value in module_state[name].items():
                if not isinst(value, code_like):
                    continue
                if attr not in current or current[attr] is not value:
                    return f"{name}.{attr} was changed"
        for qualname, (cls, before) in class_state.items():
            current = vars_(cls)
            for attr in set(current) | set(before):
                if attr not in before or attr not in current or current[attr] is not before[attr]:
                    return f"{qualname}.{attr} was changed"
        current = vars_(builtins)
        for attr, value in builtin_state.items():
            if attr not in current or current[attr] is not value:
                return f"builtins.{attr} was changed"
        return None

    # --- upstream's safe_environment (a plain list for the child pids: one process) ---------
    original_kill, original_killpg = os.kill, os.killpg
    original_system, original_os_popen = os.system, os.popen
    original_call, original_check_output = subprocess.call, subprocess.check_output
    original_run, original_popen = subprocess.run, subprocess.Popen
    current_pid = os.getpid()
    current_pgid = os.getpgid(current_pid)
    child_pids = []

    def safe_kill(pid, sig):
        try:
            os.getpgid(pid)
            if pid == current_pid or pid in child_pids:
                original_kill(pid, sig)
            else:
                print(f"Prevented attempt to kill PID {pid} with signal {sig}")
        except ProcessLookupError:
            pass

    def safe_killpg(pgid, sig):
        if pgid == current_pgid or pgid in {os.getpgid(pid) for pid in child_pids}:
            original_killpg(pgid, sig)
        else:
            print(f"Prevented attempt to kill PGID {pgid} with signal {sig}")

    def safe_system(command):
        print(f"Intercepted system command: {command}")
        if "kill" in command or "killall" in command:
            return 0
        return original_system(command)

    def safe_subprocess_call(command, *args, **kwargs):
        print(f"Intercepted subprocess call: {command}")
        if "kill" in command or "killall" in command:
            return 0
        return original_call(command, *args, **kwargs)

    def safe_subprocess_check_output(command, *args, **kwargs):
        print(f"Intercepted command: {command}")
        if "ps" in command:
            return b""
        return original_check_output(command, *args, **kwargs)

    def safe_subprocess_run(*args, **kwargs):
        print(f"Intercepted subprocess run command: {args}")
        if "kill" in args[0] or "killall" in args[0]:
            return subprocess.CompletedProcess(args, 0, b"", b"")
        return original_run(*args, **kwargs)

    class SafePopen(original_popen):
        def __init__(self, *args, **kwargs):
            print(f"Intercepted Popen command: {args}")
            kwargs["preexec_fn"] = os.setsid
            super().__init__(*args, **kwargs)
            child_pids.append(self.pid)

        def communicate(self, *args, **kwargs):
            try:
                return super().communicate(*args, **kwargs)
            except subprocess.TimeoutExpired:
                print("Timeout expired, intercepted and returning None")
                return None, None

        def kill(self):
            print(f"Intercepted kill call for PID {self.pid}")
            safe_kill(self.pid, signal.SIGTERM)

        def terminate(self):
            print(f"Intercepted terminate call for PID {self.pid}")
            safe_kill(self.pid, signal.SIGTERM)

    def safe_os_popen(command):
        print(f"Intercepted os.popen command: {command}")
        if "kill" in command or "killall" in command:
            return original_os_popen("echo Intercepted")
        return original_os_popen(command)

    def safe_exec(*args, **kwargs):
        print(f"Intercepted exec command: {args}")

    os.kill, os.killpg, os.system, os.popen = safe_kill, safe_killpg, safe_system, safe_os_popen
    subprocess.call, subprocess.check_output = safe_subprocess_call, safe_subprocess_check_output
    subprocess.run, subprocess.Popen = safe_subprocess_run, SafePopen
    os.execv = os.execvp = os.execvpe = safe_exec

    # --- upstream's create_tempdir and reliability_guard -------------------------------------
    workdir = tempfile.mkdtemp()
    os.chdir(workdir)
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    try:
        import resource

        limit = stack_mb * 2**20
        resource.setrlimit(resource.RLIMIT_STACK, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    faulthandler.disable()
    try:
        import matplotlib.pyplot as plt

        plt.close("all")
    except ImportError:  # upstream's environment always has it; ours may not
        pass

    # --- upstream's swallow_io and time_limit ------------------------------------------------
    class WriteOnlyStringIO(io.StringIO):
        def read(self, *args, **kwargs):
            raise OSError

        def readline(self, *args, **kwargs):
            raise OSError

        def readlines(self, *args, **kwargs):
            raise OSError

        def readable(self, *args, **kwargs):
            return False

    popen_for_io, run_for_io = subprocess.Popen, subprocess.run

    def _piped(kwargs):
        # upstream's _popen_patch/_run_patch: a child's output is captured, never shown
        if kwargs.get("capture_output"):
            kwargs.pop("stdout", None)
            kwargs.pop("stderr", None)
        else:
            kwargs.setdefault("stdout", subprocess.PIPE)
            kwargs.setdefault("stderr", subprocess.PIPE)
        return kwargs

    def _popen_patch(*args, **kwargs):
        return popen_for_io(*args, **_piped(kwargs))

    def _run_patch(*args, **kwargs):
        return run_for_io(*args, **_piped(kwargs))

    def on_alarm(signum, frame):
        raise FgitInputTimeout("Timed out!")

    module = types.ModuleType("__test__")
    module.__dict__.update(
        {
            "__builtins__": builtins,
            "__file__": "__test__.py",
            "__package__": None,
            "__doc__": None,
            "sys": sys,
            "os": os,
            "environ": os.environ,
        }
    )
    stream = WriteOnlyStringIO()
    saved = sys.stdout, sys.stderr, sys.stdin
    setitimer, set_handler = signal.setitimer, signal.signal

    class Result(result_class):
        """upstream's TestResult, also keeping the type of each error (timeouts, memory)."""

        def addError(self, test, err):
            self.error_types.append(err[0])
            super().addError(test, err)

        def addSubTest(self, test, subtest, err):
            if err is not None and not issubclass_(err[0], test.failureException):
                self.error_types.append(err[0])  # the base class appends to errors itself
            super().addSubTest(test, subtest, err)

    loader = loader_class()
    result = Result()
    result.error_types = []
    expected = 0
    try:
        sys.stdout = sys.stderr = sys.stdin = stream
        subprocess.Popen, subprocess.run = _popen_patch, _run_patch
        exec(compile(code + "\n" + test_code, "__test__.py", "exec"), module.__dict__)
        sys.modules["__test__"] = module
        test_cases = module.__dict__.get("TestCases")
        if test_cases is None:
            raise AttributeError("module '__test__' has no attribute 'TestCases'")
        if not (isinst(test_cases, type) and issubclass_(test_cases, real_test_case)):
            raise FgitTampering("TestCases is not a unittest.TestCase")
        suite = loader.loadTestsFromTestCase(test_cases)
        expected = suite.countTestCases()
        setitimer(signal.ITIMER_REAL, time_limit_s)
        set_handler(signal.SIGALRM, on_alarm)
        try:
            suite.run(result)
        finally:
            setitimer(signal.ITIMER_REAL, 0)
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved
        subprocess.Popen, subprocess.run = popen_for_io, run_for_io

    # --- the verdict: only a complete, untampered, all-passing run returns ---------------------
    change = tampered()
    if change is not None:
        raise FgitTampering("the program changed unittest or the builtins: " + change)

    def name_of(test):
        try:
            return text(test.id()).rsplit(".", 1)[-1]
        except exc_base:
            return "?"

    def last_line(trace):
        lines = [line for line in text(trace).strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else "?"

    def summary(items):
        shown = [name_of(test) + ": " + last_line(trace) for test, trace in items[:3]]
        more = f" (+{len_(items) - 3} more)" if len_(items) > 3 else ""
        return "; ".join(shown) + more

    for test, trace in result.failures + result.errors:
        try:
            write(2, f"--- {name_of(test)}\n{trace}\n".encode("utf-8", "replace")[-8000:])
        except exc_base:
            pass
    kinds = list(zip(result.error_types, result.errors, strict=True))
    timeouts = [error for kind, error in kinds if issubclass_(kind, FgitInputTimeout)]
    if timeouts:
        raise FgitInputTimeout(f"the tests ran past {float(time_limit_s)} s ({summary(timeouts)})")
    memory = [error for kind, error in kinds if issubclass_(kind, MemoryError)]
    if memory:
        raise MemoryError(summary(memory))
    if result.failures:
        raise TestsFailed(f"{len_(result.failures)} of {expected}: {summary(result.failures)}")
    if result.errors:
        raise TestsRaised(f"{len_(result.errors)} of {expected}: {summary(result.errors)}")
    if result.skipped:
        reasons = [(test, "skipped: " + text(reason)) for test, reason in result.skipped]
        raise TestsFailed(f"{len_(reasons)} of {expected} skipped: {summary(reasons)}")
    if result.unexpectedSuccesses:
        raise TestsFailed(f"{len_(result.unexpectedSuccesses)} unexpected successes")
    if result.testsRun != expected:
        raise TestsFailed(f"{result.testsRun} of {expected} tests ran")
