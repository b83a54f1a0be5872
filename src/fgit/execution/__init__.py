"""Executing model-written code: the only place fgit runs it.

- :mod:`~fgit.execution.sandbox`: one run, isolated (own process, uid, namespaces, limits);
  its docstring holds the threat model.
- :mod:`~fgit.execution.runner`: the child's side of a run, executed by path, never imported.
- :mod:`~fgit.execution.many`: many runs in parallel.
- :mod:`~fgit.execution.programs`: the program that tests a solution (solution, then tests).
- :mod:`~fgit.execution.evalplus_check`: evaluation's check, which the sandbox runs by path
  before each evalplus program.
- :mod:`~fgit.execution.policy`: what a program may do (network, processes, file changes),
  as profiles: ``DEFAULT``, ``ALLOW_SUBPROCESS``, ``BIGCODEBENCH``.
- :mod:`~fgit.execution.bigcodebench_check`: BigCodeBench's unittest harness, which the sandbox
  runs by path before each BigCodeBench program.
- :mod:`~fgit.execution.verdicts`, :mod:`~fgit.execution.limits`: what a run may use and what
  came of it; :mod:`~fgit.execution.describe`: what this machine's sandbox can do.
"""

from fgit.execution.describe import describe_sandbox, network_isolation_mode
from fgit.execution.limits import SandboxLimits
from fgit.execution.many import run_many
from fgit.execution.policy import ALLOW_SUBPROCESS, BIGCODEBENCH, DEFAULT, Policy
from fgit.execution.programs import check_program, problem_program
from fgit.execution.sandbox import run_program
from fgit.execution.verdicts import ExecutionResult, Verdict

__all__ = [
    "ALLOW_SUBPROCESS",
    "BIGCODEBENCH",
    "DEFAULT",
    "ExecutionResult",
    "Policy",
    "SandboxLimits",
    "Verdict",
    "check_program",
    "describe_sandbox",
    "network_isolation_mode",
    "problem_program",
    "run_many",
    "run_program",
]
