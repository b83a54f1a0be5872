"""Reading the formats users bring (fgit.formats through fgit.records): TRL multi-turn and
implicit-prompt rows, LLaMA-Factory alpaca and sharegpt ranking rows, and `datasets` sources;
and exporting pairs to TRL rows that read back into the same pairs (fgit.export)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fgit.cli import app
from fgit.export import export_rows, marked_spans, write_rows
from fgit.records import Message, Pair, RecordError, read_pairs, read_problems, write_records
from fgit.segments.encode import PromptFormat, SegmentError, encode_pair, render_prompt

runner = CliRunner()

SYSTEM = {"role": "system", "content": "You write Python."}
EARLIER = [
    {"role": "user", "content": "Write inc(n)."},
    {"role": "assistant", "content": "def inc(n):\n    return n + 1\n"},
]
ASK = {"role": "user", "content": "Now write dec(n)."}
GOOD = "def dec(n):\n    return n - 1\n"
BAD = "def dec(n):\n    return n + 1\n"
CONTEXT = [Message(**SYSTEM), *(Message(**m) for m in EARLIER)]


def jsonl(path: Path, *rows: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def only_pair(path: Path) -> Pair:
    (pair,) = read_pairs(path)
    return pair


def assert_multi_turn(pair: Pair) -> None:
    assert (pair.instruction, pair.response, pair.incorrect) == (ASK["content"], GOOD, BAD)
    assert pair.context == CONTEXT


# ------------------------------------------------------------------------------------ TRL


def test_trl_multi_turn_prompt_keeps_every_turn(tmp_path):
    row = {
        "prompt": [SYSTEM, *EARLIER, ASK],
        "chosen": [{"role": "assistant", "content": GOOD}],
        "rejected": [{"role": "assistant", "content": BAD}],
    }
    assert_multi_turn(only_pair(jsonl(tmp_path / "t.jsonl", row)))


def test_trl_implicit_prompt_is_the_shared_first_turns(tmp_path):
    conversation = [SYSTEM, *EARLIER, ASK]
    row = {
        "chosen": [*conversation, {"role": "assistant", "content": GOOD}],
        "rejected": [*conversation, {"role": "assistant", "content": BAD}],
    }
    assert_multi_turn(only_pair(jsonl(tmp_path / "t.jsonl", row)))


def test_an_implicit_prompt_that_shares_nothing_is_an_error_with_its_line(tmp_path):
    row = {
        "chosen": [{"role": "assistant", "content": GOOD}],
        "rejected": [{"role": "assistant", "content": BAD}],
    }
    path = jsonl(tmp_path / "t.jsonl", row)
    with pytest.raises(RecordError, match=r"t\.jsonl:1: record has no 'prompt' and"):
        read_pairs(path)


# ---------------------------------------------------------------------------- LLaMA-Factory


def test_llama_factory_alpaca_ranking_with_system_and_history(tmp_path):
    row = {
        "instruction": "Now write dec(n).",
        "input": "",
        "chosen": GOOD,
        "rejected": BAD,
        "system": SYSTEM["content"],
        "history": [[EARLIER[0]["content"], EARLIER[1]["content"]]],
    }
    pair = only_pair(jsonl(tmp_path / "lf.jsonl", row))
    assert_multi_turn(pair)
    assert pair.metadata == {}
    # The same row read as a problem: the chosen answer is the response.
    (problem,) = read_problems(tmp_path / "lf.jsonl")
    assert problem.response == GOOD and problem.context == CONTEXT


def test_llama_factory_sharegpt_ranking_and_sft(tmp_path):
    sharegpt = [
        {"from": "human", "value": EARLIER[0]["content"]},
        {"from": "gpt", "value": EARLIER[1]["content"]},
        {"from": "human", "value": ASK["content"]},
    ]
    ranking = {
        "conversations": sharegpt,
        "chosen": {"from": "gpt", "value": GOOD},
        "rejected": {"from": "gpt", "value": BAD},
        "system": SYSTEM["content"],
    }
    assert_multi_turn(only_pair(jsonl(tmp_path / "r.jsonl", ranking)))
    sft = {
        "conversations": [*sharegpt, {"from": "gpt", "value": GOOD}],
        "system": "You write Python.",
    }
    (problem,) = read_problems(jsonl(tmp_path / "s.jsonl", sft))
    assert (problem.instruction, problem.response, problem.context) == (
        ASK["content"],
        GOOD,
        CONTEXT,
    )
    with pytest.raises(RecordError, match=r"s\.jsonl:1: sharegpt record has no 'rejected'"):
        read_pairs(tmp_path / "s.jsonl")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            {
                "conversations": [{"from": "observation", "value": "x"}],
                "chosen": "a",
                "rejected": "b",
            },
            "field 'conversations': message 1 has unsupported role 'observation'",
        ),
        (
            {"instruction": "i", "chosen": "a", "rejected": "b", "history": [["only one"]]},
            "field 'history': turn 1 must be a [user, assistant] pair of strings",
        ),
        (
            {
                "instruction": "i",
                "chosen": "a",
                "rejected": "b",
                "system": "s",
                "history": [],
                "conversations_typo": 1,
            },
            None,  # unknown columns are kept as metadata, not an error
        ),
        (
            {"prompt": [SYSTEM, ASK], "chosen": "a", "rejected": "b", "system": "again"},
            None,
        ),
    ],
)
def test_llama_factory_errors_name_the_field_and_line(tmp_path, row, reason):
    path = jsonl(tmp_path / "e.jsonl", {"prompt": "p", "chosen": "a", "rejected": "b"}, row)
    if reason is None:
        assert len(read_pairs(path)) == 2
        return
    with pytest.raises(RecordError) as info:
        read_pairs(path)
    assert str(info.value) == f"{path}:2: {reason}"


# ---------------------------------------------------------------------- datasets sources


def pairs_for_tables() -> list[Pair]:
    return [
        Pair(id="a", instruction="Write dec(n).", response=GOOD, incorrect=BAD),
        Pair(
            id="b",
            instruction=ASK["content"],
            response=GOOD,
            incorrect=BAD,
            context=CONTEXT,
            tests="assert dec(1) == 0",
        ),
    ]


def test_parquet_arrow_and_saved_folders_read_like_jsonl(tmp_path):
    import datasets

    pairs = pairs_for_tables()
    # A table of native records: a field a row lacks is null there (parquet cannot hold the
    # empty metadata objects, so they are left out).
    rows = [p.model_dump(mode="json", exclude_defaults=True) for p in pairs]
    table = datasets.Dataset.from_list(
        [{**r, "context": r.get("context"), "tests": r.get("tests")} for r in rows]
    )
    table.to_parquet(str(tmp_path / "pairs.parquet"))
    table.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "parquets").mkdir()
    table.to_parquet(str(tmp_path / "parquets" / "part-0.parquet"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    for source in ("pairs.parquet", "saved", "parquets", arrow.relative_to(tmp_path)):
        got = read_pairs(tmp_path / source)
        assert [p.model_dump() for p in got] == [p.model_dump() for p in pairs], source


def test_a_bad_dataset_row_is_named_by_its_index(tmp_path):
    import datasets

    rows = [
        {"prompt": "p", "chosen": "a", "rejected": "b"},
        {"prompt": "p", "chosen": "a", "rejected": ""},
    ]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(RecordError) as info:
        read_pairs(tmp_path / "bad.parquet")
    assert (
        str(info.value)
        == f"{tmp_path / 'bad.parquet'}: row 1: field 'rejected' must be a non-empty string"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordError, match="folder holds no dataset"):
        read_pairs(tmp_path / "empty")


def test_a_hub_dataset_is_loaded_by_name_and_split(tmp_path, monkeypatch):
    import datasets

    calls = []

    def stand_in(name, split):
        calls.append((name, split))
        return datasets.Dataset.from_list([{"prompt": "p", "chosen": "a", "rejected": "b"}])

    monkeypatch.setattr(datasets, "load_dataset", stand_in)
    assert len(read_pairs("hf:someone/pairs:test")) == 1
    assert len(read_pairs("hf:someone/pairs")) == 1
    assert calls == [("someone/pairs", "test"), ("someone/pairs", "train")]

    def offline(name, split):
        raise ConnectionError(
            "Couldn't reach 'someone/pairs' on the Hub (LocalEntryNotFoundError)\nmore"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RecordError) as info:
        read_pairs("hf:someone/pairs")
    assert str(info.value) == (
        "hf:someone/pairs: cannot load the dataset: Couldn't reach 'someone/pairs' on the Hub "
        "(LocalEntryNotFoundError)"
    )


# ---------------------------------------------------------------- the context in training


def test_the_context_is_rendered_before_the_instruction(bytelevel_tokenizer):
    prompt = render_prompt(ASK["content"], bytelevel_tokenizer, context=CONTEXT)
    expected = bytelevel_tokenizer.apply_chat_template(
        [SYSTEM, *EARLIER, ASK], tokenize=False, add_generation_prompt=True
    )
    assert prompt == expected
    # The record's own system message wins over the run's default one.
    assert (
        render_prompt(ASK["content"], bytelevel_tokenizer, PromptFormat(system="x"), CONTEXT)
        == expected
    )
    encoded = encode_pair(ASK["content"], GOOD, BAD, bytelevel_tokenizer, context=CONTEXT)
    assert (
        bytelevel_tokenizer.decode(encoded.correct.input_ids[: encoded.correct.prompt_length])
        == expected
    )
    with pytest.raises(SegmentError, match=r"multi-turn prompt .* needs a chat template"):
        encode_pair(ASK["content"], GOOD, BAD, bytelevel_tokenizer, context=CONTEXT,
                    prompt_format=PromptFormat(kind="plain"))  # fmt: skip


# -------------------------------------------------------------------------------- export


def test_marked_spans_are_runs_of_equal_levels():
    import numpy as np

    assert marked_spans(np.array([0, 1, 1, 2, 2, 0, 1, 0, 2], dtype=np.int8)) == [
        [1, 3, 1],
        [3, 5, 2],
        [6, 7, 1],
        [8, 9, 2],
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_export_reads_back_into_the_same_pairs(tmp_path, suffix, bytelevel_tokenizer):
    pairs = [
        *pairs_for_tables(),
        Pair(
            id="c",
            instruction="Write neg(n).",
            response="def neg(n):\r\n    return -n\r\n",
            incorrect="def neg(n):\n    return n\n",
            metadata={"origin": {"teacher": "qwen"}},
            selection={"similarity": 0.9},
        ),
    ]
    result = export_rows(pairs, tokenizer=bytelevel_tokenizer, max_length=256)
    out = tmp_path / f"trl{suffix}"
    write_rows(result.rows, out)
    back = read_pairs(out)
    # Read back: the same pairs, responses as fgit diffs them (\n line endings, no trailing
    # whitespace); the derived columns are not metadata.
    assert [p.id for p in back] == ["a", "b", "c"]
    for before, after in zip(pairs, back, strict=True):
        assert after.instruction == before.instruction and after.context == before.context
        assert after.response == before.response.replace("\r\n", "\n").rstrip()
        assert after.incorrect == before.incorrect.rstrip()
        assert (after.tests, after.metadata, after.selection) == (
            before.tests,
            before.metadata,
            before.selection,
        )
    # The token columns are fgit's own encoding of each pair.
    for pair, row in zip(pairs, result.rows, strict=True):
        encoded = encode_pair(pair.instruction, pair.response, pair.incorrect, bytelevel_tokenizer,
                              max_length=256, context=pair.context)  # fmt: skip
        n = encoded.correct.prompt_length
        assert row["prompt_ids"] == encoded.correct.input_ids[:n]
        assert row["chosen_token_mask"] == encoded.correct.token_mask[n:]
        text = row["chosen"][0]["content"]
        assert all(0 <= s < e <= len(text) + 1 for s, e, _ in row["chosen_spans"])


def test_export_spans_mark_the_changed_characters():
    pair = Pair(id="x", instruction="i", response="return a + b", incorrect="return a - b")
    (row,) = export_rows([pair]).rows
    chosen = row["chosen"][0]["content"]
    changed = [chosen[s:e] for s, e, level in row["chosen_spans"] if level == 2]
    assert changed == ["+"]


def test_export_command_writes_trl_rows_that_trl_reads(tmp_path, tiny_model_dir):
    pairs = tmp_path / "pairs.jsonl"
    write_records(pairs, pairs_for_tables())
    out = tmp_path / "trl.jsonl"
    result = runner.invoke(
        app,
        [
            "export",
            "--pairs",
            str(pairs),
            "--out",
            str(out),
            "--model",
            str(tiny_model_dir),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rows written" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"prompt", "chosen", "rejected", "chosen_spans", "prompt_ids"} <= rows[0].keys()
    bad = runner.invoke(
        app,
        ["export", "--pairs", str(pairs), "--out", str(tmp_path / "x.csv")],
        env={"COLUMNS": "300"},
    )
    assert bad.exit_code == 2 and "write .jsonl or .parquet" in bad.output


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    from fgit.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("export") / "tiny")


def test_a_folder_of_several_splits_is_refused_not_merged(tmp_path):
    import datasets

    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    split = datasets.Dataset.from_list(rows)
    (tmp_path / "hub").mkdir()
    split.to_parquet(str(tmp_path / "hub" / "train-00000.parquet"))
    split.to_parquet(str(tmp_path / "hub" / "test-00000.parquet"))
    with pytest.raises(RecordError, match="holds the splits train, test"):
        read_pairs(tmp_path / "hub")
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(RecordError, match="holds the splits train, test"):
        read_pairs(tmp_path / "dict")
    assert len(read_pairs(tmp_path / "dict" / "train")) == 1


def test_fgit_train_takes_a_parquet_file_and_a_hub_name_stays_a_name(tmp_path, tiny_model_dir):
    from fgit.training import TrainConfig, load_train_config
    from fgit.training.trainer import train

    table = tmp_path / "pairs.parquet"
    write_rows(export_rows(pairs_for_tables()).rows, table)
    config = TrainConfig(
        pairs=table, model=str(tiny_model_dir), output_dir=tmp_path / "run", max_steps=1,
        per_device_batch_size=2, quiet=True, save_steps=None, max_length=256,
    )  # fmt: skip
    assert train(config).steps == 1
    settings = tmp_path / "train.yaml"
    settings.write_text("pairs: hf:someone/pairs\nmodel: m\noutput_dir: out\n")
    loaded = load_train_config(settings, {})
    assert str(loaded.pairs) == "hf:someone/pairs"
    assert loaded.output_dir == tmp_path / "out"
