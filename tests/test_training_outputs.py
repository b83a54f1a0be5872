"""What a training run leaves behind (issue 14, "Model outputs"): weights in save_dtype, loadable
checkpoint folders, the model card and its evaluation, push_to_hub, report_to, and the FSDP
config of examples/paper.yaml. Tiny Llama on CPU; the hub is never reached."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

from fgit.cli import app
from fgit.io import sha256_file
from fgit.records import write_records
from fgit.testing import save_tiny_model
from fgit.training import ConfigError, LoraSettings, load_train_config
from fgit.training import trainer as trainer_module
from fgit.training.hub import HubError
from fgit.training.model_card import (
    CARD_FILE,
    CardFacts,
    card_text,
    loss_settings,
    record_evaluation,
)
from fgit.training.saving import cast_state, resolve_save_dtype
from fgit.training.trainer import train
from test_training import load_weights, make_config, make_pairs, read_log

EXAMPLES = Path(__file__).parents[1] / "examples"
runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def model_dir(workspace) -> Path:
    return save_tiny_model(workspace / "tiny")


@pytest.fixture(scope="module")
def pairs_file(workspace) -> Path:
    path = workspace / "pairs.jsonl"
    write_records(path, make_pairs())
    return path


@pytest.fixture()
def config_for(pairs_file, model_dir, tmp_path):
    def make(name: str = "run", **overrides: Any):
        return make_config(pairs_file, model_dir, tmp_path / name, **overrides)

    return make


def file_dtypes(folder: Path) -> set[str]:
    """The dtypes in the safetensors header of every weights file of ``folder``."""
    dtypes = set()
    for file in folder.glob("*.safetensors"):
        with open(file, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
        dtypes |= {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes, f"no weights in {folder}"
    return dtypes


def card_of(folder: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / CARD_FILE)


# ---------------------------------------------------------------------------------- save_dtype


def test_save_dtype_auto_is_the_precision_training_computed_in():
    assert resolve_save_dtype("auto", "bf16") == "bfloat16"
    assert resolve_save_dtype("auto", "fp16") == "float16"
    assert resolve_save_dtype("auto", "no") == "float32"
    assert resolve_save_dtype("float32", "bf16") == "float32"
    assert resolve_save_dtype("bfloat16", "no") == "bfloat16"


def test_cast_state_copies_and_leaves_integers_alone():
    weight = torch.randn(3, 3)
    index = torch.arange(3)
    out = cast_state({"w": weight, "i": index}, torch.bfloat16)
    assert out["w"].dtype == torch.bfloat16 and out["i"].dtype == torch.int64
    same = cast_state({"w": weight}, torch.float32)["w"]
    same.add_(1.0)  # a copy even when no cast is needed: the training weights stay untouched
    assert not torch.equal(same, weight)
    tied = cast_state({"embed": weight, "head": weight, "other": weight.clone()}, torch.bfloat16)
    assert tied["embed"] is tied["head"] and tied["other"] is not tied["embed"]


def test_tied_embeddings_are_saved_once_and_load_tied(pairs_file, tmp_path):
    from transformers import AutoModelForCausalLM

    from fgit.testing import build_tiny_llama, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer("bytelevel")
    config = build_tiny_llama(tokenizer).config
    config.tie_word_embeddings = True  # as the packaged SmolLM2 and Qwen2.5-0.5B are
    type(build_tiny_llama(tokenizer))(config).save_pretrained(tmp_path / "tied")
    tokenizer.save_pretrained(tmp_path / "tied")
    result = train(make_config(pairs_file, tmp_path / "tied", tmp_path / "run", loss="sft",
                               save_dtype="bfloat16"))  # fmt: skip
    assert "lm_head.weight" not in load_weights(result.model_dir)
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_full_fine_tune_saves_bf16_the_rounded_training_weights(config_for):
    """precision bf16 (CPU autocast), save_dtype auto: bf16 in the file and in config.json, and
    the weights are exactly the float32 run's rounded to bf16 (same training, cast on a copy)."""
    from transformers import AutoModelForCausalLM

    half = train(config_for("bf16", loss="fgit", precision="bf16"))
    full = train(config_for("fp32", loss="fgit", precision="bf16", save_dtype="float32"))
    assert file_dtypes(half.model_dir) == {"BF16"}
    assert file_dtypes(full.model_dir) == {"F32"}
    assert json.loads((half.model_dir / "config.json").read_text())["dtype"] == "bfloat16"
    assert json.loads((full.model_dir / "config.json").read_text())["dtype"] == "float32"
    assert half.summary["save_dtype"] == "bfloat16"
    rounded, expected = load_weights(half.model_dir), load_weights(full.model_dir)
    assert rounded.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(rounded[name], tensor.to(torch.bfloat16)), name

    model = AutoModelForCausalLM.from_pretrained(half.model_dir)  # dtype "auto": the config's
    assert model.dtype == torch.bfloat16
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(logits).all()


