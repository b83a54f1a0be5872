"""fgit inside TRL (fgit.trl): the same encodings, masks, losses and gradients as `fgit train`.

The end-to-end checks train one step with both trainers on the same tiny model and pairs and
compare the logged loss and gradient norm: equal losses say the encoding, masks, reference and
normalisation agree; equal gradient norms say the gradients do too.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM

from fgit.records import write_records
from fgit.segments.encode import PromptFormat, encode_pair
from fgit.testing import save_tiny_model
from fgit.training import TrainConfig
from fgit.training.columns import (
    ColumnCollator,
    column_loss,
    pair_columns,
    reference_logps_of,
)
from fgit.training.logprobs import CausalLMLogProbs
from fgit.training.loss_settings import READ_BY, LossName, Objective
from fgit.training.rows import RowError, encode_preference_rows
from fgit.training.trainer import train
from fgit.trl import FGITConfig, FGITTrainer
from test_training import make_pairs

REPO = Path(__file__).resolve().parents[1]
LOSSES: tuple[LossName, ...] = ("sft", "fixed", "fgit", "dpo", "dpo+sft", "fault-dpo")


def conversational(pair) -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": pair.instruction}],
        "chosen": [{"role": "assistant", "content": pair.response}],
        "rejected": [{"role": "assistant", "content": pair.incorrect}],
    }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("trl") / "tiny")


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from fgit.models import ensure_pad_token, load_tokenizer

    return ensure_pad_token(load_tokenizer(str(model_dir), quiet=True))


def trl_config(tmp_path: Path, **overrides: Any) -> FGITConfig:
    settings: dict[str, Any] = {
        "output_dir": str(tmp_path / "trl"),
        "per_device_train_batch_size": 4,
        "max_steps": 1,
        "learning_rate": 1e-3,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": [],
        "logging_steps": 1,
        "save_strategy": "no",
        "use_cpu": True,
        "max_length": 128,
        "dataloader_drop_last": False,
    }
    return FGITConfig(**(settings | overrides))


def load(model_dir: Path):
    return AutoModelForCausalLM.from_pretrained(model_dir).eval()


# ------------------------------------------------------------------------------ the config


def test_config_declares_the_loss_settings_once():
    for name in (*READ_BY, "granularity"):
        if name in ("beta", "label_smoothing"):  # DPOConfig's own, same meaning and default
            assert (
                FGITConfig.__dataclass_fields__[name].default
                == Objective.model_fields[name].default
            )
            continue
        declared = FGITConfig.__dataclass_fields__[name]
        assert declared.default == Objective.model_fields[name].default
        assert declared.metadata["help"] == Objective.model_fields[name].description


def test_config_refuses_settings_that_would_be_ignored(tmp_path):
    with pytest.raises(ValueError, match="no effect with loss sft"):
        trl_config(tmp_path, fgit_loss="sft", alpha=3.0)
    with pytest.raises(ValueError, match="loss_type"):
        trl_config(tmp_path, loss_type=["ipo"])
    with pytest.raises(ValueError, match="precompute_ref_log_probs"):
        trl_config(tmp_path, precompute_ref_log_probs=True)
    assert trl_config(tmp_path, fgit_loss="fault-dpo", beta=0.3).objective.beta == 0.3


# ------------------------------------------------------------------------------ the rows


def test_conversational_rows_encode_as_fgit_encodes_the_pair(tokenizer):
    pairs = make_pairs()[:3]
    columns = encode_preference_rows([conversational(p) for p in pairs], tokenizer, max_length=128)
    for pair, row in zip(pairs, columns, strict=True):
        expected = encode_pair(
            pair.instruction, pair.response, pair.incorrect, tokenizer, max_length=128
        )
        assert row == {**pair_columns(expected), "fgit_skip": ""}
        assert any(row["chosen_token_mask"]) and any(row["rejected_token_mask"])


def test_standard_rows_are_plain_prompts_and_a_trailing_eos_is_not_doubled(tokenizer):
    pair = make_pairs()[0]
    eos = tokenizer.eos_token
    row = {"prompt": pair.instruction, "chosen": pair.response + eos, "rejected": pair.incorrect}
    (columns,) = encode_preference_rows([row], tokenizer, max_length=128)
    plain = PromptFormat(kind="plain", template="{instruction}")
    expected = encode_pair(
        pair.instruction, pair.response, pair.incorrect, tokenizer, max_length=128,
        prompt_format=plain,
    )  # fmt: skip
    assert columns == {**pair_columns(expected), "fgit_skip": ""}
    assert columns["chosen_ids"].count(tokenizer.eos_token_id) == 1


def test_a_multi_turn_prompt_is_rendered_whole_by_the_chat_template(tokenizer):
    pair = make_pairs()[1]
    history = [
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Hi. What should I write?"},
        {"role": "user", "content": pair.instruction},
    ]
    row = {**conversational(pair), "prompt": history}
    (columns,) = encode_preference_rows([row], tokenizer, max_length=256)
    rendered = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(columns["prompt_ids"]) == rendered
    single = encode_pair(pair.instruction, pair.response, pair.incorrect, tokenizer)
    assert columns["chosen_ids"] == pair_columns(single)["chosen_ids"]


def test_an_implicit_prompt_is_extracted_as_trl_does(tmp_path, model_dir, tokenizer):
    pairs = make_pairs()[:2]
    explicit = [conversational(p) for p in pairs]
    implicit = [
        {"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]}
        for r in explicit
    ]
    datasets = []
    for rows in (explicit, implicit):
        trainer = FGITTrainer(
            model=load(model_dir),
            args=trl_config(tmp_path),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        datasets.append(trainer.train_dataset)
    keep = ["prompt_ids", "chosen_ids", "rejected_ids", "chosen_token_mask", "rejected_line_mask"]
    assert datasets[0].select_columns(keep).to_list() == datasets[1].select_columns(keep).to_list()


def test_a_row_fgit_cannot_read_names_its_index(tokenizer):
    pair = make_pairs()[0]
    good = conversational(pair)
    two_answers = {**good, "chosen": good["chosen"] * 2}
    with pytest.raises(RowError, match=r"row 6: 'chosen' must be a string or one assistant"):
        encode_preference_rows([good, two_answers], tokenizer, max_length=128, first_index=5)


def test_rows_without_room_for_a_response_are_skipped_counted_and_named(
    tmp_path, model_dir, tokenizer, caplog
):
    pairs = make_pairs()[:3]
    rows = [conversational(p) for p in pairs]
    rows[1]["prompt"][0]["content"] = "long " * 200
    trainer = FGITTrainer(
        model=load(model_dir),
        args=trl_config(tmp_path),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    assert len(trainer.train_dataset) == 2
    skipped = r"train: 1 of 3 rows skipped \(prompt too long: 1\); first: row 1"
    assert re.search(skipped, caplog.text)


# ------------------------------------------------------------------- the same loss as fgit


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trl-pairs") / "pairs.jsonl"
    write_records(path, make_pairs()[:4])
    return path


def fgit_first_step(model_dir: Path, pairs_file: Path, out: Path, loss: LossName) -> dict:
    config = TrainConfig(
        pairs=pairs_file,
        model=str(model_dir),
        output_dir=out,
        loss=loss,
        max_length=128,
        per_device_batch_size=4,
        max_steps=1,
        learning_rate=1e-3,
        quiet=True,
        save_steps=None,
        logging_steps=1,
    )
    train(config)
    return json.loads((out / "train_log.jsonl").read_text().splitlines()[0])


def trl_first_step(model_dir: Path, tokenizer, out: Path, loss: LossName, **overrides: Any) -> dict:
    model = load(model_dir).train()
    reference = load(model_dir) if loss in ("dpo", "dpo+sft", "fault-dpo") else None
    trainer = FGITTrainer(
        model=model,
        ref_model=reference,
        args=trl_config(out, fgit_loss=loss, **overrides),
        train_dataset=Dataset.from_list([conversational(p) for p in make_pairs()[:4]]),
        processing_class=tokenizer,
    )
    if reference is None:
        assert trainer.ref_model is None  # no frozen copy for a loss that reads none
    trainer.train()
    return trainer.state.log_history[0]


@pytest.mark.parametrize("loss", LOSSES)
def test_a_trl_step_has_the_loss_and_gradient_of_an_fgit_train_step(
    loss, model_dir, pairs_file, tokenizer, tmp_path
):
    ours = fgit_first_step(model_dir, pairs_file, tmp_path / "fgit", loss)
    theirs = trl_first_step(model_dir, tokenizer, tmp_path, loss)
    assert theirs["loss"] == pytest.approx(ours["loss"], rel=1e-5)
    assert theirs["grad_norm"] == pytest.approx(ours["grad_norm"], rel=1e-4)
    for metric in ("nll_sensitive", "mean_weight", "margin"):
        if metric in ours:
            assert theirs[metric] == pytest.approx(ours[metric], rel=1e-5)


def test_gradient_accumulation_gives_the_step_of_one_big_batch(model_dir, tokenizer, tmp_path):
    whole = trl_first_step(model_dir, tokenizer, tmp_path / "a", "fgit")
    accumulated = trl_first_step(
        model_dir,
        tokenizer,
        tmp_path / "b",
        "fgit",
        per_device_train_batch_size=1,
        gradient_accumulation_steps=4,
    )
    assert accumulated["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert accumulated["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-4)


def test_a_lora_run_uses_the_model_without_its_adapter_as_reference(model_dir, tokenizer, tmp_path):
    from peft import LoraConfig

    trainer = FGITTrainer(
        model=load(model_dir),
        args=trl_config(tmp_path, fgit_loss="fault-dpo", max_steps=2),
        train_dataset=Dataset.from_list([conversational(p) for p in make_pairs()[:4]]),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    assert trainer.ref_model is None
    trainer.train()
    first, second = trainer.state.log_history[:2]
    # A fresh adapter is zero: at step 1 the policy is the reference, so the margin is 0.
    assert first["margin"] == pytest.approx(0.0, abs=1e-6)
    assert second["margin"] > 0


# --------------------------------------------------------------------- your own loop


def test_the_collator_and_loss_work_in_a_plain_loop(model_dir, tokenizer):
    rows = encode_preference_rows(
        [conversational(p) for p in make_pairs()[:4]], tokenizer, max_length=128
    )
    inputs = ColumnCollator(pad_token_id=tokenizer.pad_token_id)(rows)
    model = load(model_dir)
    policy = CausalLMLogProbs(model)
    reference = reference_logps_of(CausalLMLogProbs(copy.deepcopy(model)), inputs)
    objective = Objective(loss="fault-dpo")
    loss, metrics = column_loss(policy, inputs, objective, reference_logps=reference)
    loss.backward()
    assert torch.isfinite(loss) and metrics["preference_pairs"] == 4
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="needs reference_logps"):
        column_loss(policy, inputs, objective)


# ------------------------------------------------------------------------- docs/trl.md


def test_the_script_in_docs_trl_trains_with_fgit(model_dir, tmp_path, monkeypatch):
    text = (REPO / "docs" / "trl.md").read_text()
    script = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 'MODEL = "Qwen/Qwen2.5-Coder-0.5B-Instruct"' in script
    script = script.replace(
        'MODEL = "Qwen/Qwen2.5-Coder-0.5B-Instruct"', f"MODEL = {str(model_dir)!r}"
    )
    # The script is written for a GPU (TRL's default bf16); here it runs on CPU in float32.
    assert "    report_to=[],\n" in script
    script = script.replace(
        "    report_to=[],\n", "    report_to=[],\n    use_cpu=True,\n    bf16=False,\n"
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(script, "docs/trl.md", "exec"), namespace)
    trainer = namespace["trainer"]
    assert trainer.state.global_step > 0
    assert any("nll_sensitive" in entry for entry in trainer.state.log_history)


def test_tools_given_as_json_text_reach_the_chat_template(tokenizer):
    captured = {}
    original = tokenizer.apply_chat_template

    def spy(messages, **kwargs):
        captured.update(kwargs)
        return original(messages, **{k: v for k, v in kwargs.items() if k != "tools"})

    row = {**conversational(make_pairs()[0]), "tools": '[{"name": "f"}]'}
    tokenizer.apply_chat_template = spy
    try:
        encode_preference_rows([row], tokenizer, max_length=128)
    finally:
        tokenizer.apply_chat_template = original
    assert captured["tools"] == [{"name": "f"}]


def test_a_prompt_the_chat_template_refuses_names_its_row(tokenizer):
    from transformers import PreTrainedTokenizerFast

    strict = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer,
                                     eos_token=tokenizer.eos_token)  # fmt: skip
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}{{ m['content'] }}"
        "{% endfor %}"
    )
    row = conversational(make_pairs()[0])
    row["prompt"] = [{"role": "system", "content": "s"}, *row["prompt"]]
    with pytest.raises(RowError, match="row 0: the chat template refuses this prompt: System role"):
        encode_preference_rows([row], strict, max_length=128)


def test_plain_text_rows_without_a_prompt_and_compute_metrics_are_refused(
    tmp_path, model_dir, tokenizer
):
    pair = make_pairs()[0]
    implicit = [
        {"chosen": pair.instruction + pair.response, "rejected": pair.instruction + pair.incorrect}
    ]
    with pytest.raises(ValueError, match="implicit prompt from conversational rows only"):
        FGITTrainer(
            model=load(model_dir),
            args=trl_config(tmp_path),
            train_dataset=Dataset.from_list(implicit),
            processing_class=tokenizer,
        )
    with pytest.raises(ValueError, match="compute_metrics"):
        FGITTrainer(model=load(model_dir), args=trl_config(tmp_path), compute_metrics=len,
                    train_dataset=Dataset.from_list([conversational(pair)]),
                    processing_class=tokenizer)  # fmt: skip
