"""evalplus's check, run in the sandbox before the solution: trusted code, executed by path.

:mod:`fgit.evaluation.scoring` has the sandbox's runner execute this file in the program's
namespace before the program (``run_program(..., preload=[EVALPLUS_CHECK])``), so it is read
before anything of the solution runs. The program is then two lines::

    __fgit_check__ = __fgit_make__(PAYLOAD); del __fgit_make__
    __fgit_check__(SOLUTION_SOURCE)

``__fgit_make__`` decodes the inputs, expected outputs and time limits, captures every reference
the checks need and applies evalplus's reliability guard; the check it returns runs the solution
(as evalplus's ``exec(code, {})``) and then evalplus 0.3.1's ``unsafe_execute`` loop over every
input. Everything the checks use is captured here: the solution may patch builtins, numpy,
pickle, sys.modules... afterwards. Helper functions from evalplus are rebound to a private copy
of the builtins (and of the numpy/math namespaces they read), so such patches cannot reach them
either. Nothing imports this module.
"""


def __fgit_make__(payload):
    import base64
    import builtins
    import linecache  # noqa: F401  imported now: tracebacks need them once open() is gone
    import math
    import pickle
    import reprlib
    import signal
    import sys
    import tokenize  # noqa: F401
    import traceback  # noqa: F401
    import types
    import zlib

    import evalplus.eval as evalplus_eval
    import numpy
    from evalplus.eval import _special_oracle as special
    from evalplus.eval.utils import WriteOnlyStringIO, reliability_guard

    cfg = pickle.loads(zlib.decompress(base64.b64decode(payload)))
    inputs, expected, limits = cfg["inputs"], cfg["expected"], cfg["time_limits"]
    dataset, entry_point, first_atol = cfg["dataset"], cfg["entry_point"], cfg["atol"]
    fix_find_zero, line_offset = cfg["fix_find_zero"], cfg["line_offset"]
    program_file = globals().get("__file__") or "<solution>"
    safe_builtins = dict(vars(builtins))

    def private(fn, **names):
        env = dict(fn.__globals__)
        env.update(names)
        env["__builtins__"] = safe_builtins
        return types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)

    np_view = types.SimpleNamespace(**vars(numpy))
    math_view = types.SimpleNamespace(**vars(math))
    is_floats = private(evalplus_eval.is_floats, np=np_view)
    _poly = private(special._poly, math=math_view)
    _surface_Area = private(special._surface_Area, math=math_view)
    _digit_distance_nums = private(special._digit_distance_nums, math=math_view)
    set_eq_tasks = tuple(special.MBPP_OUTPUT_SET_EQ_TASKS)
    not_none_tasks = tuple(special.MBPP_OUTPUT_NOT_NONE_TASKS)
    allclose = numpy.allclose
    setitimer, set_handler = signal.setitimer, signal.signal
    ITIMER_REAL, SIGALRM = signal.ITIMER_REAL, signal.SIGALRM
    plain_types = (int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set)
    short = reprlib.Repr()
    short.maxstring = short.maxother = 50
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 6

    class FgitInputTimeout(Exception):  # an Exception, as evalplus's TimeoutException
        pass

    def on_alarm(signum, frame):
        raise FgitInputTimeout("Timed out!")

    def call(fn, inp, seconds):
        # evalplus: `with time_limit(seconds): with swallow_io(): out = fn(*inp)`
        stream = WriteOnlyStringIO()
        saved = sys.stdout, sys.stderr, sys.stdin
        set_handler(SIGALRM, on_alarm)
        setitimer(ITIMER_REAL, seconds)
        try:
            sys.stdout = sys.stderr = sys.stdin = stream
            try:
                return fn(*inp)
            finally:
                sys.stdout, sys.stderr, sys.stdin = saved
        finally:
            setitimer(ITIMER_REAL, 0)

    def compare(out, exp, inp, atol):
        """evalplus 0.3.1 unsafe_execute's checks, assert for assert: (ok, atol, why)."""
        exact_match = out == exp
        if dataset == "mbpp":
            if "are_equivalent" == entry_point:
                exact_match = exact_match or True
            elif "sum_div" == entry_point:
                exact_match = exact_match or out == 0
            elif "surface_Area" == entry_point:
                exact_match = exact_match or abs(out - _surface_Area(*inp)) <= atol
            elif "digit_distance_nums" == entry_point:
                exact_match = exact_match or out == _digit_distance_nums(*inp)
            elif entry_point in set_eq_tasks:
                exact_match = set(out) == set(exp)
            elif entry_point in not_none_tasks:
                if isinstance(out, bool):
                    exact_match = out == exp
                else:
                    exact_match = exp == (out is not None)
        if dataset == "humaneval":
            if "find_zero" == entry_point:
                if not abs(_poly(*inp, out)) <= atol:
                    return False, atol, "poly(xs, x) is not within atol of 0"
                if not fix_find_zero:
                    return False, atol, "evalplus 0.3.1 never records find_zero as passed"
                return True, atol, ""
        if atol == 0 and is_floats(exp):
            atol = 1e-6  # evalplus keeps this atol for the inputs that follow
        if not exact_match and atol != 0:
            if not type(out) == type(exp):
                return False, atol, "wrong output type"
            if isinstance(exp, (list, tuple)):
                if not len(out) == len(exp):
                    return False, atol, "wrong output length"
            if not allclose(out, exp, rtol=1e-07, atol=atol):
                return False, atol, "wrong output"
        elif not exact_match:
            return False, atol, "wrong output"
        return True, atol, ""

    def show(value):
        try:
            if type(value) in plain_types:
                return short.repr(value)
            return "<" + type(value).__name__ + " object>"
        except BaseException:
            return "?"

    def explain(exc):
        try:
            text = type(exc).__name__
            message = str(exc)[:100]
            if message:
                text += ": " + message
            line, tb = None, exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == program_file:
                    line = tb.tb_lineno - line_offset
                tb = tb.tb_next
            if line is not None and line > 0:
                text += " (line " + str(line) + ")"
            return text
        except BaseException:
            return "an exception"

    def check(source):
        # The solution runs here, in globals of its own (evalplus: exec(code, {})), so it cannot
        # rebind this function or anything it captured: the program's last statement is the
        # call that is already running.
        namespace = {}
        exec(compile(source, program_file, "exec"), namespace)
        if entry_point not in namespace:
            raise AssertionError(entry_point + " is not defined")
        fn = namespace[entry_point]
        atol = first_atol
        n = len(inputs)
        for i, inp in enumerate(inputs):
            where = "input " + str(i) + " of " + str(n)
            try:
                out = call(fn, inp, limits[i])
            except FgitInputTimeout:
                raise FgitInputTimeout(
                    where + ": over its time limit of " + format(limits[i], ".3g") + " s"
                ) from None
            except MemoryError:
                raise
            except BaseException as exc:
                raise AssertionError(where + ": raised " + explain(exc)) from None
            exp = expected[i]
            try:
                ok, atol, why = compare(out, exp, inp, atol)
            except MemoryError:
                raise
            except BaseException as exc:
                ok, why = False, "comparison raised " + explain(exc)
            if not ok:
                got = ": got " + show(out) + ", expected " + show(exp)
                raise AssertionError(where + ": " + why + got)

    call, compare, show, explain, check = (
        private(f) for f in (call, compare, show, explain, check)
    )
    # evalplus's reliability guard, before the solution as in unsafe_execute; its memory limit
    # may exceed what this uid can set, then the sandbox's own limit stays.
    try:
        reliability_guard(cfg["memory_bytes"])
    except (ValueError, OSError):
        reliability_guard(None)
    sys.stdout = sys.stderr = sys.stdin = WriteOnlyStringIO()  # exec(code) under swallow_io
    return check
