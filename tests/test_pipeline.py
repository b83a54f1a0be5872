"""`fgit run`: config checks, stage keys and caching, resume after kill -9, one-line errors.

The end-to-end runs use a tiny Llama saved to a folder (a real fast tokenizer), HumanEval's
training half as problems, mutation variants and a few tasks of the held-out half.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fgit.cli import app
from fgit.pipeline import PipelineError, load_run_config, parse_run_config, run_pipeline
from fgit.pipeline.config import train_config
from fgit.pipeline.quickstart import quickstart_config, quickstart_text
from fgit.pipeline.stages import build_plan
from fgit.pipeline.state import Manifest, digest_paths, run_lock, stage_key
from fgit.records import read_pairs
from fgit.training.config import ConfigError, LoraSettings

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from fgit.testing import save_tiny_model

    folder = tmp_path_factory.mktemp("tiny-model")
    save_tiny_model(folder)
    return folder


def tiny_config(model: Path, out: Path, data: Path, **changes: Any) -> dict[str, Any]:
    """A whole pipeline that runs in seconds on the tiny model."""
    config: dict[str, Any] = {
        "name": "tiny",
        "label": "test run",
        "output_dir": str(out),
        "model": str(model),
        "data_dir": str(data),
        "problems": {"preset": "humaneval-train", "decontaminate": False, "limit": 10},
        "variants": {"teacher": "mutation", "k": 3},
        "selection": {"embedder": "lexical", "timeout": 10},
        "segments": {"examples": 3},
        "training": {
            "defaults": {
                "prompt_format": "plain",
                "prompt_template": "{instruction}",
                "max_length": 256,
                "max_steps": 2,
                "per_device_batch_size": 2,
                "learning_rate": 1e-3,
                "precision": "fp32",
                "save_steps": 1,
            },
            "runs": {"sft": {"loss": "sft"}, "fgit": {"loss": "fgit"}},
        },
        "evaluation": {
            "benchmarks": ["humaneval"],
            "tasks": "heldout-half",
            "prompt": "plain",
            "max_new_tokens": 8,
            "batch_size": 4,
            "dtype": "float32",
            "limit": 3,
        },
    }
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = config
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def stage_states(root: Path) -> dict[str, dict[str, Any]]:
    return json.loads((root / "manifest.json").read_text())["stages"]


# ------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("name", ["cpu-quickstart.yaml", "paper.yaml", "single-gpu-qwen0.5b.yaml"])
def test_example_configs_are_valid(name):
    config = load_run_config(EXAMPLES / name)
    assert config.training.runs and config.evaluation.benchmarks
    assert config.output_dir.is_absolute()  # relative to the file


def test_paper_example_is_the_paper_setting():
    config = load_run_config(EXAMPLES / "paper.yaml")
    assert config.variants.teacher.startswith("openai:Qwen/Qwen2.5-Coder-32B-Instruct@")
    assert config.variants.k == 3 and config.variants.temperature == 0.8
    assert config.problems.preset == "evol-codealpaca" and config.problems.decontaminate
    assert config.training.launcher == "accelerate"
    ddp = yaml.safe_load(config.training.accelerate_config.read_text())
    assert ddp["num_processes"] == 8
    fgit = config.training.defaults | config.training.runs["fgit"]
    assert (fgit["learning_rate"], fgit["epochs"], fgit["max_length"]) == (5e-6, 1, 1024)


def test_embedded_quickstart_is_the_example_file(tmp_path):
    assert quickstart_text() == (EXAMPLES / "cpu-quickstart.yaml").read_text()
    config = quickstart_config(tmp_path / "qs")
    assert config.output_dir == (tmp_path / "qs").resolve()
    assert config.evaluation.tasks == "heldout-half" and config.problems.preset == "humaneval-train"
    assert config.label and "smoke demonstration" in config.label.lower()


def test_overrides_are_merged_and_checked(tmp_path):
    config = quickstart_config(tmp_path, {"training": {"defaults": {"max_steps": 3}}})
    assert config.training.defaults["max_steps"] == 3
    assert config.training.defaults["learning_rate"] == 5e-5  # the rest is kept
    with pytest.raises(ConfigError, match=r"^--set: training\.runs\.fgit\.alpha: should be "):
        quickstart_config(tmp_path, {"training": {"runs": {"fgit": {"alpha": 0.5}}}})


def test_a_runs_keys_are_deep_merged_on_training_defaults(tmp_path):
    data = yaml.safe_load(quickstart_text())
    data["output_dir"] = str(tmp_path)
    data["training"]["defaults"]["lora"] = {"r": 16, "alpha": 64}
    data["training"]["runs"]["fgit"]["lora"] = {"r": 8}
    config = parse_run_config(data, "t", tmp_path)
    assert train_config(config, "fgit").lora == LoraSettings(r=8, alpha=64)
    assert train_config(config, "sft").lora == LoraSettings(r=16, alpha=64)


def test_a_shared_default_that_a_runs_loss_ignores_names_its_origin(tmp_path):
    data = yaml.safe_load(quickstart_text())
    data["training"]["defaults"]["beta"] = 0.2
    data["training"]["runs"] = {"sft": {"loss": "sft"}, "dpo": {"loss": "dpo"}}
    with pytest.raises(ConfigError) as info:
        parse_run_config(data, "t", tmp_path)
    message = str(info.value)
    # Said where it is written (defaults), naming the run it breaks.
    assert message.startswith("t: training.defaults.beta: 0.2 has no effect with loss sft")
    assert message.endswith("(in run sft)") and "dpo" not in message.split("only")[1]
    data["training"]["runs"]["sft"]["beta"] = 0.1  # the run's own default wins: allowed
    assert train_config(parse_run_config(data, "t", tmp_path), "dpo").beta == 0.2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"problems": {"preset": None}}, "exactly one of preset and path"),
        ({"varaints": {}}, "varaints: unknown setting; did you mean variants?"),
        ({"training": {"runs": {"x": {"pairs": "a.jsonl"}}}}, "x.pairs: the pipeline sets this"),
        ({"training": {"runs": {"base": {}}}}, "'base' is the untrained model"),
        ({"evaluation": {"models": ["dpo"]}}, "dpo is not 'base' or a training run"),
        ({"evaluation": {"tasks": "all"}}, "would score the training data"),
        ({"problems": {"preset": "mbpp", "decontaminate": True}}, "needs problems.preset"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, change, message):
    data = yaml.safe_load(quickstart_text())
    for key, value in change.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path = write_config(tmp_path / "bad.yaml", data)
    with pytest.raises(ConfigError, match=message) as error:
        load_run_config(path)
    assert str(path) in str(error.value)


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nproblems:\n  preset: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+: not valid YAML"):
        load_run_config(path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_run_config(tmp_path / "missing.yaml")


# ------------------------------------------------------------------------------------ state


# The training stages' keys of the example configs, as computed before the settings moved to one
# declaration (issue 12): a change here reruns every existing run's training, so it must be
# deliberate. Inputs are left out (they are the upstream stages' digests); 16 hex digits suffice.
TRAIN_STAGE_KEYS = {
    ("cpu-quickstart.yaml", "train:sft"): "91773969745b80ca",
    ("cpu-quickstart.yaml", "train:fgit"): "55ca6b64de7c2fc7",
    ("paper.yaml", "train:sft"): "6165b916524adc1d",
    ("paper.yaml", "train:fgit"): "8623c6939cad19b9",
    ("paper.yaml", "train:dpo"): "171db31040a51bfa",
    ("single-gpu-qwen0.5b.yaml", "train:sft"): "afb3d09851ee5d8d",
    ("single-gpu-qwen0.5b.yaml", "train:fgit"): "f34f102eb45a9702",
    # the experiment's learning-rate sweep (docs/results.md); its DPO run is added by
    # examples/cpu-qwen0.5b-mbpp.sh once the sweep has chosen a rate
    ("cpu-qwen0.5b-mbpp.yaml", "train:sft-lr1e-4"): "009b2fb244d164ee",
    ("cpu-qwen0.5b-mbpp.yaml", "train:sft-lr4e-4"): "880b4f477c628d49",
    ("cpu-qwen0.5b-mbpp.yaml", "train:fgit-lr1e-4"): "57c603ff7debaba5",
    ("cpu-qwen0.5b-mbpp.yaml", "train:fgit-lr4e-4"): "e99aa689474a17d8",
    # the on-policy experiment (issue 15), resumed across sessions from its stage cache
    ("cpu-qwen0.5b-onpolicy.yaml", "train:codelutra-r1"): "c6841149ebf3229f",
    ("cpu-qwen0.5b-onpolicy.yaml", "train:codelutra-r2"): "f0c22fae8425e1fd",
    ("cpu-qwen0.5b-onpolicy.yaml", "train:fgit-onpolicy-r1"): "3ea6825258c9cc62",
    ("cpu-qwen0.5b-onpolicy.yaml", "train:fgit-onpolicy-r2"): "5f6492cf6f8ac06d",
}


def _train_keys(config: Any) -> dict[str, str]:
    return {
        stage.name: stage_key(stage.name, stage.settings, {})[:16]
        for stage in build_plan(config)
        if stage.name.startswith("train:")
    }


def test_training_stage_keys_of_the_examples_are_unchanged(tmp_path):
    keys = {}
    for name in sorted({name for name, _ in TRAIN_STAGE_KEYS}):
        keys |= {
            (name, stage): key
            for stage, key in _train_keys(load_run_config(EXAMPLES / name)).items()
        }
    assert keys == TRAIN_STAGE_KEYS
    quickstart = {
        s: k for (name, s), k in TRAIN_STAGE_KEYS.items() if name == "cpu-quickstart.yaml"
    }
    assert _train_keys(quickstart_config(tmp_path / "qs")) == quickstart  # the embedded copy


def test_the_onpolicy_experiment_shares_the_teacher_experiments_problems_and_evaluation():
    """Its results are compared task by task with cpu-qwen0.5b-mbpp.yaml's arms (docs/results.md),
    so everything but the runs must be the same; and it must not need that run's teacher."""
    teacher = load_run_config(EXAMPLES / "cpu-qwen0.5b-mbpp.yaml")
    onpolicy = load_run_config(EXAMPLES / "cpu-qwen0.5b-onpolicy.yaml")
    assert onpolicy.model == teacher.model
    assert onpolicy.problems == teacher.problems
    assert onpolicy.training.defaults == teacher.training.defaults
    assert onpolicy.evaluation.model_copy(update={"models": None}) == teacher.evaluation
    assert onpolicy.selection.embedder == teacher.selection.embedder
    assert not onpolicy.needs_teacher
    assert onpolicy.teacher_runs == []
    plan = [stage.name for stage in build_plan(onpolicy)]
    assert "variants" not in plan and "selection" not in plan
    assert [name for name in plan if name.startswith("eval:")] == [
        "eval:codelutra-r2:humaneval+",
        "eval:codelutra-r2:mbpp+",
        "eval:fgit-onpolicy-r2:humaneval+",
        "eval:fgit-onpolicy-r2:mbpp+",
    ]


