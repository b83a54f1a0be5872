"""Stage 4 end to end: the trainer on a tiny Llama saved to a folder (CPU, seconds per run)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from fgit.cli import app
from fgit.records import Pair, RecordError, write_records
from fgit.segments.encode import IGNORE_INDEX, PromptFormat
from fgit.testing import save_tiny_model
from fgit.training import ConfigError, LoraSettings, TrainConfig, load_train_config
from fgit.training import trainer as trainer_module
from fgit.training.data import load_training_pairs
from fgit.training.reference import load_reference
from fgit.training.schedule import StepPlan
from fgit.training.trainer import train

runner = CliRunner()

# (name, correct body, incorrect body): a small edit apart, like a mutation pair.
FUNCTIONS = [
    ("less", "def less(x, y):\n    return x < y\n", "def less(x, y):\n    return x <= y\n"),
    ("inc", "def inc(n):\n    return n + 1\n", "def inc(n):\n    return n + 2\n"),
    ("last", "def last(items):\n    return items[-1]\n", "def last(items):\n    return items[0]\n"),
    (
        "count",
        "def count(n):\n    return len(range(n + 1))\n",
        "def count(n):\n    return len(range(n))\n",
    ),
    (
        "is_even",
        "def is_even(n):\n    return n % 2 == 0\n",
        "def is_even(n):\n    return n % 2 == 1\n",
    ),
    (
        "biggest",
        "def biggest(a, b):\n    return a if a > b else b\n",
        "def biggest(a, b):\n    return a if a < b else b\n",
    ),
    (
        "total",
        "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
        "def total(xs):\n    s = 1\n    for x in xs:\n        s += x\n    return s\n",
    ),
    ("square", "def square(x):\n    return x * x\n", "def square(x):\n    return x + x\n"),
    ("first", "def first(s):\n    return s[0]\n", "def first(s):\n    return s[1]\n"),
    ("halve", "def halve(n):\n    return n // 2\n", "def halve(n):\n    return n / 2\n"),
    (
        "clamp",
        "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
        "def clamp(x, lo, hi):\n    return min(lo, max(x, hi))\n",
    ),
    (
        "absolute",
        "def absolute(x):\n    return -x if x < 0 else x\n",
        "def absolute(x):\n    return -x if x <= 0 else x\n",
    ),
]


def make_pairs() -> list[Pair]:
    return [
        Pair(
            id=f"p{k:02d}",
            instruction=f"Write a Python function `{name}`.",
            response=correct,
            incorrect=incorrect,
        )
        for k, (name, correct, incorrect) in enumerate(FUNCTIONS)
    ]


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("training")


@pytest.fixture(scope="module")
def model_dir(workspace) -> Path:
    return save_tiny_model(workspace / "tiny")


@pytest.fixture(scope="module")
def pairs_file(workspace) -> Path:
    path = workspace / "pairs.jsonl"
    write_records(path, make_pairs())
    return path


@pytest.fixture(scope="module")
def start_model(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir).eval()


@pytest.fixture(scope="module")
def encoded(model_dir, pairs_file):
    """The trainer's own encodings of the pairs (same tokenizer set-up, same settings)."""
    from fgit.models import ensure_pad_token, load_tokenizer

    tokenizer = ensure_pad_token(load_tokenizer(str(model_dir), quiet=True))
    return load_training_pairs(
        pairs_file, tokenizer, prompt_format=PromptFormat(), max_length=128
    ).pairs


