"""`fgit run` with on-policy rounds, end to end on a tiny model that knows four answers by heart.

Sampled at a temperature the model mostly repeats them and sometimes slips, so its own attempts
pass and fail as a real model's do, and every stage of a round runs for real: sampling,
the sandbox's verdicts, pairs, training from the previous round, evaluation, the report.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fgit.pipeline import PipelineError, parse_run_config, run_pipeline
from fgit.pipeline.stages import build_plan
from fgit.records import read_pairs

PROBLEMS = [
    ("add_one", "Write a function add_one(x) that returns x plus one.",
     "def add_one(x):\n    return x + 1\n", "assert add_one(1) == 2\nassert add_one(5) == 6\n"),
    ("double", "Write a function double(x) that returns twice x.",
     "def double(x):\n    return x * 2\n", "assert double(2) == 4\nassert double(5) == 10\n"),
    ("is_even", "Write a function is_even(n) that tells whether n is even.",
     "def is_even(n):\n    return n % 2 == 0\n", "assert is_even(4)\nassert not is_even(3)\n"),
    ("last", "Write a function last(xs) that returns the last item of a list.",
     "def last(xs):\n    return xs[-1]\n", "assert last([1, 2, 3]) == 3\n"),
]  # fmt: skip


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "problems.jsonl"
    rows = [
        {"id": f"p{i}", "instruction": text, "response": answer, "tests": tests,
         "entry_point": name}
        for i, (name, text, answer, tests) in enumerate(PROBLEMS)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def memorizing_model(tmp_path_factory, problems_file) -> Path:
    """The tiny Llama, trained on evaluation's plain prompt of each problem and its answer."""
    from fgit.evaluation.problems import problem_task
    from fgit.evaluation.prompts import build_prompt
    from fgit.records import read_problems
    from fgit.testing import save_memorizing_model

    texts = []
    for problem in read_problems(problems_file):
        task = problem_task(problem)
        texts.append(build_prompt(task.prompt, None, task.dataset, "plain").text + problem.response)
    return save_memorizing_model(tmp_path_factory.mktemp("memorizer"), texts)


def onpolicy_config(model: Path, problems: Path, out: Path, **changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "rounds",
        "output_dir": str(out),
        "model": str(model),
        "problems": {"path": str(problems), "decontaminate": False},
        "selection": {"embedder": "lexical", "timeout": 10},
        "training": {
            "defaults": {
                "prompt_format": "plain",
                "prompt_template": "{instruction}",
                "max_length": 128,
                "max_steps": 2,
                "per_device_batch_size": 2,
                "learning_rate": 1e-5,
                "precision": "fp32",
                "save_steps": 1,
            },
            "runs": {"fgit": {"loss": "fgit"}, "lutra": {"loss": "dpo+sft"}},
        },
        "onpolicy": {
            "runs": ["fgit", "lutra"],
            "rounds": 2,
            "samples": 6,
            "temperature": 1.0,
            "max_new_tokens": 24,
        },
        "evaluation": {
            "benchmarks": [f"problems:{problems}"],
            "prompt": "plain",
            "max_new_tokens": 24,
            "batch_size": 8,
            "dtype": "float32",
        },
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = config
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return config


def stages_of(root: Path) -> dict[str, dict[str, Any]]:
    return json.loads((root / "manifest.json").read_text())["stages"]


def test_the_plan_of_two_runs_and_two_rounds(tmp_path, problems_file):
    config = parse_run_config(
        onpolicy_config(Path("m"), problems_file, tmp_path / "r"), "t", tmp_path
    )
    names = [stage.name for stage in build_plan(config)]
    assert names[:4] == ["problems", "onpolicy:problems", "attempts:base", "pairs:base"]
    assert "variants" not in names and "selection" not in names  # no run needs a teacher
    assert names[4:10] == [
        "train:fgit-r1", "attempts:fgit-r1", "pairs:fgit-r1", "train:fgit-r2",
        "train:lutra-r1", "attempts:lutra-r1",
    ]  # fmt: skip
    evaluations = [name for name in names if name.startswith("eval:")]
    assert [name.split(":")[1] for name in evaluations] == [
        "base",
        "fgit-r1",
        "fgit-r2",
        "lutra-r1",
        "lutra-r2",
    ]
    plan = {stage.name: stage for stage in build_plan(config)}
    assert plan["train:fgit-r2"].inputs == ("pairs:fgit-r1", "train:fgit-r1")
    assert plan["train:fgit-r2"].settings["model"] == "train:fgit-r1"  # not a path
    assert plan["train:lutra-r1"].inputs == ("pairs:base",)
    assert plan["train:lutra-r1"].settings["round"] == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"onpolicy__runs": ["nope"]}, "onpolicy.runs: nope is not a training run"),
        ({"training__runs__fgit-r1": {"loss": "sft"}}, "has the name of a round's model"),
        ({"training__runs__lutra": {"loss": "dpo+sft", "holdout_fraction": 0.2}},
         "hold out different problems"),
        ({"onpolicy__shares": {"onpolicy": 0, "teacher": 0}}, "both 0"),
        ({"training__defaults__lora": {"r": 4, "merge": False}}, "keep lora.merge true"),
        ({"evaluation__models": ["fgit-r3"]}, "fgit-r3 is not 'base'"),
    ],
)  # fmt: skip
def test_onpolicy_settings_are_checked(tmp_path, problems_file, changes, message):
    from fgit.config_file import ConfigError

    data = onpolicy_config(Path("m"), problems_file, tmp_path / "r", **changes)
    with pytest.raises(ConfigError, match=message):
        parse_run_config(data, "t", tmp_path)