def test_stage_key_depends_on_settings_and_inputs():
    key = stage_key("variants", {"k": 3}, {"problems": "a"})
    assert key == stage_key("variants", {"k": 3}, {"problems": "a"})
    assert key != stage_key("variants", {"k": 4}, {"problems": "a"})
    assert key != stage_key("variants", {"k": 3}, {"problems": "b"})
    assert key != stage_key("selection", {"k": 3}, {"problems": "a"})


def test_digest_covers_names_and_contents(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("1")
    first = digest_paths(tmp_path, ["d"])
    (tmp_path / "d" / "a.txt").write_text("2")
    assert digest_paths(tmp_path, ["d"]) != first
    before = digest_paths(tmp_path, ["d"])
    (tmp_path / "d" / "a.txt").rename(tmp_path / "d" / "b.txt")
    assert digest_paths(tmp_path, ["d"]) != before  # same bytes under another name
    with pytest.raises(PipelineError, match="missing"):
        digest_paths(tmp_path, ["nothing-here.json"])


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    with (
        run_lock(tmp_path),
        pytest.raises(PipelineError, match="in use by another"),
        run_lock(tmp_path),
    ):
        pass
    with run_lock(tmp_path):  # released
        pass


def test_a_foreign_manifest_is_not_overwritten(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(PipelineError, match="not valid JSON"):
        Manifest.open(tmp_path, {})
    assert (tmp_path / "manifest.json").read_text() == "{not json"


# ------------------------------------------------------------------------------------ runs


def test_pipeline_caches_and_reruns_only_what_a_change_touches(
    tmp_path, tiny_model_dir, shared_data
):
    out = tmp_path / "run"
    config = parse_run_config(tiny_config(tiny_model_dir, out, shared_data), "t", tmp_path)
    with pytest.raises(PipelineError, match="--until nothing: no such stage"):
        run_pipeline(config, quiet=True, until="nothing")
    part = run_pipeline(config, quiet=True, until="selection")
    assert part.ran == ["problems", "variants", "selection"] and part.report is None
    assert set(stage_states(out)) == {"problems", "variants", "selection"}
    first = run_pipeline(config, quiet=True)
    states = stage_states(out)
    assert all(record["status"] == "done" for record in states.values()), states
    assert {"variants", "selection"} <= set(first.cached)
    assert set(first.ran) | {"variants", "selection"} == set(states)
    names = list(states)
    assert names[:4] == ["problems", "variants", "selection", "segments"]
    assert {"train:sft", "train:fgit", "eval:base:humaneval", "eval:fgit:humaneval"} <= set(names)
    assert first.report is not None and first.report.is_file()
    pairs = read_pairs(out / "selection" / "pairs.jsonl")
    # 2 steps of 2 pairs: the pairs trained on, not the pairs available (issue 14)
    info = states["train:fgit"]["info"]
    assert info["steps"] == 2 and 0 < info["pairs_available"] <= len(pairs)
    assert info["pairs_seen"] == min(4, info["pairs_available"]) and "pairs_used" not in info
    page = first.report.read_text(encoding="utf-8")
    row = f'<code>fgit</code></td><td class="num">2</td><td>{info["pairs_seen"]}</td>'
    assert row in page
    assert pairs and all(p.id.startswith("HumanEval/") for p in pairs)
    evaluated = json.loads((out / "eval" / "fgit" / "humaneval.json").read_text())
    heldout = {t["task_id"] for t in evaluated["tasks"]}
    assert len(heldout) == 3 and not heldout & {p.id for p in pairs}  # halves never mix

    again = run_pipeline(config, quiet=True)
    assert again.ran == ["problems", "report"]  # the cheap stages that always run
    assert stage_states(out)["train:fgit"]["digest"] == states["train:fgit"]["digest"]

    changed = tiny_config(tiny_model_dir, out, shared_data)
    changed["training"]["runs"]["fgit"]["alpha"] = 3.0
    third = run_pipeline(parse_run_config(changed, "t", tmp_path), quiet=True)
    assert set(third.ran) == {"problems", "train:fgit", "eval:fgit:humaneval", "report"}

    changed["variants"]["k"] = 2
    fourth = run_pipeline(parse_run_config(changed, "t", tmp_path), quiet=True)
    assert "eval:base:humaneval" in fourth.cached  # the base model does not read the pairs
    assert {"variants", "selection", "segments", "train:sft", "train:fgit"} <= set(fourth.ran)

    forced = run_pipeline(parse_run_config(changed, "t", tmp_path), force=["eval:*"], quiet=True)
    assert {"eval:base:humaneval", "eval:sft:humaneval", "eval:fgit:humaneval"} <= set(forced.ran)


def test_a_run_removed_then_added_back_is_cached_not_trained_again(
    tmp_path, tiny_model_dir, shared_data
):
    """A script that first runs part of a config (without a run) and later the whole config
    must not retrain or re-evaluate that run each time (issue 11's resume lost DPO this way)."""
    out = tmp_path / "run"
    both = tiny_config(tiny_model_dir, out, shared_data)
    run_pipeline(parse_run_config(both, "t", tmp_path), quiet=True)
    trained = stage_states(out)["train:fgit"]

    only_sft = tiny_config(tiny_model_dir, out, shared_data)
    del only_sft["training"]["runs"]["fgit"]
    run_pipeline(parse_run_config(only_sft, "t", tmp_path), quiet=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any("fgit" in name for name in manifest["stages"])  # the report shows sft only
    assert {"train:fgit", "eval:fgit:humaneval"} <= set(manifest["retired"])

    again = run_pipeline(parse_run_config(both, "t", tmp_path), quiet=True)
    assert {"train:fgit", "eval:fgit:humaneval"} <= set(again.cached)
    states = stage_states(out)
    assert states["train:fgit"] == trained
    assert list(states).index("train:fgit") < list(states).index("eval:base:humaneval")
    assert json.loads((out / "manifest.json").read_text())["retired"] == {}

    changed = tiny_config(tiny_model_dir, out, shared_data)
    del changed["training"]["runs"]["fgit"]
    run_pipeline(parse_run_config(changed, "t", tmp_path), quiet=True)
    changed["training"]["runs"]["fgit"] = {"loss": "fgit", "alpha": 3.0}  # back, other settings
    last = run_pipeline(parse_run_config(changed, "t", tmp_path), quiet=True)
    assert {"train:fgit", "eval:fgit:humaneval"} <= set(last.ran)


def _run_cli(config: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fgit", "run", str(config), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _kill_when(process: subprocess.Popen, ready: Callable[[], bool]) -> bool:
    """SIGKILL the run as soon as ``ready()``; False if the run ended first."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            hit = ready()
        except (FileNotFoundError, json.JSONDecodeError):
            hit = False
        if hit:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.01)
    process.wait()
    return False


def _running(root: Path, stage: str) -> Callable[[], bool]:
    return lambda: stage_states(root).get(stage, {}).get("status") == "running"


def _checkpointed(root: Path, run: str) -> Callable[[], bool]:
    return lambda: any((root / "train" / run / "checkpoints").glob("step-*/*.json"))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.slow
def test_kill_9_at_any_stage_then_resume_loses_and_duplicates_nothing(
    tmp_path, tiny_model_dir, shared_data
):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = tmp_path / "reference"
    run_pipeline(
        parse_run_config(tiny_config(tiny_model_dir, reference, shared_data), "t", tmp_path),
        quiet=True,
    )
    expected = stage_states(reference)
    for stage in ("variants", "selection", "train:fgit", "eval:sft:humaneval"):
        out = tmp_path / stage.replace(":", "-")
        config = write_config(tmp_path / "c.yaml", tiny_config(tiny_model_dir, out, shared_data))
        # Training is killed mid-way: right after its first checkpoint.
        ready = _checkpointed(out, "fgit") if stage == "train:fgit" else _running(out, stage)
        assert _kill_when(_run_cli(config, env), ready), f"the run finished before {stage}"
        states = stage_states(out)
        assert states[stage]["status"] == "running", (stage, states)
        resumed = _run_cli(config, env)
        _, stderr = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, stderr
        states = stage_states(out)
        assert all(record["status"] == "done" for record in states.values())
        for name in ("problems", "variants", "selection", "segments"):
            assert states[name]["digest"] == expected[name]["digest"], (stage, name)
        for path in ("variants/variants.jsonl", "selection/pairs.jsonl.candidates.jsonl",
                     "eval/sft/humaneval.samples.jsonl"):  # fmt: skip
            assert sorted(_lines(out / path)) == sorted(_lines(reference / path)), (stage, path)
        for run in ("sft", "fgit"):
            log = [json.loads(line) for line in _lines(out / "train" / run / "train_log.jsonl")]
            want = [json.loads(x) for x in _lines(reference / "train" / run / "train_log.jsonl")]
            assert [r["step"] for r in log] == [r["step"] for r in want]
            assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in want], rel=1e-4)


# ------------------------------------------------------------------------------------ errors


def one_line_error(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[-1]


def test_cli_errors_are_one_line(tmp_path, tiny_model_dir, shared_data):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [\n")
    assert "broken.yaml:" in one_line_error("run", str(broken))

    unknown = write_config(
        tmp_path / "unknown.yaml",
        tiny_config(Path("no-such-model-anywhere"), tmp_path / "u", shared_data),
    )
    message = one_line_error("run", str(unknown))
    assert "no-such-model-anywhere" in message

    assert "manifest.json not found" in one_line_error("report", str(tmp_path / "not-a-run"))

    missing = tiny_config(tiny_model_dir, tmp_path / "m", tmp_path / "no-data")
    message = one_line_error("run", str(write_config(tmp_path / "missing.yaml", missing)))
    assert "no-data" in message and "no such folder" in message


def test_a_bad_jsonl_line_fails_its_stage_and_nothing_looks_complete(
    tmp_path, tiny_model_dir, shared_data
):
    data = tmp_path / "problems.jsonl"
    good = {"id": "p1", "instruction": "Add one.", "response": "def f(x):\n    return x + 1\n"}
    data.write_text(json.dumps(good) + "\n" + '{"id": "p2", "instruction": \n')
    config = tiny_config(tiny_model_dir, tmp_path / "run", shared_data)
    config["problems"] = {"path": str(data), "decontaminate": False}
    config["evaluation"]["tasks"] = "all"
    message = one_line_error("run", str(write_config(tmp_path / "c.yaml", config)))
    assert "stage problems" in message and f"{data}:2" in message
    states = stage_states(tmp_path / "run")
    assert states["problems"]["status"] == "failed"
    assert not (tmp_path / "run" / "report" / "index.html").exists()


def test_a_teacher_that_returns_garbage_stops_with_one_line(tmp_path, tiny_model_dir, shared_data):
    config = tiny_config(tiny_model_dir, tmp_path / "run", shared_data)
    config["problems"]["limit"] = 3
    config["variants"] = {"teacher": f"hf:{tiny_model_dir}", "k": 2, "max_new_tokens": 12}
    message = one_line_error("run", str(write_config(tmp_path / "c.yaml", config)))
    assert "stage variants" in message or "stage selection" in message
    states = stage_states(tmp_path / "run")
    failed = [name for name, record in states.items() if record["status"] == "failed"]
    assert len(failed) == 1 and failed[0] in ("variants", "selection")
    assert "train:fgit" not in states and not (tmp_path / "run" / "report").exists()


# ------------------------------------------------------------------------------------ quickstart


@pytest.mark.slow
def test_quickstart_runs_end_to_end_on_the_packaged_model(tmp_path):
    """The embedded config with fewer steps and tasks: every stage on the real SmolLM2."""
    out = tmp_path / "qs"
    overrides = ["training.defaults.max_steps=2", "evaluation.limit=4",
                 "evaluation.max_new_tokens=32", "problems.limit=12"]  # fmt: skip
    args = ["quickstart", "--output-dir", str(out)]
    for override in overrides:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Smoke demonstration" in result.output
    assert f"report: {out / 'report' / 'index.html'}\n" in result.output  # whole, on one line
    states = stage_states(out)
    assert all(record["status"] == "done" for record in states.values())
    assert {"eval:base:humaneval", "eval:sft:humaneval", "eval:fgit:humaneval"} <= set(states)
    trained = {p.id for p in read_pairs(out / "selection" / "pairs.jsonl")}
    for model in ("base", "sft", "fgit"):
        run = json.loads((out / "eval" / model / "humaneval.json").read_text())
        assert len(run["tasks"]) == 4 and not {t["task_id"] for t in run["tasks"]} & trained
    html = (out / "report" / "index.html").read_text()
    assert 'id="evaluation"' in html and 'class="m2"' in html


@pytest.mark.slow
def test_training_through_accelerate_launch(tmp_path, tiny_model_dir, shared_data):
    """launcher: accelerate runs each training run as `accelerate launch -m fgit train`."""
    accelerate_config = tmp_path / "cpu.yaml"
    accelerate_config.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\n"
        "use_cpu: true\nmixed_precision: 'no'\n"
    )
    out = tmp_path / "run"
    config = tiny_config(tiny_model_dir, out, shared_data)
    config["training"]["launcher"] = "accelerate"
    config["training"]["accelerate_config"] = str(accelerate_config)
    config["training"]["runs"] = {"sft": {"loss": "sft"}}
    config["evaluation"]["models"] = ["sft"]
    run_pipeline(parse_run_config(config, "t", tmp_path), quiet=True)
    states = stage_states(out)
    assert states["train:sft"]["status"] == "done" and states["train:sft"]["info"]["steps"] == 2
    launched = yaml.safe_load((out / "train" / "sft" / "train_config.yaml").read_text())
    assert launched["pairs"] == str(out / "selection" / "pairs.jsonl")
    assert len(_lines(out / "train" / "sft" / "train_log.jsonl")) == 2
    assert states["eval:sft:humaneval"]["status"] == "done"
