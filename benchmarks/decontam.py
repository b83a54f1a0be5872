"""Decontamination speed: 10,000 training problems (LeetCode's, the longest texts shipped,
repeated) against HumanEval(+), MBPP+ and MBPP's test split, index built included. It was a
unit test with a wall-clock bound until a loaded 2-core machine made that flaky (issue 12).

    FGIT_DATA_DIR=../shared/data python benchmarks/decontam.py
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    from fgit import problems as P
    from fgit.data import data_dir
    from fgit.decontam import BenchmarkIndex, decontaminate, load_benchmark_texts

    root = data_dir()
    items = load_benchmark_texts(data_dir=root)
    base, _ = P.leetcode(root, response="markdown")
    problems = [p.model_copy(update={"id": f"{p.id}#{n}"}) for n in range(6) for p in base]
    problems = problems[:10_000]
    start = time.perf_counter()
    index = BenchmarkIndex(items)
    indexed = time.perf_counter() - start
    _, report = decontaminate(problems, index)
    total = time.perf_counter() - start
    print(
        f"decontaminate {report.total} problems against {len(items)} benchmark tasks "
        f"({len(index)} n-grams): {total:.2f} s in all, {indexed:.2f} s of it the index; "
        f"{report.total - report.kept} removed"
    )


if __name__ == "__main__":
    sys.exit(main())
