"""Stages 1-2 end to end through the CLI: problems -> variants (mutation) -> select (sandbox)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fgit.cli import app
from fgit.records import VariantSet, iter_records, read_pairs, read_problems

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_mbpp_mutation_pairs_are_verified_incorrect(tmp_path, shared_data):
    problems = tmp_path / "problems.jsonl"
    invoke("problems", "build", "--preset", "mbpp", "--data-dir", str(shared_data),
           "--out", str(problems), "--limit", "8")  # fmt: skip
    records = read_problems(problems)
    assert len(records) == 8 and all(r.tests for r in records)
    report = json.loads((tmp_path / "problems.jsonl.report.json").read_text())
    assert report["decontamination"]["removed"] > 0  # MBPP+ ids are removed

    variants = tmp_path / "variants.jsonl"
    invoke("variants", "--problems", str(problems), "--teacher", "mutation", "--k", "3",
           "--out", str(variants))  # fmt: skip
    pairs = tmp_path / "pairs.jsonl"
    output = invoke("select", "--variants", str(variants), "--embedder", "lexical",
                    "--out", str(pairs), "--timeout", "5")  # fmt: skip
    assert "most similar candidate fails its tests" in output

    chosen = read_pairs(pairs)
    assert chosen, "mutation should give at least one verified pair on 8 MBPP problems"
    for pair in chosen:
        assert pair.selection["verified_incorrect"] is True
        assert pair.selection["verdict"] in {"failed", "error", "timeout", "memory", "exited"}
        assert pair.incorrect != pair.response
    journal = [r for _, r in iter_records(tmp_path / "pairs.jsonl.candidates.jsonl", VariantSet)]
    assert len(journal) == 8  # every problem is audited, chosen or not
    passing = [c for s in journal for c in s.candidates if c.verdict == "passed"]
    assert all(c.dropped == "passes its tests" and not c.chosen for c in passing)


def test_quiet_silences_the_progress_bars_of_variants_and_select(tmp_path, shared_data):
    problems = tmp_path / "problems.jsonl"
    invoke("problems", "build", "--preset", "mbpp", "--data-dir", str(shared_data),
           "--out", str(problems), "--limit", "3")  # fmt: skip
    commands = {
        "variants": ["variants", "--problems", str(problems), "--teacher", "mutation"],
        "select": ["select", "--variants", str(tmp_path / "variants.jsonl"), "--no-tests",
                   "--embedder", "lexical"],
    }  # fmt: skip
    for name, args in commands.items():
        bars = {}
        for quiet in (False, True):
            out = tmp_path / f"{name}-{quiet}.jsonl"
            result = runner.invoke(app, [*args, "--out", str(out), *(["--quiet"] * quiet)])
            assert result.exit_code == 0, result.output
            assert "│ problems " in result.stdout  # the results' table, either way
            bars[quiet] = result.stderr
        assert "3/3 problems" in bars[False], bars[False]  # the bar's last state
        assert bars[True] == "", bars[True]
        if name == "variants":
            (tmp_path / "variants-False.jsonl").rename(tmp_path / "variants.jsonl")
