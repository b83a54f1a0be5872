"""Inputs that run but are likely wrong warn (fgit.warn), and `fgit --strict` makes each warning
an error: one line, exit 2, nothing written after it (issue 14's first-run list)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fgit.cli import app
from fgit.records import Pair, Problem, write_records
from fgit.warn import STRICT_ENV, StrictError, is_strict, set_strict, strict_env, warn

runner = CliRunner()


def invoke(*args, strict: bool = False):
    argv = [*(["--strict"] if strict else []), *(str(arg) for arg in args)]
    return runner.invoke(app, argv, env={"COLUMNS": "300"})


def warnings_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("warning: ")]


def assert_strict_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert text in line and line.endswith("(an error under --strict)")


@pytest.fixture()
def tokenizer_dir(tmp_path, bytelevel_tokenizer):
    folder = tmp_path / "tok"
    bytelevel_tokenizer.save_pretrained(folder)
    return folder


def pairs_file(path: Path, same: int, different: int) -> Path:
    """``same`` pairs whose two sides are identical, ``different`` with a real fault."""
    pairs = [
        Pair(id=f"same{i}", instruction="Echo.", response="return x\n", incorrect="return x\n")
        for i in range(same)
    ] + [
        Pair(id=f"diff{i}", instruction="Add.", response="return x + 1\n", incorrect="return x\n")
        for i in range(different)
    ]
    if pairs:
        write_records(path, pairs)
    else:
        path.write_text("")
    return path


# ------------------------------------------------------------------------------- the one home


def test_warn_prints_one_line_or_raises_when_strict(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    before = set_strict(None)
    try:
        warn("x.jsonl: something odd [mbpp+]")  # brackets are text, not rich markup
        assert capsys.readouterr().err == "warning: x.jsonl: something odd [mbpp+]\n"
        warn("quiet worker", show=False)
        assert capsys.readouterr().err == ""
        set_strict(True)
        with pytest.raises(StrictError, match=r"^x: odd \(an error under --strict\)$"):
            warn("x: odd", show=False)  # a silent worker stops too
        assert strict_env() == {STRICT_ENV: "1"}  # what `accelerate launch`'s processes get
        set_strict(None)
        monkeypatch.setenv(STRICT_ENV, "1")
        assert is_strict()
        monkeypatch.setenv(STRICT_ENV, "0")
        assert not is_strict() and strict_env() == {}
    finally:
        set_strict(before)


def test_strict_lasts_as_long_as_its_command(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    assert invoke("models", "list", strict=True).exit_code == 0
    assert not is_strict()
    assert "--strict" in invoke("--help").output


# -------------------------------------------------------------------------------------- pairs


def test_an_empty_pairs_file_warns_in_segments_stats(tmp_path, tokenizer_dir):
    """Before: zeros and exit 0, no word about it."""
    empty = pairs_file(tmp_path / "empty.jsonl", 0, 0)
    args = ["segments", "stats", "--pairs", empty, "--model", tokenizer_dir, "--quiet"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert warnings_of(result.output) == [f"warning: {empty}: the file holds no pairs; every "
                                          "count is zero"]  # fmt: skip
    assert_strict_error(invoke(*args, strict=True), f"{empty}: the file holds no pairs")
    show = invoke("segments", "show", "--pairs", empty, "--model", tokenizer_dir, "--id", "a")
    assert show.exit_code == 2 and "the file holds no pairs" in show.output


@pytest.mark.parametrize(("same", "different", "text"), [
    (1, 2, "1 of 3 pairs have no error-sensitive token"),
    (2, 0, "none of the 2 pairs has an error-sensitive token"),
])  # fmt: skip
def test_pairs_without_sensitive_tokens_warn_in_segments_stats(
    tmp_path, tokenizer_dir, same, different, text
):
    pairs = pairs_file(tmp_path / "p.jsonl", same, different)
    args = ["segments", "stats", "--pairs", pairs, "--model", tokenizer_dir, "--quiet"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    [line] = warnings_of(result.output)
    assert line.startswith(f"warning: {pairs}: {text}")
    assert_strict_error(invoke(*args, strict=True), text)
    clean = pairs_file(tmp_path / "clean.jsonl", 0, 2)
    result = invoke("segments", "stats", "--pairs", clean, "--model", tokenizer_dir, "--quiet")
    assert result.exit_code == 0 and warnings_of(result.output) == []


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from fgit.testing import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def train_args(pairs: Path, out: Path, model: Path, loss: str) -> list:
    return ["train", "--pairs", pairs, "--model", model, "--output-dir", out, "--loss", loss,
            "--max-steps", "1", "--batch-size", "2", "--precision", "fp32", "--quiet"]  # fmt: skip


def test_training_on_pairs_without_sensitive_tokens_warns(tmp_path, model_dir):
    """Before: FGIT trained on identical pairs without a word."""
    pairs = pairs_file(tmp_path / "p.jsonl", 1, 1)
    text = "1 of 2 pairs have no error-sensitive token"
    strict = invoke(*train_args(pairs, tmp_path / "strict", model_dir, "fgit"), strict=True)
    assert_strict_error(strict, text)
    assert not (tmp_path / "strict" / "model").exists()  # stopped before training
    result = invoke(*train_args(pairs, tmp_path / "fgit", model_dir, "fgit"))
    assert result.exit_code == 0, result.output
    [line] = warnings_of(result.output)
    assert line.startswith(f"warning: {pairs}: {text}") and line.endswith("(loss fgit)")
    # SFT reads the correct side only: nothing to warn about
    result = invoke(*train_args(pairs, tmp_path / "sft", model_dir, "sft"), strict=True)
    assert result.exit_code == 0, result.output
    assert warnings_of(result.output) == []


# ----------------------------------------------------------------------------------- problems


def test_a_problems_build_that_keeps_nothing_says_why(tmp_path, shared_data):
    """Before: `problems build --preset humaneval-train` with decontamination on wrote 0
    problems, exit 0."""
    out = tmp_path / "problems.jsonl"
    args = ["problems", "build", "--preset", "humaneval-train", "--data-dir", shared_data]
    result = invoke(*args, "--out", out)
    assert result.exit_code == 0, result.output
    [line] = warnings_of(result.output)
    assert "decontamination removed all 82 that humaneval-train loaded" in line
    assert "--no-decontaminate" in line
    strict_out = tmp_path / "strict.jsonl"
    assert_strict_error(invoke(*args, "--out", strict_out, strict=True), "removed all 82")
    assert not strict_out.exists()
    result = invoke(*args, "--out", out, "--no-decontaminate", "--limit", "3", strict=True)
    assert result.exit_code == 0 and warnings_of(result.output) == []


# --------------------------------------------------------------------------------- evaluation

PROBLEMS = [
    Problem(id=f"mine/{name}", instruction=f"Write {name}(x).", entry_point=name,
            response=f"def {name}(x):\n    return x\n", tests=f"assert {name}(3) == 3\n")
    for name in ("one", "two", "three")
]  # fmt: skip


def test_samples_that_cover_part_of_a_benchmark_warn(tmp_path):
    """Before: 'missing 2' among the failures, nothing more."""
    problems = tmp_path / "mine.jsonl"
    write_records(problems, PROBLEMS)
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "mine/one", "solution": PROBLEMS[0].response}))
    args = ["evaluate", "--samples", samples, "--benchmark", f"problems:{problems}", "--quiet"]
    text = f"{samples}: samples for 1 of the 3 tasks of problems:mine.jsonl"
    strict_out = tmp_path / "strict.json"
    assert_strict_error(invoke(*args, "--out", strict_out, strict=True), text)
    assert not strict_out.exists()
    result = invoke(*args, "--out", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    [line] = warnings_of(result.output)
    assert line.startswith(f"warning: {text}; the other 2 count as failures (missing)")
    assert "not comparable to published" in line
    full = tmp_path / "full.jsonl"
    full.write_text("".join(
        json.dumps({"task_id": p.id, "solution": p.response}) + "\n" for p in PROBLEMS
    ))  # fmt: skip
    result = invoke("evaluate", "--samples", full, "--benchmark", f"problems:{problems}",
                    "--out", tmp_path / "f.json", "--quiet", strict=True)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert warnings_of(result.output) == []


def test_one_sample_of_mbpp_plus_is_refused_under_strict(tmp_path, shared_data):
    samples = tmp_path / "one.jsonl"
    samples.write_text(json.dumps({"task_id": "Mbpp/2", "solution": "x = 1"}) + "\n")
    out = tmp_path / "r.json"
    result = invoke("evaluate", "--samples", samples, "--benchmark", "mbpp+", "--data-dir",
                    shared_data, "--out", out, "--quiet", strict=True)  # fmt: skip
    assert_strict_error(result, "samples for 1 of the 378 tasks of mbpp+")
    assert not out.exists()  # refused before any scoring
