"""Hand-worked examples: every mask value of every token is asserted.

The tokenizer here is a real fast tokenizer (``tokenizers`` WordLevel behind
``PreTrainedTokenizerFast``) with predictable splits: runs of word characters, runs of
punctuation, runs of whitespace. A whitespace run such as ``"\\n    "`` is one token that spans
the end of one line and the indentation of the next, as in Qwen's and GPT-2's vocabularies.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from fgit.segments import IGNORE_INDEX, SegmentError, diff_marks, encode_pair

PIECES = re.compile(r"\w+|[^\w\s]+|\s+")
EOS = "<eos>"


def word_tokenizer(*texts: str) -> PreTrainedTokenizerFast:
    vocab = {"<unk>": 0, EOS: 1}
    for text in texts:
        for piece in PIECES.findall(text.replace("\r\n", "\n")):
            vocab.setdefault(piece, len(vocab))
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split(Regex(PIECES.pattern), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=EOS, unk_token="<unk>")


def response_tokens(side, tokenizer) -> list[tuple[str, int]]:
    """(token, hybrid value) for each response token."""
    ids = side.input_ids[side.prompt_length :]
    values = side.hybrid_mask[side.prompt_length :]
    return list(zip(tokenizer.convert_ids_to_tokens(ids), values, strict=True))


def encode(correct: str, incorrect: str, instruction: str = "Solve it."):
    tok = word_tokenizer(instruction, correct, incorrect)
    return encode_pair(instruction, correct, incorrect, tok), tok


def test_off_by_one_index():
    correct = "for i in range(1, n):\n    a[i] = a[i-1]"
    incorrect = "for i in range(1, n):\n    a[i] = a[i]"
    pair, tok = encode(correct, incorrect)
    shared_line = [
        ("for", 0),
        (" ", 0),
        ("i", 0),
        (" ", 0),
        ("in", 0),
        (" ", 0),
        ("range", 0),
        ("(", 0),
        ("1", 0),
        (",", 0),
        (" ", 0),
        ("n", 0),
        ("):", 0),
    ]
    assert response_tokens(pair.correct, tok) == [
        *shared_line,
        ("\n    ", 1), ("a", 1), ("[", 1), ("i", 1), ("]", 1), (" ", 1), ("=", 1), (" ", 1),
        ("a", 1), ("[", 1), ("i", 1), ("-", 2), ("1", 2), ("]", 1), (EOS, 0),
    ]  # fmt: skip
    # The incorrect side lacks "-1": the gap marks its two neighbours, "i" and "]".
    assert response_tokens(pair.incorrect, tok) == [
        *shared_line,
        ("\n    ", 1), ("a", 1), ("[", 1), ("i", 1), ("]", 1), (" ", 1), ("=", 1), (" ", 1),
        ("a", 1), ("[", 1), ("i", 2), ("]", 2), (EOS, 0),
    ]  # fmt: skip


def test_prod_signs_zero_case():
    """HumanEval/128: the wrong version forgets that a zero makes the product of signs 0."""
    head = "def prod_signs(arr):\n    if not arr: return None\n"
    tail = "\n    return prod * sum([abs(i) for i in arr])"
    correct = head + "    prod = 0 if 0 in arr else (-1) ** len([x for x in arr if x < 0])" + tail
    incorrect = head + "    prod = (-1) ** len([x for x in arr if x < 0])" + tail
    pair, tok = encode(correct, incorrect)

    def head_tokens(side):
        return response_tokens(side, tok)[:16]

    expected_head = [("def", 0), (" ", 0), ("prod_signs", 0), ("(", 0), ("arr", 0), ("):", 0),
                     ("\n    ", 0), ("if", 0), (" ", 0), ("not", 0), (" ", 0), ("arr", 0),
                     (":", 0), (" ", 0), ("return", 0), (" ", 0)]  # fmt: skip
    assert head_tokens(pair.correct) == expected_head
    assert head_tokens(pair.incorrect) == expected_head
    rest = [("len", 1), ("([", 1), ("x", 1), (" ", 1), ("for", 1), (" ", 1), ("x", 1), (" ", 1),
            ("in", 1), (" ", 1), ("arr", 1), (" ", 1), ("if", 1), (" ", 1), ("x", 1), (" ", 1),
            ("<", 1), (" ", 1), ("0", 1), ("])", 1)]  # fmt: skip
    # The changed line's own newline starts the next token, so that token is in the change.
    tail_tokens = [("\n    ", 1), ("return", 0), (" ", 0), ("prod", 0), (" ", 0), ("*", 0),
                   (" ", 0), ("sum", 0), ("([", 0), ("abs", 0), ("(", 0), ("i", 0), (")", 0),
                   (" ", 0), ("for", 0), (" ", 0), ("i", 0), (" ", 0), ("in", 0), (" ", 0),
                   ("arr", 0), ("])", 0), (EOS, 0)]  # fmt: skip
    # "\n    " ends the unchanged line and indents the changed one: it touches the change.
    assert response_tokens(pair.correct, tok)[16:] == [
        ("None", 0), ("\n    ", 1), ("prod", 1), (" ", 1), ("=", 1), (" ", 1),
        ("0", 2), (" ", 2), ("if", 2), (" ", 2), ("0", 2), (" ", 2), ("in", 2), (" ", 2),
        ("arr", 2), (" ", 2), ("else", 2), (" ", 2), ("(-", 1), ("1", 1), (")", 1), (" ", 1),
        ("**", 1), (" ", 1), *rest, *tail_tokens,
    ]  # fmt: skip
    # The missing check is a gap on the incorrect side, marked on both its neighbours.
    assert response_tokens(pair.incorrect, tok)[16:] == [
        ("None", 0), ("\n    ", 1), ("prod", 1), (" ", 1), ("=", 1), (" ", 2),
        ("(-", 2), ("1", 1), (")", 1), (" ", 1), ("**", 1), (" ", 1), *rest, *tail_tokens,
    ]  # fmt: skip


def test_pure_insertion_of_a_line():
    """The correct text has a base case the incorrect one lacks."""
    correct = "def f(n):\n    if n == 0:\n        return 1\n    return n * f(n - 1)"
    incorrect = "def f(n):\n    return n * f(n - 1)"
    pair, tok = encode(correct, incorrect)
    header = [("def", 0), (" ", 0), ("f", 0), ("(", 0), ("n", 0), ("):", 0)]
    last_line = [("return", 0), (" ", 0), ("n", 0), (" ", 0), ("*", 0), (" ", 0), ("f", 0),
                 ("(", 0), ("n", 0), (" ", 0), ("-", 0), (" ", 0), ("1", 0), (")", 0),
                 (EOS, 0)]  # fmt: skip
    assert response_tokens(pair.correct, tok) == [
        *header,
        ("\n    ", 2), ("if", 2), (" ", 2), ("n", 2), (" ", 2), ("==", 2), (" ", 2), ("0", 2),
        (":", 2), ("\n        ", 2), ("return", 2), (" ", 2), ("1", 2),
        ("\n    ", 2),  # newline of the inserted line + indentation of the next, shared line
        *last_line,
    ]  # fmt: skip
    # Incorrect side: the gap sits before "    return n * ...": that whole line is marked at
    # line level, and its first character (a space of the indentation) at token level.
    assert response_tokens(pair.incorrect, tok) == [
        *header,
        ("\n    ", 2), ("return", 1), (" ", 1), ("n", 1), (" ", 1), ("*", 1), (" ", 1),
        ("f", 1), ("(", 1), ("n", 1), (" ", 1), ("-", 1), (" ", 1), ("1", 1), (")", 1),
        (EOS, 0),
    ]  # fmt: skip


def test_pure_deletion_at_end_marks_eos():
    """The incorrect text appends a line: the correct side should have stopped (EOS)."""
    correct = "x = compute()\nreturn x"
    incorrect = "x = compute()\nreturn x\nprint(x)"
    pair, tok = encode(correct, incorrect)
    assert response_tokens(pair.correct, tok) == [
        ("x", 0), (" ", 0), ("=", 0), (" ", 0), ("compute", 0), ("()", 0), ("\n", 0),
        ("return", 0), (" ", 0), ("x", 0), (EOS, 2),
    ]  # fmt: skip
    # "\n" after "return x" belongs to that line, which both texts share (lines are compared
    # without their newline), so only the appended line is marked.
    assert response_tokens(pair.incorrect, tok) == [
        ("x", 0), (" ", 0), ("=", 0), (" ", 0), ("compute", 0), ("()", 0), ("\n", 0),
        ("return", 0), (" ", 0), ("x", 0), ("\n", 0), ("print", 2), ("(", 2), ("x", 2),
        (")", 2), (EOS, 0),
    ]  # fmt: skip


def test_pure_deletion_inside_a_line():
    """`if a and b` -> `if a`: the correct side marks both neighbours of the gap."""
    pair, tok = encode("if a:\n    go()", "if a and b:\n    go()")
    assert response_tokens(pair.correct, tok) == [
        ("if", 1), (" ", 1), ("a", 2), (":", 2), ("\n    ", 1), ("go", 0), ("()", 0), (EOS, 0),
    ]  # fmt: skip
    assert response_tokens(pair.incorrect, tok) == [
        ("if", 1), (" ", 1), ("a", 1), (" ", 2), ("and", 2), (" ", 2), ("b", 2), (":", 1),
        ("\n    ", 1), ("go", 0), ("()", 0), (EOS, 0),
    ]  # fmt: skip


def test_pure_deletion_at_end_of_last_line_marks_eos():
    pair, tok = encode("return x", "return x + 1")
    assert response_tokens(pair.correct, tok) == [
        ("return", 1), (" ", 1), ("x", 2), (EOS, 2),
    ]  # fmt: skip
    assert response_tokens(pair.incorrect, tok) == [
        ("return", 1), (" ", 1), ("x", 1), (" ", 2), ("+", 2), (" ", 2), ("1", 2), (EOS, 0),
    ]  # fmt: skip


def test_multi_line_change():
    correct = "lo = 0\nhi = len(a) - 1\nwhile lo <= hi:\n    mid = (lo + hi) // 2\nreturn -1"
    incorrect = "lo = 0\nhi = len(a)\nwhile lo < hi:\n    mid = (lo + hi) // 2\nreturn -1"
    pair, tok = encode(correct, incorrect)
    assert response_tokens(pair.correct, tok) == [
        ("lo", 0), (" ", 0), ("=", 0), (" ", 0), ("0", 0), ("\n", 0),
        ("hi", 1), (" ", 1), ("=", 1), (" ", 1), ("len", 1), ("(", 1), ("a", 1),
        (")", 1), (" ", 2), ("-", 2), (" ", 2), ("1", 2), ("\n", 1),
        ("while", 1), (" ", 1), ("lo", 1), (" ", 1), ("<=", 2), (" ", 1), ("hi", 1), (":", 1),
        ("\n    ", 1), ("mid", 0), (" ", 0), ("=", 0), (" ", 0), ("(", 0), ("lo", 0), (" ", 0),
        ("+", 0), (" ", 0), ("hi", 0), (")", 0), (" ", 0), ("//", 0), (" ", 0), ("2", 0),
        ("\n", 0), ("return", 0), (" ", 0), ("-", 0), ("1", 0), (EOS, 0),
    ]  # fmt: skip
    assert response_tokens(pair.incorrect, tok) == [
        ("lo", 0), (" ", 0), ("=", 0), (" ", 0), ("0", 0), ("\n", 0),
        ("hi", 1), (" ", 1), ("=", 1), (" ", 1), ("len", 1), ("(", 1), ("a", 1),
        (")", 2), ("\n", 2),  # both neighbours of the missing " - 1"
        ("while", 1), (" ", 1), ("lo", 1), (" ", 1), ("<", 2), (" ", 2), ("hi", 1), (":", 1),
        ("\n    ", 1), ("mid", 0), (" ", 0), ("=", 0), (" ", 0), ("(", 0), ("lo", 0), (" ", 0),
        ("+", 0), (" ", 0), ("hi", 0), (")", 0), (" ", 0), ("//", 0), (" ", 0), ("2", 0),
        ("\n", 0), ("return", 0), (" ", 0), ("-", 0), ("1", 0), (EOS, 0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "incorrect",
    [
        "def f(x):\n    return x + 1",  # identical
        "def f(x):\r\n    return x + 1\r\n",  # CRLF and a trailing newline only
        "def f(x):\n    return x + 1\n\n\n",  # trailing blank lines only
    ],
)
def test_identical_after_normalisation_gives_all_zeros(incorrect):
    pair, _ = encode("def f(x):\n    return x + 1", incorrect)
    for side in (pair.correct, pair.incorrect):
        assert side.line_mask == side.token_mask == side.hybrid_mask == [0] * len(side.input_ids)
    assert pair.correct.input_ids == pair.incorrect.input_ids


def test_prompt_tokens_are_ignored_and_unmarked():
    pair, _ = encode("return x", "return y", instruction="Return the value x please.")
    for side in (pair.correct, pair.incorrect):
        n = side.prompt_length
        assert n > 0
        assert side.labels[:n] == [IGNORE_INDEX] * n
        assert side.labels[n:] == side.input_ids[n:]
        assert side.hybrid_mask[:n] == [0] * n
    assert (
        pair.correct.input_ids[: pair.correct.prompt_length]
        == (pair.incorrect.input_ids[: pair.incorrect.prompt_length])
    )


def test_tabs_versus_spaces_is_a_change():
    marks = diff_marks("if x:\n    y()", "if x:\n\ty()")
    assert marks.correct.token[6:10].all() and not marks.correct.token[:6].any()
    assert marks.incorrect.token[6] and not marks.incorrect.token[7:].any()


def test_unicode_is_compared_by_character():
    marks = diff_marks('print("héllo 😀")', 'print("hello 😀")')
    assert np.flatnonzero(marks.correct.token).tolist() == [8]
    assert np.flatnonzero(marks.incorrect.token).tolist() == [8]


def test_truncation_keeps_masks_aligned():
    correct = "a = 1\nb = 2\nc = 3\nd = 4"
    incorrect = "a = 1\nb = 2\nc = 3\nd = 5"
    tok = word_tokenizer("Solve it.", correct, incorrect)
    full = encode_pair("Solve it.", correct, incorrect, tok)
    limit = full.correct.prompt_length + 5
    cut = encode_pair("Solve it.", correct, incorrect, tok, max_length=limit)
    for whole, part in ((full.correct, cut.correct), (full.incorrect, cut.incorrect)):
        assert part.truncated and not whole.truncated
        assert len(part.input_ids) == len(part.labels) == len(part.hybrid_mask) == limit
        assert part.input_ids == whole.input_ids[:limit]
        assert part.hybrid_mask == whole.hybrid_mask[:limit]
        assert len(part.response_offsets) == limit - part.prompt_length


def test_prompt_longer_than_max_length_is_an_error():
    tok = word_tokenizer("a very long instruction indeed", "x", "y")
    with pytest.raises(SegmentError, match="no room for a response"):
        encode_pair("a very long instruction indeed", "x", "y", tok, max_length=3)


def test_line_gap_setting_marks_the_next_line_or_nothing():
    """Issue 11's example: an extra line in the incorrect response. next-line (default) marks
    the correct side's following line `y = 2` (1 at line level, its first token 2); none (the
    paper read literally) leaves the correct side unmarked. The incorrect side is the same."""
    correct = "x = 1\ny = 2\nreturn x + y"
    incorrect = "x = 1\nx = 0\ny = 2\nreturn x + y"
    tok = word_tokenizer(correct, incorrect)
    default = encode_pair("q", correct, incorrect, tok)
    literal = encode_pair("q", correct, incorrect, tok, line_gap="none")
    marked = [t for t, v in response_tokens(default.correct, tok) if v]
    assert marked[0] == "y" and "return" not in marked
    assert next(v for t, v in response_tokens(default.correct, tok) if t == "y") == 2
    assert not any(v for _, v in response_tokens(literal.correct, tok))
    assert response_tokens(default.incorrect, tok) == response_tokens(literal.incorrect, tok)
    with pytest.raises(ValueError, match="line_gap"):
        diff_marks(correct, incorrect, line_gap="paper")