def test_evaluation_models_name_a_run_for_all_its_rounds(tmp_path, problems_file):
    data = onpolicy_config(
        Path("m"), problems_file, tmp_path / "r", evaluation__models=["lutra", "fgit-r2"]
    )
    assert parse_run_config(data, "t", tmp_path).eval_models == ["lutra-r1", "lutra-r2", "fgit-r2"]
    mixed = onpolicy_config(
        Path("m"), problems_file, tmp_path / "r", onpolicy__shares={"teacher": 0.5}
    )
    names = [stage.name for stage in build_plan(parse_run_config(mixed, "t", tmp_path))]
    assert "selection" in names
    # Without on-policy runs the teacher's stages stay, even with no training run (as before).
    pairs_only = {**mixed, "onpolicy": {}, "training": {"runs": {}}}
    names = [stage.name for stage in build_plan(parse_run_config(pairs_only, "t", tmp_path))]
    assert names == ["problems", "variants", "selection", "segments",
                     f"eval:base:problems:{problems_file.name}", "report"]  # fmt: skip
    plan = {stage.name: stage for stage in build_plan(parse_run_config(mixed, "t", tmp_path))}
    assert plan["pairs:base"].inputs == ("attempts:base", "onpolicy:problems", "selection")


def test_one_more_round_keeps_every_earlier_stage_key(tmp_path, problems_file):
    """`--set onpolicy.rounds=3` on a finished two-round run only adds stages: a stage's key is
    its name, settings and inputs' digests, and none of them may depend on the round count."""

    def plan(rounds: int) -> dict[str, Any]:
        data = onpolicy_config(Path("m"), problems_file, tmp_path / "r", onpolicy__rounds=rounds)
        return {stage.name: stage for stage in build_plan(parse_run_config(data, "t", tmp_path))}

    two, three = plan(2), plan(3)
    for name, stage in two.items():
        if name == "report":  # it shows every stage, so it is written again
            continue
        assert (three[name].settings, three[name].inputs) == (stage.settings, stage.inputs), name
    assert sorted(set(three) - set(two)) == sorted(
        [f"{kind}:{run}-r2" for kind in ("attempts", "pairs") for run in ("fgit", "lutra")]
        + [f"train:{run}-r3" for run in ("fgit", "lutra")]
        + [f"eval:{run}-r3:problems:{problems_file.name}" for run in ("fgit", "lutra")]
    )


@pytest.mark.slow
def test_two_rounds_end_to_end(tmp_path, memorizing_model, problems_file):
    out = tmp_path / "run"
    config = parse_run_config(onpolicy_config(memorizing_model, problems_file, out), "t", tmp_path)
    result = run_pipeline(config, quiet=True)
    states = stages_of(out)
    assert all(record["status"] == "done" for record in states.values())
    for sampler in ("base", "fgit-r1", "lutra-r1"):
        info = states[f"pairs:{sampler}"]["info"]
        assert info["pairs"] >= 1 and 0 < info["pass_rate"] < 1, (sampler, info)
        pairs = read_pairs(out / "onpolicy" / sampler / "pairs.jsonl")
        assert all(p.selection["sampled_by"] == sampler for p in pairs)
        assert all(p.selection["source"] == "onpolicy" for p in pairs)
        assert states[f"attempts:{sampler}"]["info"]["attempts"] == 6 * len(PROBLEMS)
    # Round 2 trains from round 1's model, on round 1's model's attempts.
    r2 = json.loads((out / "train" / "fgit-r2" / "training.json").read_text())
    assert r2["config"]["model"] == str(out / "train" / "fgit-r1" / "model")
    assert r2["config"]["pairs"] == str(out / "onpolicy" / "fgit-r1" / "pairs.jsonl")
    assert states["train:lutra-r2"]["info"]["loss"] == "dpo+sft"
    for model in ("base", "fgit-r1", "fgit-r2", "lutra-r1", "lutra-r2"):
        assert (out / "eval" / model / "problems-problems.jsonl.json").is_file(), model
    html = (out / "report" / "index.html").read_text()
    assert 'id="rounds"' in html and "lutra-r2" in html

    again = run_pipeline(config, quiet=True)
    assert set(again.ran) == {"problems", "onpolicy:problems", "report"}
    assert len(again.cached) == len(result.ran) - 3


