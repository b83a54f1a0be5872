"""Config errors say where the user wrote the key: FILE:LINE, the key's real path, plain words,
a did-you-mean (fgit.config_file, for `fgit run` and `fgit train --config` alike)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fgit.cli import app
from fgit.config_file import ConfigError, parse_settings
from fgit.pipeline.config import load_run_config
from fgit.training.config import load_train_config

runner = CliRunner()

# Line numbers are the point: keep them as written.
RUN_CONFIG = """\
name: t
output_dir: out
model: m
problems:
  preset: mbpp
training:
  defaults:
    max_steps: 2
    {defaults_key}: {defaults_value}
  runs:
    sft: {{loss: sft}}
    fgit:
      loss: fgit
      {run_key}: {run_value}
"""


def write_run_config(
    tmp_path, defaults_key="seed", run_key="alpha", run_value="2.0", defaults_value="2"
):
    path = tmp_path / "run.yaml"
    text = RUN_CONFIG.format(
        defaults_key=defaults_key, defaults_value=defaults_value, run_key=run_key,
        run_value=run_value,
    )  # fmt: skip
    path.write_text(text)
    return path


def error_of(load) -> str:
    with pytest.raises(ConfigError) as info:
        load()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_example_layout_loads(tmp_path):
    config = load_run_config(write_run_config(tmp_path))
    assert config.training.defaults == {"max_steps": 2, "seed": 2}


def test_a_typo_in_defaults_is_reported_there_once_with_a_suggestion(tmp_path):
    """Before: `training.runs.sft: alpah (from training.defaults): Extra inputs are not
    permitted`, under the first run that inherited it (issue 14)."""
    path = write_run_config(tmp_path, defaults_key="alpah")
    message = error_of(lambda: load_run_config(path))
    assert message == f"{path}:9: training.defaults.alpah: unknown setting; did you mean alpha?"


def test_a_typo_in_a_run_is_reported_at_the_run(tmp_path):
    path = write_run_config(tmp_path, run_key="granularty", run_value="line")
    message = error_of(lambda: load_run_config(path))
    assert message == (
        f"{path}:14: training.runs.fgit.granularty: unknown setting; did you mean granularity?"
    )


def test_typos_in_both_places_are_listed_top_to_bottom(tmp_path):
    path = write_run_config(tmp_path, defaults_key="learning_rat", run_key="alpah")
    message = error_of(lambda: load_run_config(path))
    assert message.startswith(f"{path}:9: training.defaults.learning_rat: unknown setting; ")
    assert "did you mean learning_rate?" in message
    assert f"; {path}:14: training.runs.fgit.alpah: unknown setting; did you mean alpha?" in message


def test_a_wrong_type_is_said_in_plain_words(tmp_path):
    path = write_run_config(tmp_path, run_value='"big"')
    message = error_of(lambda: load_run_config(path))
    assert message == f"{path}:14: training.runs.fgit.alpha: should be a valid number, not 'big'"


def test_a_shared_default_one_run_cannot_take_names_that_run(tmp_path):
    path = write_run_config(tmp_path, defaults_key="alpha", defaults_value="3")  # fgit's only
    message = error_of(lambda: load_run_config(path))
    assert message.startswith(f"{path}:9: training.defaults.alpha: 3.0 has no effect with loss sft")
    assert message.endswith("(in run sft)")


def test_other_sections_get_the_line_and_a_suggestion(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: t\noutput_dir: o\nmodel: m\nproblems:\n  preset: mbpp\n  limt: 3\n")
    message = error_of(lambda: load_run_config(path))
    assert message == f"{path}:6: problems.limt: unknown setting; did you mean limit?"
    path.write_text("name: t\noutput_dir: o\nmodel: m\nproblems:\n  preset: mbpp\n  limit: 0\n")
    message = error_of(lambda: load_run_config(path))
    assert message == f"{path}:6: problems.limit: should be greater than or equal to 1, not 0"


def test_a_set_override_is_named_as_such(tmp_path):
    path = write_run_config(tmp_path)
    overrides = {"training": {"runs": {"fgit": {"alpha": "big"}}}}
    message = error_of(lambda: load_run_config(path, overrides))
    assert message == "--set: training.runs.fgit.alpha: should be a valid number, not 'big'"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        # yaml marks an unclosed bracket at the end of the stream: one line past the file
        ("name: t\nmodel: m\nproblems: [mbpp\n", 3, "expected ',' or ']', but got '<stream end>'"),
        ("name: t\nproblems: [mbpp,\n", 2, "expected the node content, but found '<stream end>'"),
        ("name: t\nb: [1,\n\n\nc: 3\n", 5, "(while parsing a flow sequence started at line 2)"),
        ("name: t\nproblems: [mbpp", 2, "expected ',' or ']'"),  # no newline at the end
        ("problems:\n  preset: mbpp\n   limit: 3\n", 3, "mapping values are not allowed here"),
        ("training:\n  defaults:\n    seed: 2\n   alpha: 2\n", 4, "expected <block end>"),
        ("a: 1\n\tb: 2\n", 2, "found character '\\t' that cannot start any token"),
        ('a: 1\nb: "x\x01"\n', 2, "special characters are not allowed (#x0001)"),
    ],
)
def test_broken_yaml_is_one_line_at_a_real_line(tmp_path, text, line, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    assert line <= len(text.splitlines())
    for load in (lambda: load_run_config(path), lambda: load_train_config(path, {})):
        message = error_of(load)
        assert message.startswith(f"{path}:{line}: not valid YAML: "), message
        assert problem in message


def test_train_config_files_get_lines_and_suggestions(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: o\nlearning_rat: 3\nlora:\n  rr: 3\n")
    message = error_of(lambda: load_train_config(path, {}))
    assert message == (
        f"{path}:4: learning_rat: unknown setting; did you mean learning_rate?; "
        f"{path}:6: lora.rr: unknown setting; did you mean r?"
    )
    # options given on the command line are named as such
    path.write_text("pairs: p.jsonl\nmodel: m\noutput_dir: o\n")
    message = error_of(lambda: load_train_config(path, {"alpha": "big"}))
    assert message == "command line: alpha: should be a valid number, not 'big'"
    # a `fgit run`-style file keeps them under train:
    path.write_text("train:\n  pairs: p.jsonl\n  model: m\n  output_dir: o\n  alpah: 3\n")
    message = error_of(lambda: load_train_config(path, {}))
    assert message == f"{path}:5: train.alpah: unknown setting; did you mean alpha?"


def test_key_lines_cover_nested_keys_and_list_items():
    data, source = parse_settings("a:\n  b: 1\n  c: [x,\n     y]\nd:\n  - e: 2\n", "f.yaml")
    assert data == {"a": {"b": 1, "c": ["x", "y"]}, "d": [{"e": 2}]}
    assert dict(source.lines) == {
        ("a",): 1, ("a", "b"): 2, ("a", "c"): 3, ("a", "c", 0): 3, ("a", "c", 1): 4,
        ("d",): 5, ("d", 0): 6, ("d", 0, "e"): 6,
    }  # fmt: skip
    assert source.locate(("a", "c", 1)) == "f.yaml:4"
    assert source.locate(("a", "zz")) == "f.yaml:1"  # a key the file lacks: the one above it
    assert source.locate(("zz",)) == "f.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{defaults}", ":9: training.defaults.alpah: unknown setting; did you mean alpha?"),
        ("{run}", ":14: training.runs.fgit.alpha: should be a valid number, not 'big'"),
        ("name: t\nproblems: [mbpp\n", ":2: not valid YAML: expected ',' or ']'"),
    ],
)
def test_the_command_line_says_it_in_one_line_with_exit_2(tmp_path, text, expected):
    if text == "{defaults}":
        path = write_run_config(tmp_path, defaults_key="alpah")
    elif text == "{run}":
        path = write_run_config(tmp_path, run_value='"big"')
    else:
        path = tmp_path / "broken.yaml"
        path.write_text(text)
    for args in (["run", str(path)], ["train", "--config", str(path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        if args[0] == "run" or "YAML" in expected:
            [line] = result.output.strip().splitlines()
            assert line.startswith(f"error: {path}{expected}")
