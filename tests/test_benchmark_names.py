"""BigCodeBench's four names everywhere a benchmark is named: labels, `fgit evaluate`'s help,
`fgit run`'s config and stage keys, the results table, `fgit compare` and the HTML report."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from fgit.cli import app
from fgit.evaluation.benchmark_names import (
    BIGCODEBENCH_BENCHMARKS,
    benchmark_display,
    benchmark_label,
    bigcodebench_split,
    bigcodebench_subset,
    default_max_new_tokens,
    has_base_and_plus,
)
from fgit.evaluation.compare import compare_runs, render_comparison
from fgit.evaluation.results import EvalRun, build_run
from fgit.evaluation.scores import TaskScore
from fgit.pipeline import parse_run_config
from fgit.pipeline.config import load_run_config
from fgit.pipeline.stages import build_plan
from fgit.pipeline.state import stage_key
from fgit.training.config import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
AGREED = (
    "bigcodebench-complete",
    "bigcodebench-instruct",
    "bigcodebench-hard-complete",
    "bigcodebench-hard-instruct",
)


@pytest.fixture
def registered(monkeypatch) -> None:
    """The four names in the evaluation registry. The BigCodeBench loader's registry entry
    (fgit.data.benchmarks, issue 13) adds them; until it has, they are added for the test."""
    from fgit.data import benchmarks

    missing = tuple(n for n in AGREED if n not in benchmarks.EVALUATION_BENCHMARKS)
    if missing:
        monkeypatch.setattr(
            benchmarks, "EVALUATION_BENCHMARKS", benchmarks.EVALUATION_BENCHMARKS + missing
        )


def test_the_agreed_names_their_split_subset_and_label():
    assert BIGCODEBENCH_BENCHMARKS == AGREED
    assert [(bigcodebench_split(n), bigcodebench_subset(n)) for n in AGREED] == [
        ("complete", "full"),
        ("instruct", "full"),
        ("complete", "hard"),
        ("instruct", "hard"),
    ]
    assert [benchmark_label(n) for n in AGREED] == [
        "BigCodeBench (complete)",
        "BigCodeBench (instruct)",
        "BigCodeBench-Hard (complete)",
        "BigCodeBench-Hard (instruct)",
    ]
    assert bigcodebench_split("humaneval+") is None and bigcodebench_subset("mbpp") is None
    assert benchmark_label("humaneval+") == "HumanEval+" and benchmark_label("x:y") == "x:y"
    assert [has_base_and_plus(n) for n in ("humaneval", "mbpp+", AGREED[3])] == [1, 1, 0]
    # bigcodebench/generate.py: run_codegen(max_new_tokens=1280); evalplus benchmarks keep 512
    assert [default_max_new_tokens(n) for n in (*AGREED, "humaneval+")] == [1280] * 4 + [512]


def test_the_readers_read_the_registry_and_handle_problems_files(monkeypatch):
    """Each fact has one home, the registry: a changed declaration is what every reader says.
    A ``problems:`` benchmark is not declared: its name, one column, the evalplus default."""
    from dataclasses import replace

    from fgit.data import BENCHMARKS

    declared = replace(BENCHMARKS["mbpp+"], label="M+", base_and_plus=False, max_new_tokens=7)
    monkeypatch.setitem(BENCHMARKS, "mbpp+", declared)
    assert (benchmark_label("mbpp+"), has_base_and_plus("mbpp+")) == ("M+", False)
    assert default_max_new_tokens("mbpp+") == 7 and benchmark_display("mbpp+") == "M+ · mbpp+"
    declared_bcb = tuple(n for n, b in BENCHMARKS.items() if b.bigcodebench)
    assert declared_bcb == BIGCODEBENCH_BENCHMARKS
    name = "problems:mine.jsonl"
    assert (benchmark_label(name), benchmark_display(name), has_base_and_plus(name)) == (
        name,
        name,
        False,
    )
    assert default_max_new_tokens(name) == 512 and bigcodebench_split(name) is None
    assert benchmark_display("humaneval+") == "humaneval+"  # evalplus's names as they are
    assert benchmark_display(AGREED[3]) == "BigCodeBench-Hard (instruct) · " + AGREED[3]


def test_evaluate_help_lists_the_names():
    result = CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for name in AGREED:
        assert name in text
    assert "BigCodeBench 1280" in text


# ------------------------------------------------------------------------------------ fgit run

CONFIG: dict[str, Any] = {
    "name": "bcb",
    "output_dir": "out",
    "model": "qwen2.5-coder-0.5b-instruct",
    "problems": {"preset": "mbpp"},
    "training": {"runs": {"sft": {"loss": "sft"}}},
}


def _eval_stages(config: Any) -> dict[str, Any]:
    return {s.name: s for s in build_plan(config) if s.name.startswith("eval:")}


def test_run_config_takes_the_names_and_their_token_defaults(tmp_path, registered):
    benchmarks = ["humaneval+", "bigcodebench-hard-instruct", "bigcodebench-complete"]
    config = parse_run_config({**CONFIG, "evaluation": {"benchmarks": benchmarks}}, "t", tmp_path)
    stages = _eval_stages(config)
    assert list(stages) == [f"eval:{m}:{b}" for m in ("base", "sft") for b in benchmarks]
    hard = stages["eval:base:bigcodebench-hard-instruct"]
    assert hard.settings["max_new_tokens"] == 1280 and hard.settings["benchmark"] == benchmarks[1]
    assert hard.outputs["results"] == "eval/base/bigcodebench-hard-instruct.json"
    assert stages["eval:base:humaneval+"].settings["max_new_tokens"] == 512
    # a number in the config applies to every benchmark
    fixed = {**CONFIG, "evaluation": {"benchmarks": benchmarks, "max_new_tokens": 700}}
    stages = _eval_stages(parse_run_config(fixed, "t", tmp_path))
    assert {s.settings["max_new_tokens"] for s in stages.values()} == {700}


@pytest.mark.parametrize(
    ("benchmarks", "message"),
    [
        (["bigcodebench"], "unknown benchmark 'bigcodebench'; choose from humaneval"),
        (["bigcodebench-hard"], "bigcodebench-hard-instruct"),  # the choices are listed
        (["mbpp+", "mbpp+"], "appears twice"),
    ],
)
def test_run_config_refuses_unknown_benchmarks(tmp_path, registered, benchmarks, message):
    with pytest.raises(ConfigError, match=message):
        parse_run_config({**CONFIG, "evaluation": {"benchmarks": benchmarks}}, "t", tmp_path)


def test_run_config_refuses_plain_prompts_on_the_instruct_split(tmp_path, registered):
    evaluation = {"benchmarks": ["bigcodebench-hard-instruct"], "prompt": "plain"}
    with pytest.raises(ConfigError, match="bigcodebench-hard-instruct has prose prompts"):
        parse_run_config({**CONFIG, "evaluation": evaluation}, "t", tmp_path)
    evaluation["benchmarks"] = ["bigcodebench-hard-complete"]
    assert parse_run_config({**CONFIG, "evaluation": evaluation}, "t", tmp_path)


# Evaluation stage keys computed before BigCodeBench's names and per-benchmark token defaults
# existed: an existing run's evaluations must not rerun. (16 hex digits, inputs left out.)
EVAL_STAGE_KEYS = {
    ("cpu-quickstart.yaml", "eval:base:humaneval"): "a8dcfce9aade5086",
    ("cpu-qwen0.5b-mbpp.yaml", "eval:base:humaneval+"): "616a9af6f2861028",
    ("cpu-qwen0.5b-mbpp.yaml", "eval:fgit-lr4e-4:mbpp+"): "83cfb0035731e7d6",
    ("paper.yaml", "eval:base:mbpp"): "76b1816097c835fc",
    ("paper.yaml", "eval:dpo:humaneval+"): "be87438db28227e9",
    ("single-gpu-qwen0.5b.yaml", "eval:fgit:mbpp+"): "bc5884c64c2907a4",
}
# A config that leaves evaluation.max_new_tokens unset (the default was a fixed 512).
DEFAULT_EVAL_KEYS = {
    "eval:base:humaneval+": "b24506c6734228ea",
    "eval:base:mbpp+": "3e4aa933fc3a817e",
    "eval:sft:humaneval+": "50f8435fb0537814",
    "eval:sft:mbpp+": "ff9863f686e76719",
}


def _keys(config: Any) -> dict[str, str]:
    return {name: stage_key(name, s.settings, {})[:16] for name, s in _eval_stages(config).items()}


def test_evaluation_stage_keys_are_unchanged():
    keys = {}
    for name in sorted({name for name, _ in EVAL_STAGE_KEYS}):
        keys |= {
            (name, stage): key for stage, key in _keys(load_run_config(EXAMPLES / name)).items()
        }
    assert {k: keys[k] for k in EVAL_STAGE_KEYS} == EVAL_STAGE_KEYS
    config = parse_run_config({**CONFIG, "output_dir": "/tmp/x"}, "t", Path("/tmp"))
    assert _keys(config) == DEFAULT_EVAL_KEYS


# ------------------------------------------------------------------- results, compare, report


def _run(model: str, verdicts: str, benchmark: str = "bigcodebench-hard-instruct") -> EvalRun:
    names = {"P": "passed", "F": "failed", "T": "timeout"}
    scores = [
        TaskScore(f"BigCodeBench/{i}", names[v], None, "" if v == "P" else "AssertionError")
        for i, v in enumerate(verdicts)
    ]
    return build_run(
        model=model,
        benchmark=benchmark,
        scores=scores,
        data={"source": "BigCodeBench-v0.1.0.jsonl.gz", "version": "v0.1.0", "sha256": "ab"},
        sanitizer="bigcodebench.sanitize (bigcodebench 0.2.5, vendored)",
        versions={"fgit": "0"},
        created=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )


def test_compare_shows_the_label_and_one_pass_at_1_column():
    comparison = compare_runs([_run("base", "PFFT"), _run("fgit", "PPFF")])
    console = Console(record=True, width=160)
    console.print(render_comparison(comparison))
    text = " ".join(console.export_text().split())  # titles wrap to the table's width
    assert "BigCodeBench-Hard (instruct) · bigcodebench-hard-instruct · 4 tasks" in text
    assert "pass@1 base" not in text and "pass@1" in text and "Δ pp (95% CI)" in text
    assert "25.0%" in text and "50.0%" in text
    assert "(verdicts of each run)" in text and "BigCodeBench/1" in text


def _benchmark_html(benchmark: str, runs: dict[str, EvalRun]) -> str:
    """The report's headline table of one benchmark, then its task-by-task details."""
    from pathlib import Path

    from fgit.report.html import _evaluation_section, _headline_html, benchmark_results
    from fgit.report.load import ReportInputs

    inputs = ReportInputs(Path("run"), {}, evaluations={benchmark: runs})
    [result] = benchmark_results(inputs)
    return _headline_html(result) + _evaluation_section(inputs, [result])


