"""Data access in one place: the data folder and its files (:mod:`fgit.data.files`), the
benchmark registry (:mod:`fgit.data.benchmarks`) and building training problems from a dataset
(:mod:`fgit.data.build`)."""

from fgit.data.benchmarks import (
    BENCHMARKS,
    BIGCODEBENCH_BENCHMARKS,
    DECONTAMINATION_BENCHMARKS,
    EVALUATION_BENCHMARKS,
    BenchmarkData,
    benchmark_data,
    benchmark_file,
    bigcodebench_files,
    evalplus_file,
)
from fgit.data.files import (
    ENV_VAR,
    DataError,
    data_dir,
    data_file,
    default_data_dir,
    find_data_dir,
    humaneval_file,
)

__all__ = [
    "BENCHMARKS",
    "BIGCODEBENCH_BENCHMARKS",
    "DECONTAMINATION_BENCHMARKS",
    "ENV_VAR",
    "EVALUATION_BENCHMARKS",
    "BenchmarkData",
    "DataError",
    "benchmark_data",
    "benchmark_file",
    "bigcodebench_files",
    "data_dir",
    "data_file",
    "default_data_dir",
    "evalplus_file",
    "find_data_dir",
    "humaneval_file",
]