def make_config(pairs: Path, model: Path, out: Path, /, **overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = {
        "pairs": pairs,
        "model": str(model),
        "output_dir": out,
        "max_length": 128,
        "per_device_batch_size": 2,
        "max_steps": 2,
        "learning_rate": 1e-3,
        "quiet": True,
        "save_steps": None,
    }
    return TrainConfig(**(settings | overrides))


@pytest.fixture()
def config_for(pairs_file, model_dir, tmp_path):
    def make(name: str = "run", **overrides: Any) -> TrainConfig:
        return make_config(pairs_file, model_dir, tmp_path / name, **overrides)

    return make


def read_log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def response_logprobs(model, input_ids: list[int], labels: list[int]) -> torch.Tensor:
    """log P of each response token from the model's full logits (the textbook way)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([input_ids])).logits[0, :-1].double()
    targets = torch.tensor(labels[1:])
    keep = targets != IGNORE_INDEX
    logp = torch.log_softmax(logits, dim=-1)
    return logp[keep].gather(-1, targets[keep][:, None]).squeeze(-1)


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    assert files, f"no weights in {folder}"
    out: dict[str, torch.Tensor] = {}
    for file in files:
        out.update(load_file(str(file)))
    return out


# ------------------------------------------------------------------------------ every loss


LOSS_CASES = [
    ("sft", {}),
    ("fixed", {}),
    ("fgit", {}),
    ("fgit", {"detach_weights": True}),
    ("fgit", {"weight_gradient": "correct"}),
    ("fgit", {"line_gap": "none"}),
    ("fgit", {"granularity": "line"}),
    ("fgit", {"granularity": "token"}),
    ("dpo", {}),
    ("dpo+sft", {}),
    ("fault-dpo", {}),
]


@pytest.mark.parametrize(
    ("loss", "extra"),
    LOSS_CASES,
    ids=[loss + "".join(f"-{k}={v}" for k, v in extra.items()) for loss, extra in LOSS_CASES],
)
def test_every_loss_trains(config_for, start_model, model_dir, loss, extra):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = config_for(loss=loss, max_steps=3, **extra)
    result = train(config)
    assert not result.cached and result.steps == 3
    log = read_log(config.output_dir)
    assert [line["step"] for line in log] == [1, 2, 3]
    for line in log:
        assert math.isfinite(line["loss"]), line
        assert line["pairs"] == 2 and line["tokens"] > 0
        assert math.isfinite(line["grad_norm"]) and line["grad_norm"] > 0
        if loss == "fgit":
            alpha = config.alpha
            assert alpha - 1 <= line["mean_weight"] <= alpha
            assert 0 <= line["h_correct"] <= 1 and 0 <= line["h_incorrect"] <= 1
        else:
            assert "mean_weight" not in line
        if loss in ("dpo", "dpo+sft", "fault-dpo"):
            assert math.isfinite(line["margin"])
            assert 0 <= line["preference_accuracy"] <= 1
        else:
            assert "margin" not in line and "preference_accuracy" not in line
    if loss == "dpo":  # policy == reference at the first step: DPO's loss is log 2
        assert log[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
        assert log[0]["margin"] == pytest.approx(0.0, abs=1e-5)

    summary = json.loads((config.output_dir / "training.json").read_text())
    assert summary["steps"] == 3 and summary["data"]["used"] == 12
    # 3 steps of 2 pairs: 6 of the 12 pairs trained on (issue 14: not "used: 12")
    assert summary["pairs_seen"] == summary["distinct_pairs_seen"] == 6
    assert summary["data"]["without_sensitive_tokens"] == 0
    from fgit.training.trainer import _precision

    assert (summary["mixed_precision"], summary["mixed_precision_reason"]) == _precision(
        config.precision
    )
    assert (config.output_dir / "reference_logps.safetensors").is_file() == (
        loss in ("dpo", "dpo+sft", "fault-dpo")
    )
    assert not (config.output_dir / "checkpoints").exists()

    trained = AutoModelForCausalLM.from_pretrained(result.model_dir)
    start = start_model.state_dict()
    changed = [
        name
        for name, tensor in trained.state_dict().items()
        if not torch.equal(tensor, start[name])
    ]
    assert len(changed) > len(start) // 2, changed
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    original = AutoTokenizer.from_pretrained(model_dir)
    text = "def f(x):\n    return x + 1\n"
    assert tokenizer(text).input_ids == original(text).input_ids


def test_sft_first_step_loss_is_the_starting_models_mean_nll(config_for, start_model, encoded):
    config = config_for(loss="sft", max_steps=2)
    train(config)
    plan = StepPlan(
        num_pairs=len(encoded),
        per_device_batch_size=2,
        gradient_accumulation_steps=1,
        world_size=1,
        seed=config.seed,
        max_steps=2,
    )
    first = plan.global_batch(0)
    assert len(first) == 2
    logps = [
        response_logprobs(start_model, encoded[i].correct.input_ids, encoded[i].correct.labels)
        for i in first
    ]
    nll = -torch.cat(logps)
    log = read_log(config.output_dir)
    assert log[0]["tokens"] == nll.numel()
    assert log[0]["loss"] == pytest.approx(nll.mean().item(), abs=1e-4)


def test_accumulation_gives_the_same_steps_as_one_big_batch(config_for):
    big = config_for("big", loss="fgit", per_device_batch_size=4, max_steps=3)
    accumulated = config_for(
        "accumulated", loss="fgit", per_device_batch_size=2, gradient_accumulation_steps=2,
        max_steps=3,
    )  # fmt: skip
    train(big)
    train(accumulated)
    for one, two in zip(read_log(big.output_dir), read_log(accumulated.output_dir), strict=True):
        assert one["tokens"] == two["tokens"] and one["pairs"] == two["pairs"] == 4
        assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)


# -------------------------------------------------------------------------------------- LoRA


def test_lora_adapter_and_merged_model(config_for, model_dir, encoded):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = config_for(loss="fgit", lora=LoraSettings(r=4))
    result = train(config)
    assert result.adapter_dir == config.output_dir / "adapter"
    assert (result.adapter_dir / "adapter_config.json").is_file()
    assert [line["step"] for line in read_log(config.output_dir)] == [1, 2]

    ids = torch.tensor([encoded[0].correct.input_ids])
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
    adapted = PeftModel.from_pretrained(base, result.adapter_dir).eval()
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir).eval()
    with torch.no_grad():
        adapted_logits = adapted(input_ids=ids).logits
        merged_logits = merged(input_ids=ids).logits
    assert not torch.allclose(adapted_logits, base_logits, atol=1e-4), "the adapter learned nothing"
    torch.testing.assert_close(merged_logits, adapted_logits, atol=1e-4, rtol=0)
    # only adapter weights were trained: the merged model's non-adapted layers equal the base
    merged_state, base_state = merged.state_dict(), load_weights(model_dir)
    assert torch.equal(merged_state["lm_head.weight"], base_state["lm_head.weight"])


# ---------------------------------------------------------------------------- reference cache


def test_reference_cache_holds_the_starting_models_logprobs(config_for, start_model, encoded):
    config = config_for(loss="dpo", max_steps=2)
    result = train(config)
    path = config.output_dir / "reference_logps.safetensors"
    assert path.is_file()
    fingerprint = result.summary["fingerprint"]
    assert load_reference(path, "0" * 16) is None
    assert load_reference(config.output_dir / "missing.safetensors", fingerprint) is None
    reference = load_reference(path, fingerprint)
    assert reference is not None and sorted(reference) == list(range(12))
    for i in (0, 5, 11):
        for side, values in zip(
            (encoded[i].correct, encoded[i].incorrect), reference[i], strict=True
        ):
            expected = response_logprobs(start_model, side.input_ids, side.labels)
            assert values.shape == expected.shape
            torch.testing.assert_close(
                torch.from_numpy(values).double(), expected, atol=1e-4, rtol=0
            )


# ------------------------------------------------------------------------------------ caching


def test_finished_run_is_cached_other_settings_refused_overwrite_retrains(config_for, monkeypatch):
    config = config_for(loss="sft")
    first = train(config)
    assert not first.cached

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run must not train")

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module, "micro_batch_loss", no_training)
        again = train(config)
        assert again.cached and again.steps == 2
        assert again.model_dir == first.model_dir and again.summary == first.summary
        # logging settings are not part of the run: still the same finished run
        assert train(config.model_copy(update={"logging_steps": 5})).cached

    # (not alpha, which loss sft ignores: TrainConfig refuses it)
    changed = config.model_copy(update={"learning_rate": 2e-3})
    with pytest.raises(ConfigError, match="other settings"):
        train(changed)
    redone = train(changed, overwrite=True)
    assert not redone.cached
    assert redone.summary["config"]["learning_rate"] == 2e-3
    assert redone.summary["fingerprint"] != first.summary["fingerprint"]
    assert len(read_log(config.output_dir)) == 2  # the old log was cleared, not appended to


# ------------------------------------------------------------------------------------- resume


def _crash_on_call(monkeypatch, number: int) -> None:
    original = trainer_module.micro_batch_loss
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == number:
            raise RuntimeError("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "micro_batch_loss", crashing)


def test_resume_after_a_crash_matches_an_uninterrupted_run(config_for, monkeypatch):
    # sft, one micro-batch per step: the 3rd call of micro_batch_loss is step 3
    # float32 weights: the two runs' fp32 master weights are compared, not their bf16 roundings
    config = config_for("resumed", loss="sft", max_steps=4, save_steps=2, save_dtype="float32")
    with monkeypatch.context() as patch:
        _crash_on_call(patch, 3)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(config)
    out = config.output_dir
    checkpoint = out / "checkpoints" / "step-0000002"
    assert (checkpoint / "fgit_state.json").is_file()
    assert [line["step"] for line in read_log(out)] == [1, 2]
    assert not (out / "training.json").exists()

    original = trainer_module.micro_batch_loss
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(trainer_module, "micro_batch_loss", counting)
        result = train(config)
    assert not result.cached and result.steps == 4
    assert len(calls) == 2, "the resumed run must start after step 2"
    resumed = read_log(out)
    assert [line["step"] for line in resumed] == [1, 2, 3, 4]
    # the finished run keeps the checkpoint's loadable model folder, not its resume state
    assert [p.name for p in checkpoint.iterdir()] == ["model"]

    straight = config_for("straight", loss="sft", max_steps=4, save_steps=2, save_dtype="float32")
    train(straight)
    reference = read_log(straight.output_dir)
    for got, want in zip(resumed, reference, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5, abs=1e-5)
        assert got["learning_rate"] == pytest.approx(want["learning_rate"])
    final, expected = load_weights(result.model_dir), load_weights(straight.output_dir / "model")
    assert final.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(final[name], expected[name], atol=1e-5, rtol=0)


def test_resume_of_a_preference_run_needs_its_reference(config_for, monkeypatch):
    config = config_for("dpo", loss="dpo", max_steps=4, save_steps=2)
    with monkeypatch.context() as patch:
        _crash_on_call(patch, 3)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(config)
    out = config.output_dir
    (out / "reference_logps.safetensors").unlink()
    with pytest.raises(ConfigError, match="reference"):
        train(config)
    with pytest.raises(ConfigError, match="checkpoints of a run with other settings"):
        train(config.model_copy(update={"beta": 0.5}))


# --------------------------------------------------------------------------------- bad input


def test_malformed_pairs_line_names_file_and_line(config_for, tmp_path):
    pairs = tmp_path / "broken.jsonl"
    good = make_pairs()[0].model_dump_json()
    pairs.write_text(good + "\n{not json\n", encoding="utf-8")
    config = config_for(pairs=pairs)
    with pytest.raises(RecordError) as info:
        train(config)
    assert info.value.line == 2
    assert f"{pairs}:2:" in str(info.value)


def test_config_file_with_unknown_key(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: out\nbogus_key: 1\n")
    with pytest.raises(ConfigError) as info:
        load_train_config(path, {})
    assert str(path) in str(info.value) and "bogus_key" in str(info.value)


def test_config_file_with_yaml_syntax_error(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: out\nalpha: 2\n  bad: : x\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_train_config(path, {})
    assert f"{path}:5:" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n  bad: : x\n", ":2: not valid YAML: mapping values are not allowed here"),
        # yaml marks the end of the stream, line 4 of a 3-line file: the last line is said
        ("name: x\nproblems:\n  preset: [unclosed\n", ":3: not valid YAML: expected ','"),
        ("# a comment first\n- pairs: p.jsonl\n", ":2: expected a mapping of settings, got list"),
        ("just text\n", ":1: expected a mapping of settings, got str"),
        (b"pairs: \xff\n", ": not UTF-8 text (byte 7)"),
    ],
)
def test_both_config_loaders_name_file_and_line(tmp_path, text, message):
    from fgit.pipeline.config import load_run_config

    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    for load in (lambda: load_train_config(path, {}), lambda: load_run_config(path)):
        with pytest.raises(ConfigError) as info:
            load()
        assert str(info.value).startswith(f"{path}{message}")
        assert "\n" not in str(info.value)


def test_config_file_empty_is_empty_and_a_folder_is_refused(tmp_path):
    from fgit.training.config import read_config_file

    (tmp_path / "empty.yaml").write_text("# nothing set yet\n")
    assert read_config_file(tmp_path / "empty.yaml") == {}
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        read_config_file(tmp_path)
    with pytest.raises(ConfigError, match="no such config file"):
        read_config_file(tmp_path / "missing.yaml")


def test_config_file_paths_are_relative_to_the_file(tmp_path):
    path = tmp_path / "conf" / "train.yaml"
    path.parent.mkdir()
    path.write_text("train:\n  pairs: p.jsonl\n  model: m\n  output_dir: out\n  fixed_weight: 3\n")
    config = load_train_config(path, {"loss": "fixed"})
    assert config.pairs == path.parent / "p.jsonl"
    assert config.output_dir == path.parent / "out"
    assert config.fixed_weight == 3 and config.loss == "fixed"


# Run fingerprints computed before the settings moved to one declaration (issue 12): a finished
# run whose fingerprint changes is refused ("other settings in the same folder").
FINGERPRINTS = [
    ({}, "068d5eb03717d655"),
    ({"loss": "dpo", "label_smoothing": 0.1, "beta": 0.2}, "6549cef94e428e0b"),
    (
        {"loss": "fault-dpo", "shared_weight": 0.5, "sft_weight": 0.5, "lora": {"r": 8}},
        "ea30af68ad467e0f",
    ),
]


@pytest.mark.parametrize(("settings", "fingerprint"), FINGERPRINTS)
def test_fingerprints_are_unchanged(settings, fingerprint):
    base = {"pairs": "p.jsonl", "model": "m", "output_dir": "out"}
    assert load_train_config(None, base | settings).fingerprint("0" * 64) == fingerprint


def test_fingerprint_of_the_example_config_is_unchanged():
    config = load_train_config(Path(__file__).parents[1] / "examples" / "train-fgit.yaml", {})
    assert config.fingerprint("0" * 64) == "9710d43d304abb80"


def test_set_of_a_nested_setting_keeps_the_files_other_keys(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: out\nlora: {r: 16, alpha: 64}\n")
    config = load_train_config(path, {"lora": {"r": 8}})  # what --set lora.r=8 passes
    assert config.lora == LoraSettings(r=8, alpha=64)


@pytest.mark.parametrize(
    ("loss", "setting", "value"),
    [
        ("dpo+sft", "label_smoothing", 0.1),  # the cases of issue 12
        ("fault-dpo", "label_smoothing", 0.1),
        ("sft", "beta", 0.2),
        ("dpo", "alpha", 3),
        ("fixed", "detach_weights", "true"),
        ("fgit", "sft_weight", 0.5),
    ],
)
def test_a_setting_the_loss_ignores_is_an_error(tmp_path, loss, setting, value):
    from fgit.training.loss_settings import READ_BY

    path = tmp_path / "train.yaml"
    path.write_text(
        f"pairs: p.jsonl\nmodel: m\noutput_dir: out\nloss: {loss}\n{setting}: {value}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_train_config(path, {})
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert f"{path}:5: {setting}: " in message and f"loss {loss}:" in message  # its line
    assert all(reader in message for reader in READ_BY[setting])  # who would read it


def test_settings_at_their_defaults_are_allowed_with_every_loss():
    from typing import get_args

    from fgit.training import LossName

    # examples/train-fgit.yaml writes out fgit's settings at their defaults; --loss still works.
    path = Path(__file__).parents[1] / "examples" / "train-fgit.yaml"
    for loss in get_args(LossName):
        assert load_train_config(path, {"loss": loss}).loss == loss


def test_missing_pairs_file(config_for, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such pairs file"):
        train(config_for(pairs=tmp_path / "nowhere.jsonl"))


def test_quantization_needs_lora():
    settings = {"pairs": "p.jsonl", "model": "m", "output_dir": "out", "quantization": "4bit"}
    with pytest.raises(ConfigError, match="lora"):
        load_train_config(None, settings)


def test_quantization_without_bitsandbytes(config_for):
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("bitsandbytes is installed")
    config = config_for(lora=LoraSettings(r=4), quantization="4bit")
    with pytest.raises(ConfigError, match="bitsandbytes"):
        train(config)


# --------------------------------------------------------------------------------------- CLI


def test_cli_train(pairs_file, model_dir, tmp_path):
    out = tmp_path / "cli-run"
    args = ["train", "--pairs", str(pairs_file), "--model", str(model_dir),
            "--output-dir", str(out), "--loss", "fgit", "--max-steps", "2", "--batch-size", "2",
            "--lr", "1e-3", "--set", "max_length=128", "--set", "quiet=true"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    compact = "".join(result.output.split())
    assert f"training->{out}" in compact
    assert "trained" in result.output
    assert [line["step"] for line in read_log(out)] == [1, 2]
    summary = json.loads((out / "training.json").read_text())
    assert summary["config"]["loss"] == "fgit" and summary["config"]["max_length"] == 128
    assert summary["config"]["learning_rate"] == 1e-3

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already trained" in again.output


def test_cli_unknown_loss_is_a_one_line_error(pairs_file, model_dir, tmp_path):
    result = runner.invoke(
        app,
        ["train", "--pairs", str(pairs_file), "--model", str(model_dir),
         "--output-dir", str(tmp_path / "out"), "--loss", "nonsense"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "loss" in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_set_without_equals_sign(pairs_file, model_dir, tmp_path):
    result = runner.invoke(
        app,
        ["train", "--pairs", str(pairs_file), "--model", str(model_dir),
         "--output-dir", str(tmp_path / "out"), "--set", "foo"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "KEY=VALUE" in result.output and "foo" in result.output


def test_cli_set_applies_to_settings_that_have_their_own_option(pairs_file, model_dir, tmp_path):
    out = tmp_path / "set-run"
    result = runner.invoke(
        app,
        ["train", "--pairs", str(pairs_file), "--model", str(model_dir),
         "--output-dir", str(out), "--batch-size", "4", "--set", "max_length=128",
         "--set", "quiet=true", "--set", "learning_rate=0.001", "--set", "max_steps=1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((out / "training.json").read_text())["config"]
    assert config["learning_rate"] == 0.001
    assert config["max_steps"] == 1


class _Trained(Exception):
    """Raised by the stand-in trainer: it hands the settings back instead of training."""


def cli_settings(monkeypatch, *args: str) -> TrainConfig:
    """The settings `fgit train ARGS` would train with; nothing is trained."""

    def capture(settings: TrainConfig, overwrite: bool = False) -> None:
        raise _Trained(settings)

    monkeypatch.setattr(trainer_module, "train", capture)
    result = runner.invoke(app, ["train", *args])
    assert isinstance(result.exception, _Trained), result.output
    return result.exception.args[0]


@pytest.fixture()
def lora_file(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: out\nlora: {r: 16, alpha: 64}\n")
    return path


def test_cli_lora_keeps_the_files_lora_block(monkeypatch, lora_file):
    settings = cli_settings(monkeypatch, "--config", str(lora_file), "--lora")
    assert settings.lora == LoraSettings(r=16, alpha=64)
    settings = cli_settings(monkeypatch, "--config", str(lora_file), "--lora", "--set", "lora.r=8")
    assert settings.lora == LoraSettings(r=8, alpha=64)


def test_cli_lora_without_a_block_uses_the_defaults(monkeypatch, tmp_path):
    args = ["--pairs", "p.jsonl", "--model", "m", "--output-dir", str(tmp_path / "out")]
    assert cli_settings(monkeypatch, *args).lora is None
    assert cli_settings(monkeypatch, *args, "--lora").lora == LoraSettings()
    assert cli_settings(monkeypatch, *args, "--set", "lora=null", "--lora").lora == LoraSettings()


def test_cli_no_lora_and_set_null_turn_a_file_setting_off(monkeypatch, lora_file):
    assert cli_settings(monkeypatch, "--config", str(lora_file), "--no-lora").lora is None
    assert cli_settings(monkeypatch, "--config", str(lora_file), "--set", "lora=null").lora is None
    lora_file.write_text(lora_file.read_text() + "max_steps: 5\n")
    settings = cli_settings(monkeypatch, "--config", str(lora_file), "--set", "max_steps=null")
    assert settings.max_steps is None and settings.lora is not None


def test_cli_quiet_reaches_the_settings_and_leaves_the_file_alone(monkeypatch, lora_file):
    assert cli_settings(monkeypatch, "--config", str(lora_file), "--quiet").quiet is True
    assert cli_settings(monkeypatch, "--config", str(lora_file)).quiet is False
    lora_file.write_text(lora_file.read_text() + "quiet: true\n")
    assert cli_settings(monkeypatch, "--config", str(lora_file)).quiet is True
    assert cli_settings(monkeypatch, "--config", str(lora_file), "--no-quiet").quiet is False


def test_cli_train_options_take_their_help_from_the_settings():
    import typer.main

    command = typer.main.get_command(app).commands["train"]
    documented = {p.name: p.help for p in command.params if p.name in TrainConfig.model_fields}
    assert {"loss", "alpha", "learning_rate", "per_device_batch_size", "lora"} <= set(documented)
    for name, help_text in documented.items():
        assert help_text and help_text == TrainConfig.model_fields[name].description, name


@pytest.mark.parametrize(
    "names",
    [
        ("--lr", "--batch-size", "--grad-accum"),
        ("--learning-rate", "--per-device-batch-size", "--gradient-accumulation-steps"),
    ],
)
def test_cli_short_and_field_named_options(monkeypatch, tmp_path, names):
    lr, batch, accum = names
    args = ["--pairs", "p.jsonl", "--model", "m", "--output-dir", str(tmp_path / "out")]
    settings = cli_settings(monkeypatch, *args, lr, "1e-4", batch, "3", accum, "5")
    assert settings.learning_rate == 1e-4
    assert (settings.per_device_batch_size, settings.gradient_accumulation_steps) == (3, 5)


def test_objective_carries_every_loss_setting():
    from fgit.training import Objective

    chosen = {"loss": "fault-dpo", "beta": 0.3, "sft_weight": 0.5, "shared_weight": 1.0}
    config = TrainConfig(pairs="p", model="m", output_dir="o", granularity="line", **chosen)
    assert config.objective == Objective(granularity="line", **chosen)


def test_cli_ignored_setting_is_a_one_line_error(tmp_path):
    args = ["train", "--pairs", "p.jsonl", "--model", "m", "--output-dir", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--loss", "sft", "--alpha", "3"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "alpha" in lines[0] and "loss sft" in lines[0], result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------- tensorboard


def test_tensorboard_events_are_written(config_for):
    pytest.importorskip("tensorboard")
    config = config_for(loss="fgit", report_to=["tensorboard"])
    train(config)
    events = list(config.output_dir.rglob("events.out.tfevents*"))
    assert events, sorted(str(p) for p in config.output_dir.rglob("*"))
    assert all(p.stat().st_size > 0 for p in events)


# ------------------------------------------------------------------------------- distributed


@pytest.mark.slow
@pytest.mark.parametrize("limit", [None, 9], ids=["full-batches", "short-last-batch"])
def test_two_processes_train_like_one_with_accumulation(pairs_file, model_dir, tmp_path, limit):
    """DDP on CPU (gloo) with 2 × 2 pairs per step equals one process accumulating 2 × 2.

    With ``limit=9`` the third step has a single pair, so the second process only syncs.
    """
    ddp_out = tmp_path / "ddp"
    extra = [] if limit is None else ["--set", f"limit={limit}"]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "-m", "fgit", "train", "--pairs", str(pairs_file),
        "--model", str(model_dir), "--output-dir", str(ddp_out), "--loss", "fgit",
        "--max-steps", "4", "--batch-size", "2", "--grad-accum", "1", "--lr", "1e-3",
        "--set", "max_length=128", "--set", "quiet=true", "--set", "save_dtype=float32",
        "--set", "save_steps=2", *extra,
    ]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"accelerate launch timed out; stderr:\n{error.stderr}")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    summary = json.loads((ddp_out / "training.json").read_text())
    assert summary["processes"] == 2 and summary["global_batch_size"] == 4
    # the checkpoint's loadable folder, gathered from both processes and written by the first
    checkpoint = ddp_out / "checkpoints" / "step-0000002" / "model"
    assert sorted(load_weights(checkpoint)) == sorted(load_weights(ddp_out / "model"))

    single = make_config(
        pairs_file, model_dir, tmp_path / "single", loss="fgit", max_steps=4,
        per_device_batch_size=2, gradient_accumulation_steps=2, limit=limit, save_dtype="float32",
    )  # fmt: skip
    train(single)
    assert json.loads((single.output_dir / "training.json").read_text())["processes"] == 1

    ddp_log, single_log = read_log(ddp_out), read_log(single.output_dir)
    assert [line["step"] for line in ddp_log] == [1, 2, 3, 4]
    if limit == 9:
        assert ddp_log[2]["pairs"] == 1
    for got, want in zip(ddp_log, single_log, strict=True):
        assert got["pairs"] == want["pairs"] and got["tokens"] == want["tokens"]
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-4)
        assert got["mean_weight"] == pytest.approx(want["mean_weight"], rel=1e-4)
    ddp_weights, single_weights = (
        load_weights(ddp_out / "model"),
        load_weights(single.output_dir / "model"),
    )
    assert ddp_weights.keys() == single_weights.keys()
    for name, tensor in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], tensor, atol=1e-5, rtol=0)


def test_the_logprob_check_passes_a_plain_model_and_catches_post_processed_logits(
    bytelevel_tokenizer,
):
    """The step-0 check: fgit's chunked log-probabilities against the model's own logits. A
    forward that changes its logits (here a temperature of 0.5) is refused, a plain one is not."""
    from types import SimpleNamespace

    import torch

    from fgit.models import ModelError
    from fgit.testing import build_tiny_llama
    from fgit.training.logprobs import CausalLMLogProbs
    from fgit.training.trainer import LOGPROB_TOLERANCE, _check_logprobs

    model = build_tiny_llama(bytelevel_tokenizer).eval()
    torch.manual_seed(0)
    ids = torch.randint(3, len(bytelevel_tokenizer), (2, 16))
    batch = SimpleNamespace(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
    _check_logprobs(CausalLMLogProbs(model), batch, LOGPROB_TOLERANCE[True])

    plain_forward = model.forward

    def tempered(*args, **kwargs):
        out = plain_forward(*args, **kwargs)
        out.logits = out.logits / 0.5
        return out

    model.forward = tempered
    with pytest.raises(ModelError, match="post-processes its logits"):
        _check_logprobs(CausalLMLogProbs(model), batch, LOGPROB_TOLERANCE[True])
