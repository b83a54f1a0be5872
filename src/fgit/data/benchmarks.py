"""The benchmarks fgit knows, declared once: their files, and who reads them.

Evaluation scores ``humaneval``, ``humaneval+``, ``mbpp`` and ``mbpp+`` (``mbpp`` is MBPP+ on its
base inputs, evalplus's "MBPP" column), and BigCodeBench v0.1.0 as upstream's four leaderboard
columns: ``bigcodebench-complete``, ``bigcodebench-instruct``, ``bigcodebench-hard-complete`` and
``bigcodebench-hard-instruct`` (split x subset; all four read the BigCodeBench file, the hard
ones keep the 148 ids of the Hard ids file).

Decontamination removes training problems that overlap ``humaneval``, ``humaneval+``, ``mbpp+``
and ``mbpp-test`` (the original MBPP's test split, task ids 11-510, which the ``mbpp`` training
loader must never train on either).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fgit.data.files import HUMANEVAL_FILE, MBPP_FILE, DataError, PathLike, data_file, find_data_dir

__all__ = [
    "BENCHMARKS",
    "BIGCODEBENCH_BENCHMARKS",
    "DECONTAMINATION_BENCHMARKS",
    "EVALUATION_BENCHMARKS",
    "BenchmarkData",
    "benchmark_data",
    "benchmark_file",
    "bigcodebench_files",
    "evalplus_file",
]


# Generation limit per task when none is given: fgit's evalplus default, and bigcodebench's
# (run_codegen's max_new_tokens=1280 in bigcodebench/generate.py; BigCodeBench answers are whole
# scripts with imports, often several functions long).
EVALPLUS_MAX_NEW_TOKENS = 512
BIGCODEBENCH_MAX_NEW_TOKENS = 1280


@dataclass(frozen=True)
class BenchmarkData:
    """One benchmark, declared once: where its file is in the data folder (alternatives,
    preferred first) and, for the ones evalplus loads, evalplus's dataset name; for BigCodeBench,
    the split (``"complete"``/``"instruct"``) and subset (``"full"``/``"hard"``), and for a subset
    the file of its task ids (``ids``, alternatives like ``files``).

    How results show it: ``label`` (how a reader knows it, "BigCodeBench-Hard (instruct)"),
    ``base_and_plus`` (evalplus's two columns, base and base + plus tests; plain HumanEval keeps
    the base column with the plus one empty; otherwise one pass@1 column, as BigCodeBench
    reports it), and ``max_new_tokens``, the generation limit per task when none is given."""

    name: str
    files: tuple[str, ...]
    evalplus: str | None = None
    bigcodebench: tuple[str, str] | None = None
    ids: tuple[str, ...] = ()
    label: str = ""
    base_and_plus: bool = False
    max_new_tokens: int = EVALPLUS_MAX_NEW_TOKENS


_MBPP_PLUS_FILES = ("evalplus/MbppPlus.jsonl.gz", "MbppPlus.jsonl.gz")
_BIGCODEBENCH_FILES = ("bigcodebench/BigCodeBench-v0.1.0.jsonl.gz", "BigCodeBench-v0.1.0.jsonl.gz")
_BIGCODEBENCH_HARD_IDS = ("bigcodebench/BigCodeBench-Hard-ids.txt", "BigCodeBench-Hard-ids.txt")


def _bigcodebench(split: str, subset: str) -> BenchmarkData:
    """``bigcodebench[-hard]-<split>``, upstream's ``--split`` and ``--subset``."""
    hard = subset == "hard"
    return BenchmarkData(
        "bigcodebench" + ("-hard" if hard else "") + "-" + split,
        _BIGCODEBENCH_FILES,
        bigcodebench=(split, subset),
        ids=_BIGCODEBENCH_HARD_IDS if hard else (),
        label=("BigCodeBench-Hard" if hard else "BigCodeBench") + f" ({split})",
        max_new_tokens=BIGCODEBENCH_MAX_NEW_TOKENS,
    )


