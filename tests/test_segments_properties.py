"""Property tests: invariants of the masks for random code-like texts and random edits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fgit.segments import IGNORE_INDEX, diff_marks, encode_pair, normalize_response

# Code-like alphabet plus characters that stress offsets: tabs, CR, non-ASCII, astral emoji.
ALPHABET = st.sampled_from([*"abcdefxyz_0123456789 ()[]:=+-<>.,'\"#\t\r", "é", "日", "😀"])
LINE = st.text(ALPHABET, max_size=30)
CODE = st.lists(LINE, min_size=1, max_size=8).map("\n".join)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def edited_pairs(draw) -> tuple[str, str]:
    """A correct text and an incorrect one made by a few character or line edits."""
    correct = draw(CODE)
    text = list(correct)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "newline"]))
        if kind == "insert":
            text.insert(pos, draw(ALPHABET))
        elif kind == "newline":
            text.insert(pos, "\n" + draw(LINE))
        elif text and pos < len(text):
            if kind == "delete":
                del text[pos]
            else:
                text[pos] = draw(ALPHABET)
    return correct, "".join(text)


def check_side(side, n_response_chars: int) -> None:
    n = len(side.input_ids)
    assert len(side.labels) == len(side.line_mask) == len(side.token_mask) == n
    assert len(side.hybrid_mask) == n
    line, token, hybrid = (np.array(m) for m in (side.line_mask, side.token_mask, side.hybrid_mask))
    assert set(np.unique(line)) <= {0, 1} and set(np.unique(token)) <= {0, 1}
    assert (hybrid == line + token).all()
    assert (token <= line).all(), "a changed token must lie in a changed line"
    p = side.prompt_length
    assert (hybrid[:p] == 0).all() and side.labels[:p] == [IGNORE_INDEX] * p
    assert side.labels[p:] == side.input_ids[p:]
    assert len(side.response_offsets) == n - p
    assert all(0 <= s <= e <= n_response_chars for s, e in side.response_offsets)


@pytest.mark.parametrize("style", ["bytelevel", "metaspace"])
@SETTINGS
@given(pair=edited_pairs())
def test_mask_invariants(style, pair, request):
    tokenizer = request.getfixturevalue(f"{style}_tokenizer")
    correct, incorrect = pair
    enc = encode_pair("Write the function.", correct, incorrect, tokenizer, max_length=4096)
    check_side(enc.correct, len(enc.correct.response))
    check_side(enc.incorrect, len(enc.incorrect.response))
    if normalize_response(correct) == normalize_response(incorrect):
        assert not any(enc.correct.hybrid_mask) and not any(enc.incorrect.hybrid_mask)
    else:  # a difference is never lost: both sides mark at least one token
        assert any(enc.correct.token_mask) and any(enc.incorrect.token_mask)


@pytest.mark.parametrize("style", ["bytelevel", "metaspace"])
@SETTINGS
@given(text=CODE)
def test_unchanged_text_maps_to_zeros(style, text, request):
    tokenizer = request.getfixturevalue(f"{style}_tokenizer")
    enc = encode_pair("Write the function.", text, text, tokenizer, max_length=4096)
    for side in (enc.correct, enc.incorrect):
        assert not any(side.line_mask) and not any(side.token_mask)


@pytest.mark.parametrize("style", ["bytelevel", "metaspace"])
@SETTINGS
@given(pair=edited_pairs(), cut=st.integers(1, 40))
def test_truncation_is_a_prefix_of_the_full_encoding(style, pair, cut, request):
    tokenizer = request.getfixturevalue(f"{style}_tokenizer")
    full = encode_pair("Fix it.", *pair, tokenizer, max_length=4096)
    limit = full.correct.prompt_length + cut
    part = encode_pair("Fix it.", *pair, tokenizer, max_length=limit)
    for whole, short in ((full.correct, part.correct), (full.incorrect, part.incorrect)):
        assert short.input_ids == whole.input_ids[:limit]
        assert short.hybrid_mask == whole.hybrid_mask[:limit]
        assert short.truncated == (len(whole.input_ids) > limit)


@given(pair=edited_pairs())
@settings(max_examples=300, deadline=None)
def test_char_marks_token_subset_of_line(pair):
    correct, incorrect = (normalize_response(t) for t in pair)
    marks = diff_marks(correct, incorrect)
    for side in (marks.correct, marks.incorrect):
        assert len(side.line) == len(side.token) == len(side.text) + 1
        assert not (side.token & ~side.line).any()
        assert set(np.unique(side.hybrid)) <= {0, 1, 2}


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from fgit.models import load_tokenizer

    return load_tokenizer("smollm2-135m-instruct")


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(pair=edited_pairs())
def test_mask_invariants_on_a_packaged_tokenizer(smollm2_tokenizer, pair):
    correct, incorrect = pair
    enc = encode_pair("Write the function.", correct, incorrect, smollm2_tokenizer)
    check_side(enc.correct, len(enc.correct.response))
    check_side(enc.incorrect, len(enc.incorrect.response))
    changed = normalize_response(correct) != normalize_response(incorrect)
    assert any(enc.correct.token_mask) == changed and any(enc.incorrect.token_mask) == changed


@pytest.mark.slow
def test_off_by_one_on_a_packaged_tokenizer(smollm2_tokenizer):
    enc = encode_pair("Shift.", "b[i] = a[i-1]", "b[i] = a[i]", smollm2_tokenizer)
    side = enc.correct
    marked = [
        smollm2_tokenizer.decode([token])
        for token, value in zip(side.input_ids, side.hybrid_mask, strict=True)
        if value == 2
    ]
    assert "".join(marked).strip() in {"-1", "i-1", "-1]", "i-1]"}
    assert enc.correct.prompt_length == enc.incorrect.prompt_length
    assert side.input_ids[-1] == smollm2_tokenizer.convert_tokens_to_ids("<|im_end|>")
