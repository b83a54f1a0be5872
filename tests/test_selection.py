"""Selection: drop reasons, similarity choice, audit journal, resume, execution check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fgit.records import Candidate, VariantSet, iter_records, read_pairs, write_records
from fgit.selection.embedders import LexicalScorer, cosine_rows, load_scorer
from fgit.selection.select import journal_path, select_pairs
from fgit.variants.stage import build_candidate

CORRECT = "def f(a):\n    return a[0] + a[1]"


def variant_set(pid: str, texts: list[str], **fields) -> VariantSet:
    base = VariantSet(id=pid, instruction="Add the first two.", response=CORRECT, **fields)
    return base.model_copy(update={"candidates": [build_candidate(base, t) for t in texts]})


def test_cosine_rows_handles_zero_vectors():
    got = cosine_rows(np.array([1.0, 0.0]), np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]]))
    assert got.tolist() == [1.0, 0.0, 0.0]


def test_lexical_scorer_ranks_near_copies_first():
    scores = LexicalScorer().similarities([CORRECT], [[CORRECT.replace("+", "-"), "print(1)"]])
    assert scores[0][0] > 0.8 > scores[0][1]


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown embedder"):
        load_scorer("word2vec")


def test_selection_drops_unusable_and_chooses_the_most_similar(tmp_path):
    texts = [
        "I would rather not.",  # prose
        f"```python\n{CORRECT}\n```",  # identical
        "```python\ndef f(a:\n    return a[0]\n```",  # unparsable
        "```python\ndef f(a):\n    return a[0] - a[1]\n```",  # the closest wrong one
        "```python\ndef f(a):\n    return a[0] - a[1]\n```",  # duplicate
        "```python\ndef f(a):\n    total = 0\n    return total\n```",  # further away
    ]
    variants = tmp_path / "variants.jsonl"
    write_records(variants, [variant_set("p1", texts)])
    out = tmp_path / "pairs.jsonl"
    summary = select_pairs(variants, out, LexicalScorer(), run_tests=False, quiet=True)
    [pair] = read_pairs(out)
    assert pair.incorrect == "def f(a):\n    return a[0] - a[1]"
    assert pair.selection["candidate"] == 3 and pair.selection["verified_incorrect"] is False
    assert dict(summary.dropped) == {
        "no code": 1,
        "identical to correct": 1,
        "unparsable": 1,
        "duplicate": 1,
    }
    [scored] = [r for _, r in iter_records(journal_path(out), VariantSet)]
    assert [c.chosen for c in scored.candidates] == [False, False, False, True, False, False]
    saved = json.loads(out.with_name(out.name + ".summary.json").read_text())
    assert saved["pairs"] == 1 and saved["embedder"] == {"kind": "lexical", "ngram": 3}


def test_problem_without_usable_candidate_is_counted_not_lost(tmp_path):
    variants = tmp_path / "variants.jsonl"
    write_records(variants, [variant_set("p1", ["no code here"]), variant_set("p2", ["x = 1"])])
    out = tmp_path / "pairs.jsonl"
    summary = select_pairs(variants, out, LexicalScorer(), run_tests=False, quiet=True)
    assert summary.pairs == 1 and dict(summary.skipped) == {"no usable incorrect candidate": 1}


def test_selection_resumes_from_its_journal(tmp_path):
    variants = tmp_path / "variants.jsonl"
    sets = [variant_set(f"p{i}", [f"def f(a):\n    return a[{i}]"]) for i in range(5)]
    write_records(variants, sets)
    out = tmp_path / "pairs.jsonl"
    # A previous run journalled two problems, then died mid-line.
    select_pairs(variants, out, LexicalScorer(), run_tests=False, quiet=True)
    journal = journal_path(out)
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:2]) + lines[2][:20])
    summary = select_pairs(variants, out, LexicalScorer(), run_tests=False, quiet=True)
    ids = [r.id for _, r in iter_records(journal, VariantSet)]
    assert sorted(ids) == [f"p{i}" for i in range(5)]
    assert summary.pairs == 5 and len(read_pairs(out)) == 5


def test_candidate_model_forbids_unknown_fields():
    with pytest.raises(ValueError):
        Candidate(text="x", response="x", code="x", extraction="fenced", colour="red")


def test_unixcoder_input_is_framed_in_encoder_only_mode():
    """UniXcoder's official usage: [CLS] <encoder-only> [SEP] code [SEP], code cut to
    max_length - 4 tokens, padded with the pad id (mask 0 there)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from fgit.selection.embedders import EmbeddingScorer, unixcoder_input_ids

    words = ["<s>", "</s>", "<pad>", "<unk>", "<encoder-only>", "def", "f", "return", "x"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<encoder-only>"],
    )
    assert unixcoder_input_ids(tokenizer, "def f return x", 512) == [0, 4, 1, 5, 6, 7, 8, 1]
    assert unixcoder_input_ids(tokenizer, "def f return x", 6) == [0, 4, 1, 5, 6, 1]
    scorer = EmbeddingScorer(source="test", path="unused", unixcoder=True, max_length=512)
    scorer._tokenizer = tokenizer
    enc = scorer._encode(["def f", "return x x"])
    assert enc["input_ids"].tolist() == [[0, 4, 1, 5, 6, 1, 2], [0, 4, 1, 7, 8, 8, 1]]
    assert enc["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 0], [1] * 7]
    assert "encoder-only" in scorer.describe()["input"]


def test_non_python_reference_is_its_own_drop_reason(tmp_path):
    """A problem answered in another language is counted as such, not as 'unparsable'."""
    cpp = "```cpp\nint f(int a) { return a + 1; }\n```"
    base = VariantSet(id="c1", instruction="Add one in C++.", response=cpp)
    wrong = "```cpp\nint f(int a) { return a - 1; }\n```"
    cpp_set = base.model_copy(update={"candidates": [build_candidate(base, wrong)]})
    variants = tmp_path / "variants.jsonl"
    python_set = variant_set("p1", ["```python\ndef f(a:\n```"])
    write_records(variants, [cpp_set, python_set])
    out = tmp_path / "pairs.jsonl"
    summary = select_pairs(variants, out, LexicalScorer(), run_tests=False, quiet=True)
    assert summary.pairs == 0
    assert dict(summary.dropped) == {"non-Python reference": 1, "unparsable": 1}


def test_a_python_reference_that_does_not_parse_is_named_so(tmp_path):
    """Python 2 (or cut-off) reference code is 'unparsable reference', not 'non-Python'."""
    base = VariantSet(id="py2", instruction="Print.", response="```python\nprint 'hi'\n```")
    py2 = base.model_copy(update={"candidates": [build_candidate(base, "print('ho')")]})
    variants = tmp_path / "variants.jsonl"
    write_records(variants, [py2])
    summary = select_pairs(
        variants, tmp_path / "pairs.jsonl", LexicalScorer(), run_tests=False, quiet=True
    )
    assert dict(summary.dropped) == {"unparsable reference": 1}


def test_a_candidate_the_sandbox_could_not_start_is_dropped_not_chosen(tmp_path, monkeypatch):
    """A ``sandbox_error`` is the machine's fault: that candidate's code never ran, so it is no
    verified incorrect side, however similar it is."""
    import fgit.execution as execution
    from fgit.execution import ExecutionResult, Verdict

    def result(verdict: Verdict) -> ExecutionResult:
        return ExecutionResult(verdict, verdict == Verdict.PASSED, verdict.value, 0.0, "", "")

    # reference, the closest candidate (never ran), a further one (fails its assert)
    verdicts = [Verdict.PASSED, Verdict.SANDBOX_ERROR, Verdict.FAILED]
    monkeypatch.setattr(execution, "run_many", lambda programs, **_: list(map(result, verdicts)))
    texts = [
        "```python\ndef f(a):\n    return a[0] - a[1]\n```",
        "```python\ndef f(a):\n    total = 0\n    return total\n```",
    ]
    variants = tmp_path / "variants.jsonl"
    write_records(variants, [variant_set("p1", texts, tests="assert f([1, 2]) == 3\n")])
    out = tmp_path / "pairs.jsonl"
    summary = select_pairs(variants, out, LexicalScorer(), quiet=True)
    [pair] = read_pairs(out)
    assert pair.selection["candidate"] == 1 and pair.selection["verified_incorrect"] is True
    assert summary.dropped["not run by the sandbox"] == 1
