"""Validation split of the training problems and pass@1 on it (fgit.validation)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fgit.records import Pair, Problem, write_records
from fgit.validation import holdout_ids, split_problems, validate

IDS = [f"Mbpp/{i}" for i in range(2000)]


def test_holdout_is_deterministic_sized_and_stable():
    held = holdout_ids(IDS, 0.15, seed=0)
    assert held == holdout_ids(reversed(IDS), 0.15, seed=0)  # order does not matter
    assert 0.12 < len(held) / len(IDS) < 0.18
    # Adding problems never moves one already placed; a larger fraction only adds.
    assert holdout_ids(IDS[:500], 0.15, seed=0) == held & set(IDS[:500])
    assert held <= holdout_ids(IDS, 0.3, seed=0)
    assert held != holdout_ids(IDS, 0.15, seed=1)
    assert holdout_ids(IDS, 0.0) == set()
    with pytest.raises(ValueError, match="fraction"):
        holdout_ids(IDS, 1.0)


def _problem(pid: str, tests: str | None = "assert f(1) == 2") -> Problem:
    return Problem(
        id=pid,
        instruction=f"Write f for {pid}.",
        response="def f(x):\n    return x + 1",
        tests=tests,
        entry_point="f",
    )


class CannedBackend:
    """Answers each instruction with a fixed text; records the conversations it got."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers, self.seen = answers, []

    def generate(self, conversations, params):
        assert params.temperature == 0.0 and params.n == 1
        self.seen += conversations
        return [[self.answers[c[0]["content"]]] for c in conversations]


def test_validate_runs_each_answer_against_its_tests():
    problems = [_problem("right"), _problem("wrong"), _problem("prose"), _problem("none", None)]
    backend = CannedBackend(
        {
            "Write f for right.": "Here:\n```python\ndef f(x):\n    return x + 1\n```",
            "Write f for wrong.": "```python\ndef f(x):\n    return x - 1\n```",
            "Write f for prose.": "I cannot help with that.",
        }
    )
    result = validate(backend, problems, workers=2)
    assert result.problems == 3 and result.passed == 1
    assert result.verdicts == {"right": "passed", "wrong": "failed", "prose": "no code"}
    assert result.skipped == {"none": "no tests"}
    assert result.pass_rate == pytest.approx(1 / 3)
    assert [c[0]["content"] for c in backend.seen] == [
        "Write f for right.",
        "Write f for wrong.",
        "Write f for prose.",
    ]


def test_split_problems_partitions_in_order():
    problems = [_problem(pid) for pid in IDS[:200]]
    train, held = split_problems(problems, 0.2, seed=3)
    assert {p.id for p in held} == holdout_ids(IDS[:200], 0.2, seed=3)
    assert held and len(train) + len(held) == 200
    assert [p.id for p in train] == [p.id for p in problems if p.id not in {h.id for h in held}]


def test_training_leaves_the_holdout_out(tmp_path, bytelevel_tokenizer):
    from fgit.segments import PromptFormat
    from fgit.training.data import load_training_pairs

    pairs = [
        Pair(id=pid, instruction="q", response="return 1", incorrect="return 2") for pid in IDS[:60]
    ]
    path = tmp_path / "pairs.jsonl"
    write_records(path, pairs)
    data = load_training_pairs(
        path,
        bytelevel_tokenizer,
        prompt_format=PromptFormat(kind="plain"),
        max_length=64,
        holdout=(0.25, 0),
    )
    held = holdout_ids(IDS[:60], 0.25, 0)
    assert held and data.held_out == len(held)
    assert set(data.ids) == set(IDS[:60]) - held
    assert data.summary()["held_out_for_validation"] == len(held)


def test_validate_command_writes_results(tmp_path, bytelevel_tokenizer, tiny_llama):
    from fgit.cli import app

    folder = tmp_path / "tiny"
    tiny_llama.save_pretrained(folder)
    bytelevel_tokenizer.save_pretrained(folder)
    problems = tmp_path / "problems.jsonl"
    write_records(problems, [_problem(pid) for pid in IDS[:40]])
    out = tmp_path / "val.json"
    result = CliRunner().invoke(
        app,
        [
            "validate",
            "--model",
            str(folder),
            "--problems",
            str(problems),
            "--out",
            str(out),
            "--holdout-fraction",
            "0.2",
            "--max-new-tokens",
            "8",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    held = holdout_ids(IDS[:40], 0.2, 0)
    assert held and saved["problems"] == len(held) and set(saved["verdicts"]) == held
    assert saved["holdout"] == {"fraction": 0.2, "seed": 0}
    assert saved["generation"]["dtype_reason"]
    assert "validation pass@1" in result.output
