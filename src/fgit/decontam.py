"""Remove training problems that leak evaluation benchmarks (HumanEval(+), MBPP+, MBPP test).

Two rules, both reported match by match so every removal can be audited:

1. **Exact MBPP id** (``mbpp-id``). A problem derived from MBPP (``source == "mbpp"`` or an id
   ``mbpp/<n>``) is removed when task ``n`` is in a selected MBPP benchmark: MBPP+ (whose 378
   tasks come from *every* MBPP split, ids 2-809) or the MBPP test split (11-510). Text matching
   alone is not enough here: a reworded or reformatted MBPP task is still the same task.
2. **Word n-gram overlap** (``ngram``). Texts are lowercased and split into word tokens (runs of
   letters, digits and ``_``; punctuation and whitespace only separate tokens). A problem is
   removed when its instruction or its response shares an ``ngram``-token sequence (default 13,
   the GPT-3 / OpenAI decontamination length) with a benchmark prompt or canonical solution, and
   that sequence holds at least ``min_informative`` (default 4) distinct *informative* tokens:
   three or more characters, not all digits, not a Python keyword or builtin name, not
   ``self``/``cls``/``typing``.

   Why the informative-token condition: with the plain rule, 13-grams of code are mostly idioms
   and literal runs that any solution may contain (``for i in range(n): for j in range(i + 1,
   n): if``, ``dp[i][j] = max(dp[i - 1][j], …)``, ``1 2 3 … 13``, ``a b c … m``). On the shipped
   data, against all four benchmarks, the plain rule removed 31 of 1,890 LeetCode problems (an
   audit found 30 of them spurious) and 137 Code Alpaca / Evol problems. With the condition, 1
   LeetCode problem is removed (find-k-pairs-with-smallest-sums, the same task as MBPP 408) and
   9 Code Alpaca / Evol ones, mostly through shared boilerplate or stock phrases (a binary-tree
   ``Node`` class, number-word tables, the textbook definition of a prime): the rule still errs
   on the side of removing. ``min_informative=0`` gives the plain rule.

   Benchmark tests are not indexed: they are mostly literals, and a problem that copies only a
   benchmark's test inputs does not teach its solution. n-grams never span the boundary between
   instruction and response, or between a benchmark's prompt and solution. Benchmark texts
   with no indexable n-gram cannot match (short canonical solutions such as
   ``return len(string)``); :attr:`BenchmarkIndex.unmatchable_texts` counts them. Prompts always
   stay covered: one without an informative n-gram (``def add(x: int, y: int): "Add two numbers
   x and y"``) has all its n-grams indexed, or, when shorter than ``ngram`` tokens, its whole
   token sequence.

Matching is set based: the benchmark n-grams are indexed once (a dict from token tuple to the
items holding it), and each problem costs one pass over its tokens plus a set intersection:
several thousand problems per second on one core.
"""

from __future__ import annotations

import builtins
import json
import keyword
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fgit.data.benchmarks import DECONTAMINATION_BENCHMARKS, benchmark_file
from fgit.problems import mbpp_split
from fgit.records import Problem, read_json_records

__all__ = [
    "BENCHMARKS",
    "DEFAULT_BENCHMARKS",
    "ROW_HEADER",
    "BenchmarkIndex",
    "BenchmarkItem",
    "DecontamReport",
    "Match",
    "decontaminate",
    "informative",
    "load_benchmark_texts",
    "mbpp_task_id",
    "tokenize",
]

PathLike = str | os.PathLike[str]

# The benchmarks a training problem must not overlap (their files: fgit.data.benchmarks).
BENCHMARKS: tuple[str, ...] = DECONTAMINATION_BENCHMARKS
DEFAULT_BENCHMARKS: tuple[str, ...] = BENCHMARKS

REASON_ID = "mbpp-id"
REASON_NGRAM = "ngram"

_TOKEN = re.compile(r"\w+")

# Tokens that say nothing about which task a text is: code vocabulary every solution uses.
_COMMON = frozenset(
    {name.lower() for name in keyword.kwlist}
    | {name.lower() for name in dir(builtins)}
    | {"self", "cls", "typing"}
)


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens: runs of letters, digits and ``_`` (punctuation separates)."""
    return _TOKEN.findall(text.lower())


def informative(token: str) -> bool:
    """Whether a token can tell tasks apart (see the module docstring)."""
    return len(token) >= 3 and not token.isdigit() and token not in _COMMON


# ---------------------------------------------------------------------------------------------
# Benchmarks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark task: the texts a training problem must not contain, and its MBPP id."""

    name: str  # benchmark: humaneval, humaneval+, mbpp+, mbpp-test
    task_id: str  # as the benchmark spells it: HumanEval/0, Mbpp/2, mbpp/11
    texts: tuple[str, ...]  # prompt and canonical solution
    mbpp_task_id: int | None = None  # the MBPP task it comes from, for the exact-id rule


def _humaneval_items(name: str, path: PathLike) -> list[BenchmarkItem]:
    return [
        BenchmarkItem(name, obj["task_id"], (obj["prompt"], obj["canonical_solution"]))
        for _, obj in read_json_records(path)
    ]