BENCHMARKS: dict[str, BenchmarkData] = {
    b.name: b
    for b in (
        BenchmarkData("humaneval", (HUMANEVAL_FILE,), label="HumanEval", base_and_plus=True),
        BenchmarkData(
            "humaneval+",
            ("evalplus/HumanEvalPlus.jsonl.gz", "HumanEvalPlus.jsonl.gz"),
            "humaneval",
            label="HumanEval+",
            base_and_plus=True,
        ),
        BenchmarkData("mbpp", _MBPP_PLUS_FILES, "mbpp", label="MBPP", base_and_plus=True),
        BenchmarkData("mbpp+", _MBPP_PLUS_FILES, "mbpp", label="MBPP+", base_and_plus=True),
        BenchmarkData("mbpp-test", (MBPP_FILE,), label="MBPP (test split)"),
        *(
            _bigcodebench(split, subset)
            for subset in ("full", "hard")
            for split in ("complete", "instruct")
        ),
    )
}
BIGCODEBENCH_BENCHMARKS: tuple[str, ...] = tuple(
    name for name, data in BENCHMARKS.items() if data.bigcodebench is not None
)
EVALUATION_BENCHMARKS: tuple[str, ...] = (
    "humaneval",
    "humaneval+",
    "mbpp",
    "mbpp+",
    *BIGCODEBENCH_BENCHMARKS,
)
DECONTAMINATION_BENCHMARKS: tuple[str, ...] = ("humaneval", "humaneval+", "mbpp+", "mbpp-test")


def benchmark_data(name: str, among: tuple[str, ...] = tuple(BENCHMARKS)) -> BenchmarkData:
    """The declaration of ``name``; ValueError naming the choices when it is not one of
    ``among``."""
    if name not in among:
        raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(among)}")
    return BENCHMARKS[name]


def benchmark_file(name: str, data_dir: PathLike | None = None) -> Path:
    """The file of benchmark ``name`` in the data folder (:class:`DataError` if missing)."""
    if name == "humaneval":
        from fgit.data.files import humaneval_file

        return humaneval_file(data_dir)
    return data_file(data_dir, *benchmark_data(name).files)


def evalplus_file(name: str, data_dir: PathLike | None = None) -> Path | None:
    """The local evalplus file of ``name``, or None where there is no data folder at all (not
    named, none by default): evalplus then downloads it into its cache. A data folder that
    lacks the file is an error, not a silent download."""
    data = benchmark_data(name)
    if data.evalplus is None:
        raise ValueError(f"{name} is not an evalplus benchmark")
    found = _in_data_folder(name, data_dir, data.files)
    return None if found is None else found[0]


def bigcodebench_files(
    name: str, data_dir: PathLike | None = None
) -> tuple[Path, Path | None] | None:
    """(tasks file, ids file or None for the full set) of a BigCodeBench benchmark in the data
    folder, or None where there is no data folder at all (not named, none by default): the
    loader then downloads upstream's release files. A data folder that lacks them is an error,
    not a download."""
    data = benchmark_data(name)
    if data.bigcodebench is None:
        raise ValueError(f"{name} is not a BigCodeBench benchmark")
    found = _in_data_folder(name, data_dir, data.files, *([data.ids] if data.ids else []))
    if found is None:
        return None
    return found[0], (found[1] if data.ids else None)


def _in_data_folder(
    name: str, data_dir: PathLike | None, *alternatives: tuple[str, ...]
) -> list[Path] | None:
    """One file per group of ``alternatives`` (each preferred first) in the data folder, or
    None where there is no data folder at all (the caller's loader then downloads). A data
    folder that lacks one is a DataError, never a silent download."""
    root = find_data_dir(data_dir)
    if root is None:
        return None
    try:
        return [data_file(root, *files) for files in alternatives]
    except DataError as error:
        raise DataError(
            f"{error}: {name}'s data is not in the data folder; add it, or name another "
            "folder (--data-dir, $FGIT_DATA_DIR)"
        ) from None