def test_float32_training_saves_float32_by_default(config_for):
    result = train(config_for(loss="sft", precision="fp32"))
    assert file_dtypes(result.model_dir) == {"F32"}
    assert result.summary["save_dtype"] == "float32"


def test_lora_adapter_stays_float32_and_the_merged_model_follows_save_dtype(config_for):
    result = train(config_for(loss="sft", lora=LoraSettings(r=4), save_dtype="bfloat16"))
    assert result.adapter_dir is not None
    assert file_dtypes(result.adapter_dir) == {"F32"}
    assert file_dtypes(result.model_dir) == {"BF16"}
    assert card_of(result.adapter_dir).data.library_name == "peft"
    assert card_of(result.model_dir).data.library_name == "transformers"


def test_save_dtype_at_auto_keeps_the_fingerprint_and_a_set_one_changes_it(config_for):
    config = config_for()
    assert config.fingerprint("0" * 64) == config_for(save_dtype="auto").fingerprint("0" * 64)
    assert config.fingerprint("0" * 64) != config_for(save_dtype="float32").fingerprint("0" * 64)
    publishing = config_for(keep_checkpoints=False, push_to_hub=True, hub_model_id="me/m")
    assert publishing.fingerprint("0" * 64) == config.fingerprint("0" * 64)


# -------------------------------------------------------------------------------- checkpoints