def test_a_round_without_pairs_stops_with_one_line(tmp_path, memorizing_model, problems_file):
    data = onpolicy_config(
        memorizing_model, problems_file, tmp_path / "run", onpolicy__temperature=0.01,
        onpolicy__samples=1,
    )  # fmt: skip
    with pytest.raises(PipelineError, match=r"attempts gave no pair .*every attempt passes 4"):
        run_pipeline(parse_run_config(data, "t", tmp_path), quiet=True)
    assert stages_of(tmp_path / "run")["pairs:base"]["status"] == "failed"
    assert os.path.exists(tmp_path / "run" / "onpolicy" / "base" / "pairs.jsonl.outcomes.jsonl")


@pytest.mark.slow
def test_killed_inside_a_round_it_resumes_to_the_same_digests(
    tmp_path, memorizing_model, problems_file
):
    """kill -9 while round 2 samples its attempts, and while round 2 trains (after its first
    checkpoint); each resumed run ends with the uninterrupted run's pairs, attempts and
    training losses."""
    from test_pipeline import _checkpointed, _kill_when, _lines, _run_cli, _running, write_config

    reference = tmp_path / "reference"
    data = onpolicy_config(memorizing_model, problems_file, reference)
    run_pipeline(parse_run_config(data, "t", tmp_path), quiet=True)
    expected = stages_of(reference)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for stage in ("attempts:fgit-r1", "train:lutra-r2"):
        out = tmp_path / stage.replace(":", "-")
        data = onpolicy_config(memorizing_model, problems_file, out)
        config = write_config(tmp_path / "c.yaml", data)
        run = stage.split(":")[1]
        ready = _checkpointed(out, run) if stage.startswith("train:") else _running(out, stage)
        assert _kill_when(_run_cli(config, env), ready), f"the run finished before {stage}"
        assert stages_of(out)[stage]["status"] == "running"
        resumed = _run_cli(config, env)
        _, stderr = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, stderr
        states = stages_of(out)
        assert all(record["status"] == "done" for record in states.values()), stage
        assert states[stage]["attempts"] == 2
        for name in ("onpolicy:problems", "pairs:base", "pairs:fgit-r1", "pairs:lutra-r1"):
            assert states[name]["digest"] == expected[name]["digest"], (stage, name)
        for sampler in ("base", "fgit-r1", "lutra-r1"):
            path = f"onpolicy/{sampler}/attempts.samples.jsonl"
            assert sorted(_lines(out / path)) == sorted(_lines(reference / path)), (stage, path)
        for model in ("fgit-r1", "fgit-r2", "lutra-r1", "lutra-r2"):
            log = [json.loads(x) for x in _lines(out / "train" / model / "train_log.jsonl")]
            want = [json.loads(x) for x in _lines(reference / "train" / model / "train_log.jsonl")]
            assert [r["step"] for r in log] == [r["step"] for r in want], (stage, model)
            assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in want], rel=1e-4)


