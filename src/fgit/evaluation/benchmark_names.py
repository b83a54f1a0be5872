"""What results say about a benchmark: its label for a reader, its BigCodeBench split and
subset, how many test sets its results have, and its generation default.

A thin reader of the registry, :data:`fgit.data.BENCHMARKS` (each benchmark's facts are declared
there, once), so the command line, the results table, ``fgit compare`` and the report name every
benchmark the same way. ``problems:<file>`` benchmarks (:mod:`fgit.evaluation.problems`) are not
in the registry: their label is their name, they have one test set (base; plus is None) and the
evalplus generation default.

BigCodeBench's four names (issue 13) follow upstream's ``--split`` (``complete``/``instruct``)
and ``--subset`` (``full``/``hard``) of ``bigcodebench.generate``:
``bigcodebench-complete``, ``bigcodebench-instruct``, ``bigcodebench-hard-complete`` and
``bigcodebench-hard-instruct``.
"""

from __future__ import annotations

from typing import Literal, cast

from fgit.data import BENCHMARKS, BIGCODEBENCH_BENCHMARKS
from fgit.data.benchmarks import EVALPLUS_MAX_NEW_TOKENS, BenchmarkData

__all__ = [
    "BIGCODEBENCH_BENCHMARKS",
    "benchmark_display",
    "benchmark_label",
    "bigcodebench_split",
    "bigcodebench_subset",
    "default_max_new_tokens",
    "has_base_and_plus",
]

Split = Literal["complete", "instruct"]
Subset = Literal["full", "hard"]


def _data(name: str) -> BenchmarkData | None:
    """The registry's declaration; None for a ``problems:`` benchmark (or any unknown name)."""
    return BENCHMARKS.get(name)


def bigcodebench_split(name: str) -> Split | None:
    """``"complete"`` or ``"instruct"`` for a BigCodeBench name; None for any other benchmark."""
    data = _data(name)
    return cast(Split, data.bigcodebench[0]) if data and data.bigcodebench else None


def bigcodebench_subset(name: str) -> Subset | None:
    """``"full"`` (1,140 tasks) or ``"hard"`` (148) for a BigCodeBench name; None otherwise."""
    data = _data(name)
    return cast(Subset, data.bigcodebench[1]) if data and data.bigcodebench else None


def benchmark_label(name: str) -> str:
    """How a reader knows the benchmark: ``"BigCodeBench-Hard (instruct)"``, ``"HumanEval+"``;
    a name fgit has no label for (``problems:<file>``) is shown as it is."""
    data = _data(name)
    return data.label if data and data.label else name


def benchmark_display(name: str) -> str:
    """The benchmark as every table, comparison and report titles it: evalplus's names as they
    are (``humaneval+``: the name is what their columns say), other labelled ones as
    ``"BigCodeBench-Hard (instruct) · bigcodebench-hard-instruct"`` (label, then the name the
    command line takes), a ``problems:`` name as it is."""
    label = benchmark_label(name)
    if has_base_and_plus(name) or label == name:
        return name
    return f"{label} · {name}"


def has_base_and_plus(name: str) -> bool:
    """Whether the benchmark's results are shown as evalplus's base and plus columns (else as
    one pass@1 column, as BigCodeBench reports it, and a ``problems:`` file's base tests)."""
    data = _data(name)
    return data is not None and data.base_and_plus


def default_max_new_tokens(name: str) -> int:
    """The generation limit per task when the user sets none: 1280 for BigCodeBench (upstream's
    default), 512 for the rest."""
    data = _data(name)
    return data.max_new_tokens if data else EVALPLUS_MAX_NEW_TOKENS
