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

Upstream passes when the run has no failures and no errors. fgit passes when, in addition, at
least one test ran, every test method of ``TestCases`` (counted here with ``dir``/``callable``
captured before the solution ran, and checked against the loader) ran and passed, none was
skipped or succeeded unexpectedly (no v0.1.0 test skips itself: a skip comes from the solution,
e.g. ``raise unittest.SkipTest``), each test is the test code's own function (every ``test*``
method the source's ``TestCases`` defines is there, and each runs a code object compiled from
the test code, its own, through ``functools.wraps`` decorators such as ``mock.patch``), and the
program left ``unittest`` and the builtins as they were: the classes (whole), functions and
submodules of the ``unittest`` modules and every builtin are captured before the solution runs
and compared, by identity, after the solution's module ran, as each test starts and ends, and
after the tests; the counts are kept in this function's closure. ``unittest``'s classes are
also made immutable (CPython's ``Py_TPFLAGS_IMMUTABLETYPE``) before the solution runs. So a
solution that patches ``TestResult.wasSuccessful``, ``TestCase.assertEqual``, ``TestCase.run``
or ``builtins.isinstance``, or replaces ``sys.modules["unittest"]``, never passes, even if it
undoes the patch before the end. A patch made and undone within one test, of a builtin or a
``unittest`` module function, is still possible in-process. The verdict then comes from the
sandbox's nonce marker, written only when this function returns. Libraries the tests call
(``numpy.testing``, ``pandas.testing``) are not captured: patching those fools upstream and
fgit alike.

Outcomes: the function returns on a pass; otherwise it raises ``TestsFailed`` (an
``AssertionError``: a test failed, was skipped, or did not run), ``TestsRaised`` (a test raised
another exception), ``FgitInputTimeout`` (past the time limit),
``MemoryError`` (a test ran out of memory) or ``FgitTampering`` (the program changed
``unittest`` or the builtins), each with a one-line detail naming the tests; tracebacks go to
stderr. Nothing imports this module.
"""


def __fgit_bigcodebench__(code, test_code, time_limit_s, stack_mb):
    import ast
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
    dir_, callable_, sorted_, id_, compile_, exec_ = dir, callable, sorted, id, compile, exec
    range_ = range
    function_type, code_type = types.FunctionType, types.CodeType

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

    def freeze(cls):
        """Make a class immutable (CPython's Py_TPFLAGS_IMMUTABLETYPE, as for built-in types),
        so that ``TestCase.run = fake`` raises ``TypeError`` instead of being undone before
        the snapshot is compared. Only where tp_flags is where CPython 3.10+ puts it; the
        snapshot comparisons stay either way."""
        try:
            import ctypes

            flags = ctypes.c_ulong.from_address(id_(cls) + 21 * ctypes.sizeof(ctypes.c_void_p))
            if flags.value == cls.__flags__ and sys.version_info >= (3, 10):
                flags.value |= 1 << 8
        except exc_base:
            pass

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

    # --- what the test code declares, from the compiled source (the solution cannot change it)
    source = code + "\n" + test_code
    module_code = compile_(source, "__test__.py", "exec")
    test_start = code.count("\n") + 2  # the first line of test_code

    def nested(parent):
        for const in parent.co_consts:
            if isinst(const, code_type):
                yield const
                yield from nested(const)

    test_codes = {id_(c): c for c in nested(module_code) if c.co_firstlineno >= test_start}
    decorators = {}  # function name -> the most decorators a def of that name has in the tests
    for node in ast.walk(ast.parse(test_code)):
        if isinst(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            count = len_(node.decorator_list)
            decorators[node.name] = max(decorators.get(node.name, 0), count)
    declared = set()  # the test* methods the source's TestCases classes define themselves
    for body in test_codes.values():
        if body.co_name == "TestCases":
            for const in body.co_consts:
                if isinst(const, code_type) and const.co_name.startswith("test"):
                    declared.add(const.co_name)

    def check_methods(test_cases, names):
        """Each test must be the test code's own function (through ``functools.wraps``
        decorators such as ``mock.patch``), not one the solution put there."""
        if not names:
            raise FgitTampering("TestCases has no test method")
        if not declared <= set(names):
            missing = ", ".join(sorted_(declared - set(names)))
            raise FgitTampering("test methods of TestCases disappeared: " + missing)
        seen = set()
        for name in names:
            func = getattr_(test_cases, name)
            depth = 0
            for _ in range_(100):
                if not isinst(func, function_type):
                    raise FgitTampering(f"{name} is not a function")
                inner = vars_(func).get("__wrapped__")
                if inner is None:
                    break
                wrapper = func.__code__  # mock.patch's, requests_mock's: not the solution's
                if wrapper.co_filename == "__test__.py" and id_(wrapper) not in test_codes:
                    raise FgitTampering(f"{name} is wrapped by the solution's code")
                depth += 1
                func = inner
            body = func.__code__
            if id_(body) not in test_codes:
                raise FgitTampering(f"{name} does not come from the test code")
            if depth > max(decorators.get(name, 0), decorators.get(body.co_name, 0)):
                raise FgitTampering(f"{name} has more wrappers than the test code's decorators")
            if body.co_name.startswith("test"):
                if body.co_name != name or id_(body) in seen:
                    raise FgitTampering(f"{name} runs the code of {body.co_name}")
                seen.add(id_(body))

    # --- the result, counted in this closure: the program cannot reach these lists ----------
    started, succeeded, failures, errors, skipped, unexpected, changes = [], [], [], [], [], [], []
    record = list.append
    base = {
        name: vars_(result_class)[name]
        for name in (
            "startTest",
            "stopTest",
            "addSuccess",
            "addFailure",
            "addError",
            "addSkip",
            "addExpectedFailure",
            "addUnexpectedSuccess",
            "addSubTest",
        )
    }

    checked = []  # TestCases and its test names, once loaded

    def check_now():
        change = tampered()
        if change is None and checked:
            try:
                check_methods(*checked)
            except FgitTampering as exc:
                change = text(exc)
        if change is not None:
            record(changes, change)

    class Result(result_class):
        """upstream's TestResult, counted again here (with the type of each error: timeouts,
        memory), and the snapshot compared as each test starts and ends."""

        def startTest(self, test):
            check_now()
            record(started, test)
            base["startTest"](self, test)

        def stopTest(self, test):
            base["stopTest"](self, test)
            check_now()

        def addSuccess(self, test):
            record(succeeded, test)
            base["addSuccess"](self, test)

        def addFailure(self, test, err):
            base["addFailure"](self, test, err)
            record(failures, (test, self.failures[-1][1] if self.failures else "?"))

        def addError(self, test, err):
            base["addError"](self, test, err)
            record(errors, (err[0], test, self.errors[-1][1] if self.errors else "?"))

        def addSkip(self, test, reason):
            record(skipped, (test, reason))
            base["addSkip"](self, test, reason)

        def addExpectedFailure(self, test, err):
            record(succeeded, test)  # upstream passes it too (no failure, no error)
            base["addExpectedFailure"](self, test, err)

        def addUnexpectedSuccess(self, test):
            record(unexpected, test)
            base["addUnexpectedSuccess"](self, test)

        def addSubTest(self, test, subtest, err):
            base["addSubTest"](self, test, subtest, err)
            if err is not None:
                if issubclass_(err[0], test.failureException):
                    record(failures, (subtest, self.failures[-1][1] if self.failures else "?"))
                else:
                    record(errors, (err[0], subtest, self.errors[-1][1] if self.errors else "?"))

    for cls in [value for value, _ in class_state.values()] + [Result]:
        freeze(cls)
    class_state["Result"] = (Result, dict(vars_(Result)))

    loader = loader_class()
    result = Result()
    expected = 0
    names = []
    try:
        sys.stdout = sys.stderr = sys.stdin = stream
        subprocess.Popen, subprocess.run = _popen_patch, _run_patch
        exec_(module_code, module.__dict__)
        sys.modules["__test__"] = module
        change = tampered()  # before anything of unittest runs again
        if change is not None:
            raise FgitTampering("the program changed unittest or the builtins: " + change)
        test_cases = module.__dict__.get("TestCases")
        if test_cases is None:
            raise AttributeError("module '__test__' has no attribute 'TestCases'")
        if not (isinst(test_cases, type) and issubclass_(test_cases, real_test_case)):
            raise FgitTampering("TestCases is not a unittest.TestCase")
        # upstream's loader: dir(), the "test" prefix, callable, sorted (TestLoader defaults)
        names = sorted_(
            name
            for name in dir_(test_cases)
            if name.startswith("test") and callable_(getattr_(test_cases, name))
        )
        check_methods(test_cases, names)
        checked[:] = [test_cases, names]
        suite = loader.loadTestsFromTestCase(test_cases)
        expected = suite.countTestCases()
        if expected != len_(names) or sorted_(t._testMethodName for t in suite) != names:
            raise FgitTampering(f"the loader found {expected} tests, TestCases has {len_(names)}")
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
    check_now()
    if changes:
        raise FgitTampering("the program changed unittest or the builtins: " + changes[0])

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

    failed = [(test, trace) for test, trace in failures]
    raised = [(test, trace) for _, test, trace in errors]
    for test, trace in failed + raised:
        try:
            write(2, f"--- {name_of(test)}\n{trace}\n".encode("utf-8", "replace")[-8000:])
        except exc_base:
            pass
    timeouts = [(t, trace) for kind, t, trace in errors if issubclass_(kind, FgitInputTimeout)]
    if timeouts:
        raise FgitInputTimeout(f"the tests ran past {float(time_limit_s)} s ({summary(timeouts)})")
    memory = [(t, trace) for kind, t, trace in errors if issubclass_(kind, MemoryError)]
    if memory:
        raise MemoryError(summary(memory))
    if failed:
        raise TestsFailed(f"{len_(failed)} of {expected}: {summary(failed)}")
    if raised:
        raise TestsRaised(f"{len_(raised)} of {expected}: {summary(raised)}")
    if skipped:
        reasons = [(test, "skipped: " + text(reason)) for test, reason in skipped]
        raise TestsFailed(f"{len_(reasons)} of {expected} skipped: {summary(reasons)}")
    if unexpected:
        raise TestsFailed(f"{len_(unexpected)} unexpected successes")
    ran = sorted_(name_of(test) for test in started)
    passed = sorted_(name_of(test) for test in succeeded)
    if expected <= 0 or ran != names or passed != names:
        raise TestsFailed(f"{len_(passed)} of {expected} tests ran and passed")