def test_report_shows_the_label_and_one_pass_at_1_column():
    from fgit.report.plots import evaluation_plot

    runs = {"base": _run("base", "PFFT"), "fgit": _run("fgit", "PPFF")}
    html = _benchmark_html("bigcodebench-hard-instruct", runs)
    assert html.startswith(
        "<h3>BigCodeBench-Hard (instruct) · bigcodebench-hard-instruct · 4 tasks</h3>"
    )
    assert "<th>pass@1</th>" in html and "pass@1 plus" not in html and "pass@1 base" not in html
    assert "McNemar p</th>" in html and "Verdicts;" in html
    alone = _benchmark_html(
        "bigcodebench-complete", {"base": _run("b", "PF", "bigcodebench-complete")}
    )
    assert "<th>pass@1</th>" in alone and "pass@1 plus" not in alone
    scores = {"bigcodebench-hard-instruct": {m: (r.pass_at_1_base, None) for m, r in runs.items()}}
    assert (evaluation_plot(scores) or b"").startswith(b"\x89PNG")


def test_sampled_rows_of_one_test_set_name_the_benchmark_and_no_base_column():
    """n > 1 samples on BigCodeBench: the label with the name, ``pass@k`` rows and
    ``failures (samples)``, as the greedy rows, never "base"."""
    from fgit.evaluation.results import summary_rows

    names = {"P": "passed", "F": "failed"}
    sample_scores = [
        [TaskScore(f"BigCodeBench/{i}", names[v], None, "") for v in task]
        for i, task in enumerate(["PF", "FF"])
    ]
    run = build_run(
        model="m",
        benchmark="bigcodebench-hard-instruct",
        sample_scores=sample_scores,
        ks=[1, 2],
        data={"source": "BigCodeBench-v0.1.0.jsonl.gz", "version": "v0.1.0", "sha256": "ab"},
        versions={"fgit": "0"},
        created=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )
    rows = dict(summary_rows(run))
    assert rows["benchmark"] == "BigCodeBench-Hard (instruct) · bigcodebench-hard-instruct"
    assert rows["pass@1"] == "25.0%" and rows["pass@2"] == "50.0%"
    assert rows["failures (samples): failed"] == "3"
    assert not [key for key in rows if "base" in key or "plus" in key]
