"""What a benchmark's name says: its label for a reader, its BigCodeBench split and subset, how
many test sets its results have, and its generation default.

The registry of what can be evaluated is :data:`fgit.data.EVALUATION_BENCHMARKS`; this module
only reads names, so the command line, the results table, ``fgit compare`` and the report name
every benchmark the same way.

BigCodeBench's four names (issue 13) follow upstream's ``--split`` (``complete``/``instruct``)
and ``--subset`` (``full``/``hard``) of ``bigcodebench.generate``:
``bigcodebench-complete``, ``bigcodebench-instruct``, ``bigcodebench-hard-complete`` and
``bigcodebench-hard-instruct``.
"""

from __future__ import annotations

from typing import Literal

from fgit.data import BIGCODEBENCH_BENCHMARKS

__all__ = [
    "BIGCODEBENCH_BENCHMARKS",
    "EVALPLUS_COLUMNS",
    "benchmark_label",
    "bigcodebench_split",
    "bigcodebench_subset",
    "default_max_new_tokens",
    "has_base_and_plus",
]

Split = Literal["complete", "instruct"]
Subset = Literal["full", "hard"]

# The benchmarks whose results have evalplus's two columns, base and base + plus tests (plain
# HumanEval keeps the base column, with the plus one empty). Every other benchmark has one.
EVALPLUS_COLUMNS: frozenset[str] = frozenset({"humaneval", "humaneval+", "mbpp", "mbpp+"})

_LABELS = {
    "humaneval": "HumanEval",
    "humaneval+": "HumanEval+",
    "mbpp": "MBPP",
    "mbpp+": "MBPP+",
    "bigcodebench-complete": "BigCodeBench (complete)",
    "bigcodebench-instruct": "BigCodeBench (instruct)",
    "bigcodebench-hard-complete": "BigCodeBench-Hard (complete)",
    "bigcodebench-hard-instruct": "BigCodeBench-Hard (instruct)",
}

# Generation limit per task when none is given: fgit's evalplus default, and bigcodebench's
# (run_codegen's max_new_tokens=1280 in bigcodebench/generate.py; BigCodeBench answers are whole
# scripts with imports, often several functions long).
_EVALPLUS_MAX_NEW_TOKENS = 512
_BIGCODEBENCH_MAX_NEW_TOKENS = 1280


def bigcodebench_split(name: str) -> Split | None:
    """``"complete"`` or ``"instruct"`` for a BigCodeBench name; None for any other benchmark."""
    if name not in BIGCODEBENCH_BENCHMARKS:
        return None
    return "instruct" if name.endswith("-instruct") else "complete"


def bigcodebench_subset(name: str) -> Subset | None:
    """``"full"`` (1,140 tasks) or ``"hard"`` (148) for a BigCodeBench name; None otherwise."""
    if name not in BIGCODEBENCH_BENCHMARKS:
        return None
    return "hard" if name.startswith("bigcodebench-hard-") else "full"


def benchmark_label(name: str) -> str:
    """How a reader knows the benchmark: ``"BigCodeBench-Hard (instruct)"``, ``"HumanEval+"``;
    a name fgit has no label for is shown as it is."""
    return _LABELS.get(name, name)


def has_base_and_plus(name: str) -> bool:
    """Whether the benchmark's results are shown as evalplus's base and plus columns (else as
    one pass@1 column, as BigCodeBench reports it)."""
    return name in EVALPLUS_COLUMNS


def default_max_new_tokens(name: str) -> int:
    """The generation limit per task when the user sets none: 1280 for BigCodeBench (upstream's
    default), 512 for the rest."""
    if name in BIGCODEBENCH_BENCHMARKS:
        return _BIGCODEBENCH_MAX_NEW_TOKENS
    return _EVALPLUS_MAX_NEW_TOKENS
