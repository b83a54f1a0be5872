"""The fgit command: thin shells, one-line errors, no tracebacks for known failures."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from fgit.cli import _parse_overrides, app
from fgit.records import Pair, write_records

runner = CliRunner()


@pytest.fixture()
def tiny_tokenizer_dir(tmp_path, bytelevel_tokenizer):
    folder = tmp_path / "tok"
    bytelevel_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture()
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write_records(
        path,
        [
            Pair(id="p1", instruction="Add one.", response="return x + 1", incorrect="return x"),
            Pair(id="p2", instruction="Same.", response="return y", incorrect="return y\n"),
        ],
    )
    return path


def test_segments_show(pairs_file, tiny_tokenizer_dir):
    args = ["segments", "show", "--pairs", str(pairs_file), "--model", str(tiny_tokenizer_dir)]
    result = runner.invoke(app, [*args, "--id", "p1", "--markers", "color"])
    assert result.exit_code == 0, result.output
    assert "\x1b[" in result.output  # colours asked for: ANSI even into a pipe
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    assert "return x + 1" in plain and "correct response" in plain and "incorrect variant" in plain


def test_segments_show_marks_survive_a_pipe(pairs_file, tiny_tokenizer_dir):
    """CliRunner's output is not a terminal: auto gives the plain marks, as a pipe would."""
    args = ["segments", "show", "--pairs", str(pairs_file), "--model", str(tiny_tokenizer_dir)]
    auto = runner.invoke(app, [*args, "--id", "p1"])
    plain = runner.invoke(app, [*args, "--id", "p1", "--markers", "plain"])
    assert auto.exit_code == plain.exit_code == 0, auto.output
    assert auto.output == plain.output and "\x1b[" not in auto.output
    lines = auto.output.splitlines()
    correct = lines.index(next(line for line in lines if line.startswith("-- correct response")))
    incorrect = lines.index(next(line for line in lines if line.startswith("-- incorrect")))
    # " + 1" is the changed part of "return x + 1"; "x" of the variant, and its end of text.
    assert lines[correct + 1] == "> return x⟦ + 1⟧⟨eos⟩"
    assert lines[incorrect + 1] == "> return ⟦x⟧⟦⟨eos⟩⟧"
    assert lines[-1].startswith("legend: ⟦…⟧ changed token (2); '>' a line with marked tokens")
    bad = runner.invoke(app, [*args, "--id", "p1", "--markers", "bold"])
    assert bad.exit_code == 2 and "must be auto, color or plain" in bad.output


