"""On-policy pairs: the rules (pure), reading attempts, a round's pairs file and its yield."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fgit.onpolicy.attempts import NOT_A_CONTINUATION, attempts_of, sampled_problems
from fgit.onpolicy.build import build_round_pairs, write_round_pairs
from fgit.onpolicy.pairs import (
    Attempt,
    PairRules,
    needs_reference,
    onpolicy_id,
    pair_problem,
    take_share,
)
from fgit.records import Pair, Problem, read_pairs
from fgit.selection.embedders import LexicalScorer
from fgit.validation import holdout_ids, problem_key

SCORER = LexicalScorer()
REFERENCE = "def add(a, b):\n    return a + b"
PROBLEM = Problem(
    id="p1",
    instruction="Write add(a, b).",
    response=REFERENCE + "\n",
    tests="assert add(1, 2) == 3\n",
    entry_point="add",
)


def attempt(index: int, response: str | None, verdict: str = "failed", **extra) -> Attempt:
    return Attempt(index, verdict, response, **extra)


PASS_A = "def add(a, b):\n    return b + a"
PASS_B = "def add(x, y):\n    total = x + y\n    return total"
FAIL_NEAR = "def add(a, b):\n    return a - b"  # one token from PASS_A's form
FAIL_FAR = "def add(x, y):\n    return 0"


def test_model_rule_pairs_the_most_similar_failing_attempt_with_its_closest_pass():
    attempts = [
        attempt(0, FAIL_FAR),
        attempt(1, PASS_B, "passed"),
        attempt(2, FAIL_NEAR, "error", detail="TypeError"),
        attempt(3, PASS_A, "passed"),
    ]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules())
    assert outcome.why_none is None and outcome.correct_from == "model"
    (pair,) = outcome.pairs
    assert (pair.response, pair.incorrect) == (PASS_A, FAIL_NEAR)
    assert pair.id == onpolicy_id("p1", 0) == "p1#op0"
    assert pair.metadata["problem_id"] == "p1" and problem_key(pair) == "p1"
    assert pair.tests == PROBLEM.tests and pair.instruction == PROBLEM.instruction
    selection = pair.selection
    assert selection["source"] == "onpolicy" and selection["correct_from"] == "model"
    assert (selection["correct_attempt"], selection["attempt"]) == (3, 2)
    assert (selection["attempts"], selection["passed"]) == (4, 2)
    assert selection["verdict"] == "error" and selection["detail"] == "TypeError"
    best = SCORER.similarities([PASS_A], [[FAIL_NEAR]])[0][0]
    assert selection["similarity"] == pytest.approx(best, abs=1e-6)
    assert outcome.verdicts == Counter({"passed": 2, "failed": 1, "error": 1})


def test_without_a_pass_the_reference_is_the_correct_side_if_it_passes_its_tests():
    attempts = [attempt(0, FAIL_NEAR), attempt(1, FAIL_FAR, "timeout")]
    assert needs_reference(attempts, PairRules())
    with pytest.raises(ValueError, match="reference's verdict"):
        pair_problem(PROBLEM, attempts, SCORER, PairRules())
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules(), reference_passes=True)
    (pair,) = outcome.pairs
    assert (pair.response, pair.incorrect) == (REFERENCE, FAIL_NEAR)
    assert outcome.correct_from == "reference" and pair.selection["correct_attempt"] is None

    broken = pair_problem(PROBLEM, attempts, SCORER, PairRules(), reference_passes=False)
    assert broken.pairs == [] and broken.why_none == "reference fails its tests"

    only_model = pair_problem(PROBLEM, attempts, SCORER, PairRules(correct="model-only"))
    assert only_model.pairs == [] and only_model.why_none == "no passing attempt"
    assert not needs_reference(attempts, PairRules(correct="model-only"))


def test_reference_rule_ignores_the_passing_attempts():
    attempts = [attempt(0, PASS_A, "passed"), attempt(1, FAIL_NEAR)]
    rules = PairRules(correct="reference")
    assert needs_reference(attempts, rules)
    (pair,) = pair_problem(PROBLEM, attempts, SCORER, rules, reference_passes=True).pairs
    assert pair.response == REFERENCE and pair.incorrect == FAIL_NEAR


def test_a_problem_whose_attempts_all_pass_has_no_contrast():
    attempts = [attempt(0, PASS_A, "passed"), attempt(1, PASS_B, "passed")]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules())
    assert outcome.pairs == [] and outcome.why_none == "every attempt passes"
    assert (outcome.attempts, outcome.passed) == (2, 2)


def test_unusable_attempts_are_counted_by_reason_and_never_paired():
    attempts = [
        attempt(0, PASS_A, "passed"),
        attempt(1, None),
        attempt(2, "   \n"),
        attempt(3, "def add(a, b)\n    return a - b"),  # no colon: does not parse
        attempt(4, FAIL_NEAR),
        attempt(5, FAIL_NEAR + "\n\n"),  # the same after normalisation
        attempt(6, None, dropped=NOT_A_CONTINUATION),
    ]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules())
    assert outcome.dropped == Counter(
        {"no code": 2, "unparsable": 1, "duplicate": 1, NOT_A_CONTINUATION: 1}
    )
    assert [p.selection["attempt"] for p in outcome.pairs] == [4]

    none_usable = pair_problem(PROBLEM, attempts[:4], SCORER, PairRules())
    assert none_usable.pairs == [] and none_usable.why_none == "no usable failing attempt"


def test_a_failing_attempt_identical_to_the_correct_side_is_never_its_pair():
    # A flaky timeout of the reference's own code: the only other failure is FAIL_FAR.
    attempts = [attempt(0, REFERENCE, "timeout"), attempt(1, FAIL_FAR)]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules(), reference_passes=True)
    assert [p.incorrect for p in outcome.pairs] == [FAIL_FAR]
    alone = pair_problem(PROBLEM, attempts[:1], SCORER, PairRules(), reference_passes=True)
    assert alone.pairs == [] and alone.why_none == "every failing attempt equals the correct side"


def test_an_attempt_the_sandbox_could_not_start_is_no_verified_fault():
    # [pass, pass, pass, sandbox_error]: the last one's code never ran, so it is no incorrect side
    attempts = [attempt(i, PASS_A if i % 2 else PASS_B, "passed") for i in range(3)]
    attempts.append(attempt(3, FAIL_NEAR, "sandbox_error"))
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules())
    assert outcome.pairs == [] and outcome.why_none == "no usable failing attempt"
    assert outcome.dropped == Counter({"not run": 1, "duplicate": 1})
    assert outcome.verdicts["sandbox_error"] == 1 and outcome.passed == 3
    # beside a real failure it is still not the one paired, however similar
    (pair,) = pair_problem(PROBLEM, [*attempts, attempt(4, FAIL_FAR)], SCORER, PairRules()).pairs
    assert pair.incorrect == FAIL_FAR


def test_a_failure_whose_code_another_attempt_passes_with_is_not_used():
    # A flaky timeout of PASS_A, beside PASS_B: without the rule, (PASS_B, PASS_A) would be a pair
    # whose "incorrect" side is code that passed.
    attempts = [
        attempt(0, PASS_A, "passed"),
        attempt(1, PASS_B, "passed"),
        attempt(2, PASS_A + "\n", "timeout"),
    ]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules())
    assert outcome.pairs == [] and outcome.why_none == "no usable failing attempt"
    assert outcome.dropped == Counter({"also passes": 1})
    with_fault = pair_problem(PROBLEM, [*attempts, attempt(3, FAIL_FAR)], SCORER, PairRules())
    assert [p.incorrect for p in with_fault.pairs] == [FAIL_FAR]


def test_duplicates_are_by_outcome_not_by_verdict():
    attempts = [
        attempt(0, PASS_A, "passed"),
        attempt(1, FAIL_NEAR),
        attempt(2, FAIL_NEAR, "timeout"),
    ]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules())
    assert outcome.dropped == Counter({"duplicate": 1})
    assert [p.selection["attempt"] for p in outcome.pairs] == [1]


def test_pairs_per_problem_takes_distinct_failing_attempts_best_first():
    attempts = [attempt(0, FAIL_FAR), attempt(1, PASS_A, "passed"), attempt(2, FAIL_NEAR)]
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules(pairs_per_problem=3))
    assert [p.id for p in outcome.pairs] == ["p1#op0", "p1#op1"]
    assert [p.incorrect for p in outcome.pairs] == [FAIL_NEAR, FAIL_FAR]
    similarities = [p.selection["similarity"] for p in outcome.pairs]
    assert similarities == sorted(similarities, reverse=True)
    with pytest.raises(ValueError, match="pairs_per_problem"):
        PairRules(pairs_per_problem=0)


def test_random_rule_is_seeded_per_problem():
    failing = [attempt(i, f"def add(a, b):\n    return {i}") for i in range(8)]
    attempts = [attempt(8, PASS_A, "passed"), attempt(9, PASS_B, "passed"), *failing]

    def drawn(seed: int, problem: Problem = PROBLEM) -> list[tuple[int | None, int]]:
        rules = PairRules(incorrect="random", pairs_per_problem=3, seed=seed)
        pairs = pair_problem(problem, attempts, SCORER, rules).pairs
        return [(p.selection["correct_attempt"], p.selection["attempt"]) for p in pairs]

    assert drawn(0) == drawn(0)
    assert len(set(drawn(0))) == 3 and all(c in (8, 9) and a < 8 for c, a in drawn(0))
    other = PROBLEM.model_copy(update={"id": "p2"})
    assert len({tuple(drawn(s)) for s in range(6)} | {tuple(drawn(0, other))}) > 1


def test_take_share_is_a_fixed_hash_chosen_subset_in_order():
    pairs = [Pair(id=f"q{i}", instruction="i", response="r", incorrect="w") for i in range(20)]
    half = take_share(pairs, 0.5, seed=0)
    assert len(half) == 10 and half == take_share(pairs, 0.5, seed=0)
    assert [p.id for p in half] == [p.id for p in pairs if p in half]  # original order
    assert take_share(pairs, 0.5, seed=1) != half
    assert set(p.id for p in take_share(pairs, 0.25)) <= set(p.id for p in half)  # nested
    assert take_share(pairs, 0.0) == [] and take_share(pairs, 1.0) == pairs
    assert len(take_share(pairs[:1], 0.5)) == 1 and len(take_share(pairs[:3], 0.5)) == 2
    with pytest.raises(ValueError):
        take_share(pairs, 1.5)


def test_the_training_holdout_decides_an_onpolicy_pair_by_its_problem():
    ids = [f"Mbpp/{i}" for i in range(200)]
    held = holdout_ids(ids, 0.2)
    pairs = [
        Pair(id=onpolicy_id(pid, 0), instruction="i", response="r", incorrect="w",
             metadata={"problem_id": pid}, selection={"source": "onpolicy"})
        for pid in ids
    ]  # fmt: skip
    assert {problem_key(p) for p in pairs if problem_key(p) in held} == held
    assert problem_key(Problem(id="x", instruction="i", response="r")) == "x"
    # A dataset's own problem_id field (in metadata, as fgit.formats puts unknown fields) does
    # not move a teacher's pair or a problem off the split that fgit validate scores.
    own = {"id": "x-1", "instruction": "i", "response": "r", "metadata": {"problem_id": "x"}}
    assert problem_key(Problem(**own)) == "x-1"
    assert problem_key(Pair(**own, incorrect="w", selection={"source": "teacher"})) == "x-1"


def test_sampled_problems_leave_out_the_holdout_and_problems_without_tests():
    problems = [
        PROBLEM.model_copy(update={"id": f"p{i}", "tests": None if i % 5 == 0 else "assert 1"})
        for i in range(40)
    ]
    chosen = sampled_problems(problems, 0.25, 3)
    held = holdout_ids([p.id for p in problems], 0.25, 3)
    assert {p.id for p in chosen} == {p.id for p in problems if p.tests and p.id not in held}


def _run_of(tasks: list[tuple[str, list[tuple[str, str]]]]):
    """An evaluation run whose tasks have these (solution, verdict) samples."""
    from fgit.evaluation.results import EvalRun, SampleResult, TaskResult

    rows = []
    for task_id, samples in tasks:
        results = [SampleResult(base=v, solution=s) for s, v in samples]
        first = results[0]
        rows.append(TaskResult(task_id=task_id, base=first.base, samples=results))
    n = len(tasks[0][1])
    passed = [sum(v == "passed" for _, v in s) / n for _, s in tasks]
    counts = Counter(v for _, s in tasks for _, v in s)
    return EvalRun.model_construct(
        benchmark="problems:p.jsonl", tasks=rows, n_samples=n,
        pass_at_1_base=sum(passed) / len(passed), counts={"base": dict(counts)},
    )  # fmt: skip


def test_attempts_of_takes_a_completion_style_body_after_its_prompt():
    prompt = "def add(a, b):\n"
    completion = PROBLEM.model_copy(
        update={"id": "c1", "instruction": prompt, "response": "    return a + b\n",
                "metadata": {"style": "completion", "prelude": prompt}}
    )  # fmt: skip
    run = _run_of(
        [
            ("p1", [(PASS_A, "passed"), (FAIL_NEAR, "failed")]),
            ("c1", [(prompt + "    return a - b\n", "failed"), ("import os\n" + prompt, "error")]),
        ]
    )
    attempts = attempts_of(run, [PROBLEM, completion])
    assert [a.response for a in attempts["p1"]] == [PASS_A, FAIL_NEAR]
    assert attempts["c1"][0].response == "    return a - b\n" and attempts["c1"][0].dropped is None
    assert attempts["c1"][1].response is None
    assert attempts["c1"][1].dropped == NOT_A_CONTINUATION
    # The body parses after the prelude, so it is usable; the pair is in the reference's form.
    outcome = pair_problem(completion, attempts["c1"], SCORER, PairRules(), reference_passes=True)
    assert outcome.pairs[0].incorrect == "    return a - b"
    with pytest.raises(ValueError, match="not one of the problems"):
        attempts_of(run, [PROBLEM])


def test_a_round_counts_its_yield_checks_references_and_mixes_teacher_pairs(tmp_path):
    broken = PROBLEM.model_copy(update={"id": "p2", "response": "def add(a, b):\n    return 0\n"})
    easy = PROBLEM.model_copy(update={"id": "p3"})
    untouched = PROBLEM.model_copy(update={"id": "p4"})  # not sampled: left out
    attempts = {
        "p1": [attempt(0, PASS_A, "passed"), attempt(1, FAIL_NEAR)],
        "p2": [attempt(0, FAIL_NEAR), attempt(1, FAIL_FAR)],  # reference fails: no pair
        "p3": [attempt(0, PASS_A, "passed"), attempt(1, PASS_B, "passed")],
    }
    teacher = [
        Pair(id=f"t{i}", instruction="i", response="r", incorrect="w", selection={"x": 1})
        for i in range(4)
    ]
    pairs, summary, outcomes = build_round_pairs(
        [PROBLEM, broken, easy, untouched], attempts, SCORER, PairRules(),
        teacher_pairs=teacher, teacher_share=0.5, selection={"sampled_by": "base"},
    )  # fmt: skip
    assert [p.id for p in pairs][:1] == ["p1#op0"] and len(pairs) == 3
    assert pairs[0].selection["sampled_by"] == "base"
    assert pairs[0].selection["embedder"] == SCORER.describe()
    assert all(p.selection["source"] == "teacher" and p.selection["x"] == 1 for p in pairs[1:])
    assert summary.references_checked == 1  # only p2 needed its reference
    expected = {
        "problems": 3, "attempts": 6, "passed_attempts": 3, "with_failure": 2, "with_pass": 2,
        "every_attempt_passes": 1, "no_attempt_passes": 1, "onpolicy_pairs": 1,
        "onpolicy_used": 1, "teacher_pairs": 4, "teacher_used": 2, "pairs": 3,
    }  # fmt: skip
    data = summary.to_json()
    assert {key: data[key] for key in expected} == expected
    assert data["pass_rate"] == 0.5
    assert data["no_pair"] == {"reference fails its tests": 1, "every attempt passes": 1}
    assert data["correct_from"] == {"model": 1}

    out = tmp_path / "pairs.jsonl"
    write_round_pairs(out, pairs, summary, outcomes)
    assert [p.id for p in read_pairs(out)] == [p.id for p in pairs]
    assert json.loads((tmp_path / "pairs.jsonl.summary.json").read_text())["pairs"] == 3
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl.outcomes.jsonl").open()]
    assert [(r["id"], r["pairs"], r["why_none"]) for r in rows] == [
        ("p1", ["p1#op0"], None),
        ("p2", [], "reference fails its tests"),
        ("p3", [], "every attempt passes"),
    ]


def test_a_pass_that_cannot_be_a_side_leaves_the_reference_to_the_model_rule():
    # The only pass has no code in the reference's form (a completion the sanitizer rewrote):
    # `model` falls back to the reference, as when nothing passes, and checks it first.
    attempts = [attempt(0, None, "passed", dropped=NOT_A_CONTINUATION), attempt(1, FAIL_NEAR)]
    assert needs_reference(attempts, PairRules(), PROBLEM)
    outcome = pair_problem(PROBLEM, attempts, SCORER, PairRules(), reference_passes=True)
    (pair,) = outcome.pairs
    assert (pair.response, pair.incorrect) == (REFERENCE, FAIL_NEAR)
    assert outcome.correct_from == "reference"
    only = pair_problem(PROBLEM, attempts, SCORER, PairRules(correct="model-only"))
    assert only.pairs == [] and only.why_none == "no passing attempt"
    _, summary, _ = build_round_pairs([PROBLEM], {"p1": attempts}, SCORER, PairRules())
    assert summary.references_checked == 1 and summary.correct_from == {"reference": 1}


def test_a_completion_whose_sanitised_code_lost_the_prompts_blank_lines_keeps_its_body():
    # evalplus's sanitizer writes HumanEval's imports and function without the blank lines
    # between them: the attempt still continues its prompt.
    prompt = "from typing import List\n\n\ndef add(a, b):\n    '''Add.'''\n"
    completion = PROBLEM.model_copy(
        update={"id": "c2", "instruction": prompt, "response": "    return a + b\n",
                "metadata": {"style": "completion", "prelude": prompt}}
    )  # fmt: skip
    sanitised = "from typing import List\ndef add(a, b):\n    '''Add.'''\n    return a - b"
    other = "from typing import List\ndef add(x, y):\n    return x - y"  # another signature
    run = _run_of([("c2", [(sanitised, "failed"), (other, "failed")])])
    first, second = attempts_of(run, [completion])["c2"]
    assert (first.response, first.dropped) == ("    return a - b", None)
    assert (second.response, second.dropped) == (None, NOT_A_CONTINUATION)


def test_the_onpolicy_command_names_a_run_of_other_problems_in_one_line(tmp_path):
    from datetime import datetime, timezone

    from typer.testing import CliRunner

    from fgit.cli import app
    from fgit.evaluation.results import build_run, write_run
    from fgit.evaluation.scores import TaskScore
    from fgit.records import write_records

    run = build_run(
        model="m", benchmark="humaneval", scores=[TaskScore("HumanEval/0", "failed")],
        data={"source": "x", "version": "v", "sha256": "ab"}, sanitizer="s",
        versions={"fgit": "0"}, created=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )  # fmt: skip
    write_run(tmp_path / "run.json", run)
    write_records(tmp_path / "problems.jsonl", [PROBLEM])
    result = CliRunner().invoke(
        app,
        ["onpolicy", "--attempts", str(tmp_path / "run.json"), "--problems",
         str(tmp_path / "problems.jsonl"), "--out", str(tmp_path / "pairs.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "HumanEval/0 is not one of the problems" in result.output
    assert "Traceback" not in result.output