def _mbpp_plus_items(name: str, path: PathLike) -> list[BenchmarkItem]:
    items = []
    for _, obj in read_json_records(path):
        number = int(obj["task_id"].split("/")[-1])  # "Mbpp/2"
        texts = (obj["prompt"], obj["canonical_solution"])
        items.append(BenchmarkItem(name, obj["task_id"], texts, number))
    return items


def _mbpp_test_items(name: str, path: PathLike) -> list[BenchmarkItem]:
    # The prompt is the task text + its first assert, the shape of an MBPP+ prompt: long enough
    # to form n-grams where the bare text often is not. No "Your code should pass…" wording:
    # the mbpp loader's instructions carry it too, and shared template words are no leak.
    items = []
    for _, obj in read_json_records(path):
        number = int(obj["task_id"])
        if mbpp_split(number) == "test":
            prompt = f"{obj['text']}\n{obj['test_list'][0]}"
            items.append(BenchmarkItem(name, f"mbpp/{number}", (prompt, obj["code"]), number))
    return items


def load_benchmark_texts(
    names: Iterable[str] = DEFAULT_BENCHMARKS, data_dir: PathLike | None = None
) -> list[BenchmarkItem]:
    """The items of the named benchmarks (see :data:`BENCHMARKS`) from the data folder."""
    names = list(dict.fromkeys(names))  # de-duplicated, order kept
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    if not names:
        return []
    loaders = {
        "humaneval": _humaneval_items,
        "humaneval+": _humaneval_items,
        "mbpp+": _mbpp_plus_items,
        "mbpp-test": _mbpp_test_items,
    }
    items: list[BenchmarkItem] = []
    for name in names:
        items.extend(loaders[name](name, benchmark_file(name, data_dir)))
    return items


# ---------------------------------------------------------------------------------------------
# Index and matching
# ---------------------------------------------------------------------------------------------


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """The distinct n-token windows of ``tokens`` (none if there are fewer than n tokens)."""
    return set(zip(*(tokens[i:] for i in range(n)), strict=False)) if len(tokens) >= n else set()


def mbpp_task_id(problem: Problem) -> int | None:
    """The MBPP task a problem comes from: ``source == "mbpp"`` or an ``mbpp/<n>`` id."""
    prefix, _, rest = problem.id.partition("/")
    if problem.source != "mbpp" and prefix != "mbpp":
        return None
    value = problem.metadata.get("task_id", rest)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Match:
    """Why one problem was removed: one benchmark item it collides with."""

    problem_id: str
    benchmark: str
    task_id: str
    reason: str  # mbpp-id or ngram
    example: str  # a shared n-gram (normalised tokens) or the MBPP task id


class BenchmarkIndex:
    """Benchmark n-grams and MBPP ids, built once and matched against many problems.

    Only n-grams with at least ``min_informative`` distinct informative tokens are indexed, so
    the filter costs nothing per problem.
    """

    def __init__(
        self, items: Sequence[BenchmarkItem], ngram: int = 13, min_informative: int = 4
    ) -> None:
        if ngram < 1:
            raise ValueError(f"ngram must be at least 1, not {ngram}")
        if not 0 <= min_informative <= ngram:
            raise ValueError(f"min_informative must be in 0..{ngram}, not {min_informative}")
        self.items = list(items)
        self.ngram = ngram
        self.min_informative = min_informative
        self.names = list(dict.fromkeys(item.name for item in self.items))
        # Per benchmark: texts with no indexable n-gram (too short, or only idioms/literals).
        self.unmatchable_texts: Counter[str] = Counter()
        self._grams: dict[tuple[str, ...], list[int]] = {}
        self._mbpp: dict[int, list[int]] = {}
        # Prompts shorter than ``ngram`` tokens: (" joined tokens ", item), matched as phrases.
        self._short: list[tuple[str, int]] = []
        for index, item in enumerate(self.items):
            self._add(index, item)
        self._keys = frozenset(self._grams)  # set & frozenset iterates the smaller side

    def _indexable(self, gram: tuple[str, ...]) -> bool:
        wanted = self.min_informative
        return wanted == 0 or len({t for t in gram if informative(t)}) >= wanted

    def _add(self, index: int, item: BenchmarkItem) -> None:
        if item.mbpp_task_id is not None:
            self._mbpp.setdefault(item.mbpp_task_id, []).append(index)
        for position, text in enumerate(item.texts):
            tokens = tokenize(text)
            grams = [g for g in _ngrams(tokens, self.ngram) if self._indexable(g)]
            if not grams and position == 0 and tokens:
                # A prompt's own words are specific even when few informative ones are among
                # them (``def add x int y int add two numbers``): index all its n-grams, or a
                # short prompt as one phrase, so no task goes unprotected. Solutions get no
                # such fallback: a short solution is generic code.
                if len(tokens) < self.ngram:
                    self._short.append((f" {' '.join(tokens)} ", index))
                    continue
                grams = list(_ngrams(tokens, self.ngram))
            if not grams:
                self.unmatchable_texts[item.name] += 1
            for gram in grams:
                holders = self._grams.setdefault(gram, [])
                if not holders or holders[-1] != index:
                    holders.append(index)

    def __len__(self) -> int:
        """How many distinct benchmark n-grams are indexed."""
        return len(self._keys)

    def matches(self, problem: Problem) -> list[Match]:
        """Every (benchmark item, reason) the problem collides with; empty if it is clean."""
        found: list[Match] = []
        task = mbpp_task_id(problem)
        for index in self._mbpp.get(task, ()) if task is not None else ():
            item = self.items[index]
            found.append(Match(problem.id, item.name, item.task_id, REASON_ID, f"mbpp/{task}"))
        shared: dict[int, tuple[str, ...]] = {}
        for text in (problem.instruction, problem.response):
            tokens = tokenize(text)
            for gram in _ngrams(tokens, self.ngram) & self._keys:
                for index in self._grams[gram]:
                    # Keep the lexicographically first shared gram: a stable audit example.
                    if index not in shared or gram < shared[index]:
                        shared[index] = gram
            if self._short:
                # Padding with spaces makes substring search respect token boundaries.
                joined = f" {' '.join(tokens)} "
                for phrase, index in self._short:
                    if phrase in joined:
                        shared.setdefault(index, tuple(phrase.split()))
        for index in sorted(shared):
            item = self.items[index]
            example = " ".join(shared[index])
            found.append(Match(problem.id, item.name, item.task_id, REASON_NGRAM, example))
        return found


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