def test_segments_show_unknown_id_names_file_and_ids(pairs_file, tiny_tokenizer_dir):
    args = ["segments", "show", "--pairs", str(pairs_file), "--model", str(tiny_tokenizer_dir)]
    result = runner.invoke(app, [*args, "--id", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output and "p1" in result.output


def test_segments_stats_counts_pairs_without_marks(pairs_file, tiny_tokenizer_dir):
    args = ["segments", "stats", "--pairs", str(pairs_file), "--model", str(tiny_tokenizer_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in result.output.splitlines() if line.count("│") == 3}  # fmt: skip
    assert rows["pairs read"] == "2" and rows["encoded"] == "2"
    assert rows["no sensitive token (texts equal)"] == "1"


def test_segments_stats_json_has_the_tables_numbers(pairs_file, tiny_tokenizer_dir):
    args = ["segments", "stats", "--pairs", str(pairs_file), "--model", str(tiny_tokenizer_dir)]
    table = runner.invoke(app, args)
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in table.output.splitlines() if line.count("│") == 3}  # fmt: skip
    assert (data["pairs"], data["encoded"], data["skipped"]) == (2, 2, 0)
    assert str(data["without_sensitive_tokens"]) == rows["no sensitive token (texts equal)"]
    for side in ("correct", "incorrect"):
        numbers = data["sides"][side]
        assert f"{numbers['mean_tokens']:.1f}" == rows[f"{side}: mean response tokens"]
        share = numbers["tokens_in_changed_lines"] / numbers["tokens"]
        assert numbers["share_in_changed_lines"] == share
        assert f"{100 * share:.1f}%" == rows[f"{side}: tokens in changed lines (≥1)"]
        assert f"{100 * numbers['share_changed']:.1f}%" == rows[f"{side}: changed tokens (2)"]
    skipped = runner.invoke(app, [*args, "--json", "--max-length", "4"])
    data = json.loads(skipped.stdout)
    assert data["skipped"] == 2 and data["encoded"] == 0
    assert data["skips"] == {"prompt too long": {"count": 2, "ids": ["p1", "p2"]}}
    assert data["sides"]["correct"]["share_changed"] is None  # no tokens: no share


def test_segments_stats_reports_skips(pairs_file, tiny_tokenizer_dir):
    args = ["segments", "stats", "--pairs", str(pairs_file), "--model", str(tiny_tokenizer_dir)]
    result = runner.invoke(app, [*args, "--max-length", "4"])
    assert result.exit_code == 0, result.output
    assert "skipped 2: prompt too long (e.g. p1, p2: prompt has" in result.output


def test_bad_jsonl_line_is_one_line_error(tmp_path, tiny_tokenizer_dir):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "instruction": "x", "response": "y", "incorrect": "z"}\n{oops\n')
    args = ["segments", "stats", "--pairs", str(path), "--model", str(tiny_tokenizer_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert f"{path}:2:" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_is_one_line_error(pairs_file):
    args = ["segments", "show", "--pairs", str(pairs_file), "--model", "smollm2-135m-instrct"]
    result = runner.invoke(app, [*args, "--id", "p1"])
    assert result.exit_code == 2
    assert "smollm2-135m-instruct" in result.output  # the suggestion
    assert "Traceback" not in result.output


def test_models_list():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    assert "qwen2.5-coder-0.5b-instruct" in result.output


def test_models_list_piped_at_80_columns_keeps_whole_values():
    from fgit.models import PACKAGED_MODELS

    narrow = runner.invoke(app, ["models", "list"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.output.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert not set(narrow.output) & set("…┃│━─┏┗")  # no box drawing, nothing cut
    assert lines[0].split() == ["name", "parts", "model", "ready", "tokenizer", "ready"]
    for name, spec in PACKAGED_MODELS.items():
        row = lines.index(next(line for line in lines if line.split()[0] == name))
        parts, *ready = lines[row].split()[1:]
        assert parts == str(len(spec.parts)) and len(ready) == 2 and set(ready) <= {"yes", "-"}
        assert lines[row + 1] == f"    upstream: {spec.hf_repo}"  # folded under its row
    wide = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    rows = wide.output.splitlines()
    assert len(rows) == 1 + len(PACKAGED_MODELS)  # one line per model: nothing to fold
    for row, (name, spec) in zip(rows[1:], PACKAGED_MODELS.items(), strict=True):
        assert row.split()[:3] == [name, spec.hf_repo, str(len(spec.parts))]


def test_aligned_lines_fold_the_widest_columns_first():
    from fgit.listing import aligned_lines

    header, rows = ("id", "long", "n"), [("a", "x" * 30, "1"), ("bb", "y", "22")]
    assert aligned_lines(header, rows, width=80) == [
        "id  long" + " " * 28 + "n",
        "a   " + "x" * 30 + "  1",
        "bb  y" + " " * 31 + "22",
    ]
    assert aligned_lines(header, rows, width=10) == [
        "id  n", "a   1", "    long: " + "x" * 30, "bb  22", "    long: y",
    ]  # fmt: skip
    assert aligned_lines(header, rows, width=1)[0] == "id"  # the first column always stays


def test_set_options_are_deep_merged_in_order():
    assert _parse_overrides(["lora.r=8", "lora.alpha=16"]) == {"lora": {"r": 8, "alpha": 16}}
    assert _parse_overrides(["lora=null", "lora.r=8"]) == {"lora": {"r": 8}}  # no TypeError
    assert _parse_overrides(["lora.r=8", "lora=null"]) == {"lora": None}  # the later one wins


def test_set_after_a_null_starts_the_mapping_afresh(tmp_path):
    """`--set training.runs=null --set training.runs.x=...` leaves the file's runs out: the
    later --set wins over the file too, not only over earlier --set options."""
    from fgit.pipeline import load_run_config

    config = tmp_path / "run.yaml"
    config.write_text(
        "name: t\noutput_dir: out\nmodel: m\nproblems: {preset: mbpp}\n"
        "training:\n  defaults: {lora: {r: 16, alpha: 64}}\n"
        "  runs: {sft: {loss: sft}, fgit: {loss: fgit}}\n"
    )
    overrides = _parse_overrides(
        ["training.runs=null", "training.runs.dpo={loss: dpo}", "training.defaults.lora.r=8"]
    )
    loaded = load_run_config(config, overrides)
    assert list(loaded.training.runs) == ["dpo"]
    assert loaded.training.defaults["lora"] == {"r": 8, "alpha": 64}  # no null: merged
    lora_afresh = _parse_overrides(["training.defaults.lora=null", "training.defaults.lora.r=8"])
    assert load_run_config(config, lora_afresh).training.defaults["lora"] == {"r": 8}


def test_version_option_prints_what_the_version_command_prints():
    from fgit import __version__

    option = runner.invoke(app, ["--version"])
    assert option.exit_code == 0, option.output
    assert f"fgit {__version__}" in option.output
    assert option.output == runner.invoke(app, ["version"]).output
    # Eager: it answers before any command is looked at.
    assert runner.invoke(app, ["--version", "no-such-command"]).output == option.output


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


def test_every_command_that_shows_progress_takes_quiet():
    import typer.main

    commands = dict(_commands(typer.main.get_command(app)))
    quiet = {name for name, command in commands.items()
             for param in command.params if "--quiet" in param.opts}  # fmt: skip
    shows_progress = {
        "models prepare", "segments show", "segments stats", "variants", "select", "train",
        "evaluate", "validate", "run", "quickstart", "export",  # export: preparing a tokenizer
    }  # fmt: skip
    assert quiet == shows_progress
    # The rest print a table or a line and nothing else.
    others = {"version", "models list", "problems build", "problems holdout", "compare", "report",
              "onpolicy"}  # fmt: skip
    assert set(commands) - quiet == others


@pytest.mark.parametrize("fraction", ["1.5", "-0.1", "1"])
def test_a_holdout_fraction_out_of_range_is_one_line(tmp_path, fraction):
    from fgit.records import Problem

    problems = tmp_path / "p.jsonl"
    write_records(problems, [Problem(id="a", instruction="x", response="y", tests="assert 1")])
    commands = [
        ["problems", "holdout", str(problems), "--fraction", fraction,
         "--out", str(tmp_path / "h.jsonl")],
        ["validate", "--model", "nowhere", "--problems", str(problems),
         "--holdout-fraction", fraction, "--out", str(tmp_path / "v.json")],
    ]  # fmt: skip
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and "must be in [0, 1)" in result.output
        assert not (tmp_path / "h.jsonl").exists()


@pytest.mark.parametrize(
    "option", [["--n-samples", "5"], ["--temperature", "0.8"], ["--top-p", "0.9"], ["--seed", "3"]]
)
def test_generation_options_with_samples_are_refused(tmp_path, option):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "solution": "x = 1"}\n')
    result = runner.invoke(
        app, ["evaluate", "--samples", str(samples), "--benchmark", "humaneval", *option,
              "--out", str(tmp_path / "r.json"), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert option[0] in result.output and "only apply to --model" in result.output
    assert not (tmp_path / "r.json").exists()


def test_an_out_that_is_a_folder_is_refused_before_any_work(tmp_path):
    """Before: `evaluate --out FOLDER` scored every task, then died on the write with an
    IsADirectoryError traceback (issue 14)."""
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "solution": "x = 1"}\n')
    folder = tmp_path / "a-folder"
    folder.mkdir()
    commands = [
        ["evaluate", "--samples", str(samples), "--benchmark", "humaneval", "--quiet"],
        ["problems", "holdout", str(samples), "--fraction", "0.2"],
        ["problems", "build", "--preset", "humaneval-train"],
        ["variants", "--problems", str(samples), "--teacher", "mutation"],
        ["select", "--variants", str(samples)],
        ["validate", "--model", "nowhere", "--problems", str(samples)],
    ]
    for args in commands:
        result = runner.invoke(app, [*args, "--out", str(folder)], env={"COLUMNS": "300"})
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and "is a directory" in result.output, args
    result = runner.invoke(
        app, ["compare", str(samples), "--out", str(folder)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2 and "is a directory" in result.output
    assert list(folder.iterdir()) == []