def test_the_onpolicy_command_makes_pairs_of_sampled_attempts(
    tmp_path, memorizing_model, problems_file
):
    from typer.testing import CliRunner

    from fgit.cli import app

    runner = CliRunner()
    attempts = tmp_path / "attempts.json"
    sampled = runner.invoke(
        app,
        ["evaluate", "--model", str(memorizing_model), "--benchmark", f"problems:{problems_file}",
         "--n-samples", "6", "--temperature", "1.0", "--prompt-format", "plain",
         "--max-new-tokens", "24", "--dtype", "float32", "--out", str(attempts), "--quiet"],
    )  # fmt: skip
    assert sampled.exit_code == 0, sampled.output
    teacher = tmp_path / "teacher.jsonl"
    teacher.write_text(
        json.dumps({"id": "t1", "instruction": "i", "response": "r", "incorrect": "w"}) + "\n"
    )
    out = tmp_path / "pairs.jsonl"
    made = runner.invoke(
        app,
        ["onpolicy", "--attempts", str(attempts), "--problems", str(problems_file),
         "--out", str(out), "--embedder", "lexical", "--teacher-pairs", str(teacher)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    pairs = read_pairs(out)
    summary = json.loads((tmp_path / "pairs.jsonl.summary.json").read_text())
    assert summary["attempts"] == 6 * len(PROBLEMS) and summary["teacher_used"] == 1
    assert len(pairs) == summary["pairs"] == summary["onpolicy_used"] + 1 >= 2
    assert pairs[-1].id == "t1" and pairs[-1].selection["source"] == "teacher"
    assert all(p.selection["sampled_by"] == str(memorizing_model) for p in pairs[:-1])
    assert "on-policy pairs" in made.output

    bad = runner.invoke(
        app, ["onpolicy", "--attempts", str(attempts), "--problems", str(problems_file),
              "--out", str(out), "--correct", "teacher"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "teacher" in bad.output


@pytest.mark.slow
def test_a_snapshot_without_merged_weights_restores_to_a_cached_run(
    tmp_path, memorizing_model, problems_file
):
    """Two LoRA rounds; the snapshot leaves out both merged models' weights; restoring rebuilds
    them from their adapters (round 2's on round 1's rebuilt model), byte for byte here, and
    `fgit run` in the restored folder finds every stage current."""
    from fgit.pipeline.snapshot import SNAPSHOT, restore_snapshot, save_snapshot
    from fgit.pipeline.state import digest_paths

    changes = {
        "training__defaults__lora": {"r": 4, "alpha": 8},
        "training__runs": {"lutra": {"loss": "dpo+sft"}},
        "onpolicy__runs": ["lutra"],
    }
    out = tmp_path / "run"
    data = onpolicy_config(memorizing_model, problems_file, out, **changes)
    run_pipeline(parse_run_config(data, "t", tmp_path), quiet=True)
    recorded = stages_of(out)

    snap = tmp_path / "snapshot"
    record = save_snapshot(out, snap)
    assert sorted(record["dropped"]) == ["train:lutra-r1", "train:lutra-r2"]
    assert record["dropped"]["train:lutra-r2"]["start"] == "train:lutra-r1"
    assert record["dropped"]["train:lutra-r1"]["start"] == str(memorizing_model)
    for model in ("lutra-r1", "lutra-r2"):
        assert (snap / "train" / model / "adapter").is_dir()
        assert (snap / "train" / model / "model" / "config.json").is_file()
        assert not list((snap / "train" / model / "model").glob("*.safetensors"))
        assert not (snap / "train" / model / "checkpoints").exists()
    assert (snap / SNAPSHOT).is_file()

    restored = tmp_path / "restored"
    said: list[str] = []
    rebuilt = restore_snapshot(snap, restored, quiet=True, say=said.append)
    assert [(r.stage, r.matches) for r in rebuilt] == [
        ("train:lutra-r1", True),
        ("train:lutra-r2", True),
    ], said
    for model in ("lutra-r1", "lutra-r2"):  # the folder as the run left it, card included
        folder = recorded[f"train:{model}"]["outputs"]["model"]
        assert digest_paths(restored, [folder]) == digest_paths(out, [folder])
    again = run_pipeline(
        parse_run_config({**data, "output_dir": str(restored)}, "t", tmp_path), quiet=True
    )
    assert set(again.ran) == {"problems", "onpolicy:problems", "report"}

    with pytest.raises(PipelineError, match="already holds a run"):
        restore_snapshot(snap, restored, quiet=True)
    # A different adapter cannot pass for the trained one: the check can fail.
    adapter = snap / "train" / "lutra-r1" / "adapter"
    shutil.copytree(out / "train" / "lutra-r2" / "adapter", adapter, dirs_exist_ok=True)
    mismatched = restore_snapshot(snap, tmp_path / "other", quiet=True, say=said.append)
    assert [r.matches for r in mismatched] == [False, False]
    assert "NOT identical" in said[-1]
    restored_record = json.loads((tmp_path / "other" / "restored.json").read_text())
    assert restored_record["rebuilt"]["train:lutra-r1"]["identical"] is False