ROW_HEADER = ("problem", "benchmark", "task", "reason", "example")


@dataclass
class DecontamReport:
    """What :func:`decontaminate` removed, and why, match by match.

    ``removed_by_reason`` and ``removed_by_benchmark`` count *problems*; a problem that hits
    several benchmarks (HumanEval and HumanEval+ share prompts) or both rules counts under each,
    so these counts can add up to more than ``removed``. ``matches`` has one entry per
    (problem, benchmark item, reason).
    """

    ngram: int
    min_informative: int
    benchmarks: list[str]
    total: int = 0
    removed: int = 0
    removed_by_reason: dict[str, int] = field(default_factory=dict)
    removed_by_benchmark: dict[str, int] = field(default_factory=dict)
    matches: list[Match] = field(default_factory=list)
    unmatchable_texts: dict[str, int] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return self.total - self.removed

    def removed_ids(self) -> list[str]:
        """Ids of the removed problems, in input order."""
        return list(dict.fromkeys(m.problem_id for m in self.matches))

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """One row per match (columns :data:`ROW_HEADER`), for a printed audit table."""
        return [(m.problem_id, m.benchmark, m.task_id, m.reason, m.example) for m in self.matches]

    def summary(self) -> str:
        """One line: removed/kept, then removed problems per benchmark and per reason."""
        parts = [f"{self.removed} of {self.total} problems removed, {self.kept} kept"]
        parts += [f"{name}: {n}" for name, n in self.removed_by_benchmark.items()]
        parts += [f"{reason}: {n}" for reason, n in self.removed_by_reason.items()]
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kept"] = self.kept
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def decontaminate(
    problems: Iterable[Problem],
    benchmarks: Sequence[BenchmarkItem] | BenchmarkIndex,
    *,
    ngram: int | None = None,
    min_informative: int | None = None,
) -> tuple[list[Problem], DecontamReport]:
    """The problems that collide with no benchmark item (order kept), and a report.

    ``benchmarks`` is a list from :func:`load_benchmark_texts`, indexed here with ``ngram``
    (default 13) and ``min_informative`` (default 4), or a prebuilt :class:`BenchmarkIndex` to
    reuse across datasets (then its settings apply, and different ones are an error). The rules
    are described in the module docstring.
    """
    if isinstance(benchmarks, BenchmarkIndex):
        index = benchmarks
        for name, value, built in (
            ("ngram", ngram, index.ngram),
            ("min_informative", min_informative, index.min_informative),
        ):
            if value is not None and value != built:
                raise ValueError(f"{name}={value} differs from the prebuilt index's {built}")
    else:
        index = BenchmarkIndex(
            benchmarks,
            ngram=13 if ngram is None else ngram,
            min_informative=4 if min_informative is None else min_informative,
        )
    report = DecontamReport(
        ngram=index.ngram,
        min_informative=index.min_informative,
        benchmarks=list(index.names),
        unmatchable_texts=dict(index.unmatchable_texts),
    )
    by_reason: Counter[str] = Counter()
    by_benchmark: Counter[str] = Counter()
    kept: list[Problem] = []
    for problem in problems:
        report.total += 1
        found = index.matches(problem)
        if not found:
            kept.append(problem)
            continue
        report.removed += 1
        report.matches.extend(found)
        by_reason.update({m.reason for m in found})
        by_benchmark.update({m.benchmark for m in found})
    report.removed_by_reason = dict(by_reason.most_common())
    report.removed_by_benchmark = {n: by_benchmark[n] for n in index.names if by_benchmark[n]}
    return kept, report