def _crash_at_step(monkeypatch, step: int) -> None:
    """micro_batch_loss raises at ``step`` (sft: one micro-batch per step)."""
    original = trainer_module.micro_batch_loss
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise RuntimeError("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "micro_batch_loss", crashing)


def test_checkpoint_folder_loads_holds_that_steps_weights_and_resume_still_works(
    config_for, monkeypatch
):
    from transformers import AutoModelForCausalLM

    settings = {"loss": "sft", "max_steps": 2, "save_steps": 1, "save_dtype": "float32"}
    config = config_for("crashed", **settings)
    with monkeypatch.context() as patch:
        _crash_at_step(patch, 2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(config)
    step_dir = config.output_dir / "checkpoints" / "step-0000001"
    folder = step_dir / "model"
    assert (step_dir / "fgit_state.json").is_file() and (folder / CARD_FILE).is_file()
    for name in ("config.json", "generation_config.json", "tokenizer.json"):
        assert (folder / name).is_file(), name
    loaded = AutoModelForCausalLM.from_pretrained(folder)
    assert loaded.config.use_cache
    # the linear schedule's first rate does not depend on the length: one step is one step
    one_step = train(config_for("one-step", **(settings | {"max_steps": 1})))
    expected = load_weights(one_step.model_dir)
    for name, tensor in load_weights(folder).items():
        assert torch.equal(tensor, expected[name]), name
    card = (folder / CARD_FILE).read_text()
    assert "after step 1 of 2" in card

    result = train(config)  # resumes from step 1 with the model folder inside the checkpoint
    assert [line["step"] for line in read_log(config.output_dir)] == [1, 2]
    straight = train(config_for("straight", **settings))
    final, want = load_weights(result.model_dir), load_weights(straight.model_dir)
    for name, tensor in want.items():
        torch.testing.assert_close(final[name], tensor, atol=1e-6, rtol=0)
    # the finished run keeps the loadable folder, and drops the resume state
    assert sorted(p.name for p in step_dir.iterdir()) == ["model"]
    AutoModelForCausalLM.from_pretrained(step_dir / "model")


def test_save_total_limit_and_keep_checkpoints(config_for):
    config = config_for("kept", loss="sft", max_steps=4, save_steps=1, save_total_limit=2)
    cut_short = config.output_dir / "checkpoints" / "step-0000009" / "model"  # a crash mid-save
    cut_short.mkdir(parents=True)
    (cut_short / "config.json").write_text("{")
    kept = train(config)
    steps = sorted(p.name for p in (kept.output_dir / "checkpoints").iterdir())
    assert steps == ["step-0000002", "step-0000003"]  # step 4 is the final model
    for step in steps:
        assert file_dtypes(kept.output_dir / "checkpoints" / step / "model") == {"F32"}
    gone = train(config_for("gone", loss="sft", max_steps=2, save_steps=1, keep_checkpoints=False))
    assert not (gone.output_dir / "checkpoints").exists()


def test_lora_checkpoint_is_an_adapter_peft_loads(config_for, model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = config_for(loss="sft", lora=LoraSettings(r=4), max_steps=2, save_steps=1)
    train(config)
    adapter = config.output_dir / "checkpoints" / "step-0000001" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / CARD_FILE).is_file()
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    model = PeftModel.from_pretrained(base, adapter)
    trained = [n for n, p in model.named_parameters() if "lora_B" in n and p.abs().sum() > 0]
    assert trained, "the step-1 adapter is still at its zero start"


# --------------------------------------------------------------------------------- model card


def test_card_names_base_data_loss_settings_and_training(config_for, pairs_file):
    config = config_for(loss="dpo", beta=0.2, max_steps=2)
    result = train(config)
    card = card_of(result.model_dir)
    text = card.text
    assert sha256_file(pairs_file) in text and "`pairs.jsonl`" in text
    assert "| pairs used | 12 |" in text and "| records in the file | 12 |" in text
    assert "## Loss: `dpo`" in text
    assert "| beta | 0.2 |" in text and "| label_smoothing | 0 |" in text
    assert "alpha" not in text.split("## Loss")[1].split("## Training")[0]  # dpo does not read it
    assert "| learning rate | 0.001 |" in text and "| optimizer steps | 2 |" in text
    last = read_log(config.output_dir)[-1]["loss"]
    assert f"| training loss, last logged | {last:.4f} |" in text
    assert "fgit 0." in text and "Not evaluated by fgit yet" in text
    assert card.data.tags == ["fgit", "code", "dpo"] and card.data.base_model is None  # a folder
    # no times in the card: the same run writes the same card (the pipeline digests the folder)
    again = train(config_for("again", loss="dpo", beta=0.2, max_steps=2))
    assert (again.model_dir / CARD_FILE).read_text() == (result.model_dir / CARD_FILE).read_text()


def test_loss_settings_are_the_ones_the_loss_reads(config_for):
    assert list(loss_settings(config_for(loss="fgit"))) == [
        "granularity", "alpha", "detach_weights", "weight_gradient",
    ]  # fmt: skip
    assert list(loss_settings(config_for(loss="sft"))) == ["granularity"]
    assert list(loss_settings(config_for(loss="fault-dpo"))) == [
        "granularity", "beta", "sft_weight", "shared_weight",
    ]  # fmt: skip


def _facts(**overrides: Any) -> CardFacts:
    facts = {
        "model": "qwen2.5-coder-0.5b-instruct",
        "base_model": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "loss": "fgit",
        "loss_settings": {"granularity": "hybrid", "alpha": 2.0},
        "optimisation": {"learning_rate": 5e-6},
        "pairs_file": "pairs.jsonl",
        "pairs_sha256": "ab" * 32,
        "data": {"records": 10, "used": 8, "skipped": {"prompt longer than max_length": 2}},
        "versions": {"fgit": "0.1.0"},
        "total_steps": 3,
        "save_dtype": "bfloat16",
    }
    return CardFacts(**(facts | overrides))


def test_card_metadata_of_a_packaged_or_hub_model():
    from huggingface_hub import ModelCard

    from fgit.training.model_card import _base_hub_id, _base_note, _dataset_type

    assert _base_hub_id("qwen2.5-coder-0.5b-instruct") == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert _base_hub_id("Qwen/Qwen2.5-Coder-7B-Instruct") == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert _base_hub_id("/no/such/folder") is None
    note = _base_note("qwen2.5-coder-0.5b-instruct")
    assert note is not None and "q4_k_m.gguf" in note and "de-quantized" in note
    assert _base_note("Qwen/Qwen2.5-Coder-7B-Instruct") is None
    assert _dataset_type("humaneval") == "openai/openai_humaneval"
    assert _dataset_type("mbpp+") == "evalplus/mbppplus"
    assert _dataset_type("bigcodebench-hard-instruct") == "bigcode/bigcodebench-hard"
    assert _dataset_type("problems:mine") == "problems:mine"
    card = ModelCard(card_text(_facts(hub_model_id="me/qwen-fgit", base_note="a GGUF copy")))
    assert "The base is a GGUF copy." in card.text
    assert card.data.base_model == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert card.data.library_name == "transformers" and "fgit" in card.data.tags
    assert "| skipped: prompt longer than max_length | 2 |" in card.text
    assert 'from_pretrained("me/qwen-fgit")' in card.text


def _write_eval(path: Path, benchmark: str, verdicts: str, plus: str | None = None) -> None:
    from fgit.evaluation.results import build_run, write_run
    from fgit.evaluation.scores import TaskScore

    names = {"P": "passed", "F": "failed"}
    scores = [
        TaskScore(f"T/{i}", names[v], names[plus[i]] if plus else None, "")
        for i, v in enumerate(verdicts)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_run(path, build_run(model="m", benchmark=benchmark, scores=scores, versions={}))


def test_record_evaluation_sets_pass_at_1_per_benchmark(tmp_path):
    from fgit.training.model_card import write_card

    folder = tmp_path / "model"
    folder.mkdir()
    write_card(folder, _facts())
    humaneval, mbpp = tmp_path / "eval" / "humaneval+.json", tmp_path / "eval" / "mbpp.json"
    _write_eval(humaneval, "humaneval+", "PPFF", plus="PFFF")
    assert record_evaluation(folder, [humaneval, mbpp])  # mbpp is not evaluated yet
    card = card_of(folder)
    assert "| humaneval+ | 50.0 | 25.0 | 4 | 1 |" in card.text
    assert "Not evaluated" not in card.text
    values = {(r.dataset_name, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert values == {
        ("humaneval+", "pass@1"): 0.5,
        ("humaneval+", "pass@1 (base + plus tests)"): 0.25,
    }
    assert card.data.eval_results[0].dataset_type == "evalplus/humanevalplus"

    _write_eval(mbpp, "mbpp", "PPPF")
    _write_eval(humaneval, "humaneval+", "PPPP", plus="PPPP")  # evaluated again: replaced
    assert record_evaluation(folder, [humaneval, mbpp])
    card = card_of(folder)
    assert "| humaneval+ | 100.0 | 100.0 | 4 |" in card.text and "| mbpp | 75.0 |" in card.text
    assert card.text.count("fgit:evaluation:start") == 1
    names = [(r.dataset_name, r.metric_name) for r in card.data.eval_results]
    assert names == [
        ("humaneval+", "pass@1"),
        ("humaneval+", "pass@1 (base + plus tests)"),
        ("mbpp", "pass@1"),
    ]  # fmt: skip (mbpp has no plus tests)
    assert "## Training data" in card.text  # the rest of the card is kept
    assert not record_evaluation(tmp_path / "no-card", [humaneval])


# -------------------------------------------------------------------------------- push_to_hub


class FakeHub:
    """Stands in for huggingface_hub.HfApi at the boundary: records calls, and copies the folder
    an upload would send (what the hub would get)."""

    def __init__(self, sent: Path) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent = sent

    def install(self, monkeypatch) -> None:
        import huggingface_hub

        hub = self

        def create_repo(self, repo_id, **kwargs):
            hub.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
            return f"https://hub.invalid/{repo_id}"

        def upload_folder(self, **kwargs):
            hub.calls.append(("upload_folder", kwargs))
            shutil.copytree(kwargs["folder_path"], hub.sent / str(len(hub.calls)))
            return type("Commit", (), {"commit_url": "https://hub.invalid/commit/1"})()

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
        monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")


def test_push_to_hub_creates_the_repo_first_and_uploads_the_model_with_its_card(
    config_for, monkeypatch, tmp_path
):
    hub = FakeHub(tmp_path / "sent")
    hub.install(monkeypatch)
    config = config_for(loss="sft", push_to_hub=True, hub_model_id="me/tiny-fgit")
    calls_before_training = []
    original = trainer_module.micro_batch_loss

    def watching(*args, **kwargs):
        calls_before_training.append(len(hub.calls))
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "micro_batch_loss", watching)
    result = train(config)
    assert calls_before_training[0] == 1  # the repo exists before the first step
    kinds = [kind for kind, _ in hub.calls]
    assert kinds == ["create_repo", "create_repo", "upload_folder"]
    assert hub.calls[0][1] == {"repo_id": "me/tiny-fgit", "private": True, "exist_ok": True}
    upload = hub.calls[2][1]
    assert upload["repo_id"] == "me/tiny-fgit" and Path(upload["folder_path"]) == result.model_dir
    assert "sft" in upload["commit_message"]
    sent = hub.sent / "3"
    assert {"model.safetensors", "config.json", "tokenizer.json", CARD_FILE} <= {
        p.name for p in sent.iterdir()
    }
    assert load_weights(sent).keys() == load_weights(result.model_dir).keys()
    assert 'from_pretrained("me/tiny-fgit")' in (sent / CARD_FILE).read_text()

    train(config)  # a finished run asked again is pushed again, not trained again
    assert [kind for kind, _ in hub.calls][-1] == "upload_folder"


def test_push_of_a_qlora_like_run_without_merged_model_sends_the_adapter(
    config_for, monkeypatch, tmp_path
):
    hub = FakeHub(tmp_path / "sent")
    hub.install(monkeypatch)
    lora = LoraSettings(r=4, merge=False)
    result = train(config_for(loss="sft", lora=lora, push_to_hub=True, hub_model_id="me/ad"))
    assert Path(hub.calls[-1][1]["folder_path"]) == result.adapter_dir
    assert "adapter_config.json" in {p.name for p in (hub.sent / "3").iterdir()}


def test_push_to_hub_needs_a_repo_id():
    with pytest.raises(ConfigError, match="push_to_hub needs hub_model_id"):
        load_train_config(None, _base(push_to_hub=True))


def _cli_train(pairs_file: Path, model_dir: Path, out: Path, *sets: str):
    args = [
        "train", "--pairs", str(pairs_file), "--model", str(model_dir), "--output-dir",
        str(out), "--loss", "sft", "--max-steps", "1", "--set", "max_length=128",
        "--set", "quiet=true",
    ]  # fmt: skip
    for item in sets:
        args += ["--set", item]
    return runner.invoke(app, args)


def test_push_without_a_token_is_one_line_before_training(
    pairs_file, model_dir, tmp_path, monkeypatch
):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no"))
    out = tmp_path / "run"
    result = _cli_train(pairs_file, model_dir, out, "push_to_hub=true", "hub_model_id=me/x")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "needs a Hugging Face token" in lines[0], result.output
    assert not (out / "train_log.jsonl").exists()  # nothing was trained


def test_unreachable_hub_is_one_line_before_training(pairs_file, model_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # discard
    out = tmp_path / "run"
    result = _cli_train(pairs_file, model_dir, out, "push_to_hub=true", "hub_model_id=me/x")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "me/x" in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (out / "train_log.jsonl").exists()


def test_a_refused_upload_is_a_hub_error(monkeypatch, tmp_path):
    import huggingface_hub

    from fgit.training.hub import push_folder

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: "u")

    def refuse(self, **kwargs):
        raise OSError("403 Forbidden: no write access")

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", refuse)
    with pytest.raises(HubError, match=r"upload of .* to me/x failed: OSError: 403"):
        push_folder(tmp_path, "me/x", private=True, message="m")


def test_hub_failures_are_said_in_words():
    from types import SimpleNamespace

    from fgit.training.hub import _reason

    class Refused(Exception):
        response = SimpleNamespace(status_code=403)

    class Missing(Exception):
        response = SimpleNamespace(status_code=404)

    class TransportError(Exception):  # how httpx and httpx2 name network failures
        pass

    assert "refused the token (HTTP 403)" in _reason(Refused("forbidden"))
    assert "answered HTTP 404 (Missing: no such repo" in _reason(Missing("no such repo\nmore"))
    assert "is unreachable (TransportError: reset)" in _reason(TransportError("reset"))
    assert "is unreachable" in _reason(ConnectionRefusedError("refused"))
    assert _reason(ValueError("bad repo id")) == "ValueError: bad repo id"


# ---------------------------------------------------------------------------------- report_to


def _base(**settings: Any) -> dict[str, Any]:
    return {"pairs": "p.jsonl", "model": "m", "output_dir": "out", **settings}


def test_report_to_takes_every_tracker_accelerate_supports():
    from accelerate.utils import LoggerType

    names = [str(kind.value) for kind in LoggerType]
    assert {"tensorboard", "wandb", "mlflow", "comet_ml", "all"} <= set(names)
    config = load_train_config(None, _base(report_to=names))
    assert config.report_to == names
    deduplicated = load_train_config(None, _base(report_to=["mlflow", "mlflow"]))
    assert deduplicated.report_to == ["mlflow"]


def test_an_unknown_tracker_names_the_valid_ones(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: out\nreport_to: [tensorbord]\n")
    with pytest.raises(ConfigError) as error:
        load_train_config(path, {})
    message = str(error.value)
    assert "train.yaml:4" in message and "'tensorbord'" in message
    assert "tensorboard" in message and "mlflow" in message and "\n" not in message


def test_an_uninstalled_tracker_is_one_line_before_training(pairs_file, model_dir, tmp_path):
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import LoggerType

    available = {str(kind.value) for kind in get_available_trackers()}
    missing = [str(k.value) for k in LoggerType if k.value != "all" and k.value not in available]
    if not missing:
        pytest.skip("every tracker accelerate supports is installed")
    out = tmp_path / "run"
    result = _cli_train(pairs_file, model_dir, out, f"report_to=[{missing[0]}]")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{missing[0]} is not installed" in lines[0], result.output
    assert "pip install" in lines[0]
    assert not (out / "train_log.jsonl").exists()


# ------------------------------------------------------------------------------------- FSDP


def _launch_env(config_file: Path) -> dict[str, str]:
    """The environment `accelerate launch --config_file` gives each process (no GPU needed)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(
        ["--config_file", str(config_file), "-m", "fgit", "train"]
    )
    args, _, _ = _validate_launch_command(args)
    return prepare_multi_gpu_env(args)


def test_paper_example_trains_with_fsdp_as_configured(monkeypatch):
    """What accelerate makes of accelerate/fsdp.yaml, which examples/paper.yaml launches with:
    FSDP2, full shard, bf16 compute over fp32 weights, Qwen2's decoder layers wrapped, sharded
    resume checkpoints, FSDP's own activation checkpointing off (fgit's is on)."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.dataclasses import get_module_class_from_name
    from torch.distributed.fsdp import CPUOffloadPolicy
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from fgit.pipeline.config import load_run_config

    paper = load_run_config(EXAMPLES / "paper.yaml")
    assert paper.training.launcher == "accelerate"
    assert paper.training.accelerate_config == (EXAMPLES / "accelerate" / "fsdp.yaml").resolve()
    defaults = paper.training.defaults
    assert defaults["gradient_checkpointing"] is True and defaults["precision"] == "bf16"
    assert yaml.safe_load(paper.training.accelerate_config.read_text())["num_processes"] == 8

    env = _launch_env(paper.training.accelerate_config)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is True  # FULL_SHARD
    assert plugin.transformer_cls_names_to_wrap == ["Qwen2DecoderLayer"]
    assert str(plugin.state_dict_type).endswith("SHARDED_STATE_DICT")
    assert plugin.activation_checkpointing is False
    assert not isinstance(plugin.cpu_offload, CPUOffloadPolicy)  # weights stay on the GPUs
    plugin.set_mixed_precision("bf16")
    assert plugin.mixed_precision_policy.param_dtype == torch.bfloat16

    # the wrapped class name is the one Qwen2 models are built of
    tiny = Qwen2ForCausalLM(
        Qwen2Config(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=1, vocab_size=64,
        )
    )  # fmt: skip
    assert get_module_class_from_name(tiny, "Qwen2DecoderLayer") is not None
