"""The terminal view marks exactly the tokens the masks mark."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from fgit.segments import encode_pair
from fgit.segments.render import (
    EOS_LABEL,
    HYBRID_STYLES,
    PLAIN_LEGEND,
    char_marks,
    eos_mark,
    plain_pair,
    plain_side,
    render_pair,
    render_side,
)


def styled_text(text, style: str) -> str:
    return "".join(text.plain[span.start : span.end] for span in text.spans if span.style == style)


def test_changed_and_line_tokens_carry_their_styles(bytelevel_tokenizer):
    enc = encode_pair("Fix.", "a = b[i-1]\nc = 2", "a = b[i]\nc = 2", bytelevel_tokenizer)
    text = render_side(enc.correct)
    # The changed line's newline token is marked, so the view shows where it is.
    assert text.plain == "a = b[i-1]↵\nc = 2" + EOS_LABEL
    assert "-1" in styled_text(text, HYBRID_STYLES[2])
    assert "c = 2" not in styled_text(text, HYBRID_STYLES[1]) + styled_text(text, HYBRID_STYLES[2])
    assert styled_text(render_side(enc.incorrect), HYBRID_STYLES[2])  # the gap's neighbours


def test_byte_fallback_characters_print_once(metaspace_tokenizer):
    enc = encode_pair("Fix.", 'print("😀 ok")', 'print("😀 no")', metaspace_tokenizer)
    assert render_side(enc.correct).plain == 'print("😀 ok")' + EOS_LABEL


def test_render_pair_prints_both_sides_and_counts(bytelevel_tokenizer):
    enc = encode_pair("Fix.", "x = 1", "x = 2", bytelevel_tokenizer)
    console = Console(record=True, width=120)
    console.print(render_pair(enc, title="demo", show_boundaries=True))
    out = console.export_text()
    assert "correct response" in out and "incorrect variant" in out and "changed" in out


def _unmarked(lines: list[str]) -> str:
    """The text under the plain marks: gutters, brackets, boundaries and labels taken off."""
    body = "\n".join(line[2:] for line in lines)
    for mark in (EOS_LABEL, "⟦", "⟧", "↵", "│"):
        body = body.replace(mark, "")
    return body


PLAIN_CASES = [
    ("a = b[i-1]\nc = 2", "a = b[i]\nc = 2"),
    ("x = 1\n\ny = 2\n", "x = 1\ny = 2\n"),  # an inserted blank line
    ("if a:\n    b()\nc()\n", "if a:\n    b()\n    c()\n"),  # indentation only
    ("return x + 1", "return x"),
    ('print("😀 ok")', 'print("😀 no")'),
]


@pytest.mark.parametrize(("correct", "incorrect"), PLAIN_CASES)
@pytest.mark.parametrize("kind", ["bytelevel", "metaspace"])
@pytest.mark.parametrize("boundaries", [False, True])
def test_plain_marks_cover_exactly_the_marked_characters(correct, incorrect, kind, boundaries,
                                                          request):  # fmt: skip
    tokenizer = request.getfixturevalue(f"{kind}_tokenizer")
    enc = encode_pair("Fix.", correct, incorrect, tokenizer)
    for side in (enc.correct, enc.incorrect):
        lines = plain_side(side, show_boundaries=boundaries)
        assert _unmarked(lines) == side.response  # one output line per line of the text
        # Inside the brackets: exactly the characters marked 2, in order.
        marks = char_marks(side)
        changed = "".join(c for c, m in zip(side.response, marks, strict=True) if m == 2)
        inside = "".join(re.findall(r"⟦(.*?)⟧", "\n".join(lines))).replace("│", "")
        inside = inside.replace(EOS_LABEL, "").replace("↵", "\n")
        assert inside == changed
        # Flagged: a line with a changed character (its newline included) or a marked
        # non-blank one; the EOS token counts on the last line.
        start = 0
        for k, text in enumerate(side.response.split("\n")):
            end = start + len(text)
            own = list(zip(text, marks[start:end], strict=True))
            newline = int(marks[end]) if end < len(side.response) else 0
            expected = (
                any(m == 2 or (m == 1 and not c.isspace()) for c, m in own)
                or newline == 2
                or (k == len(lines) - 1 and eos_mark(side) == 2)
            )
            assert lines[k].startswith("> ") == expected, (k, lines)
            start = end + 1


def test_plain_pair_flags_the_changed_line_only(bytelevel_tokenizer):
    from fgit.segments.examples import OFF_BY_ONE as p

    out = plain_pair(encode_pair(p.instruction, p.response, p.incorrect, bytelevel_tokenizer),
                     title="off-by-one")  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "== off-by-one =="
    flagged = [line for line in lines if line.startswith("> ")]
    assert flagged == [
        ">         out[i] = out[i] + out[i⟦ - 1⟧]",
        ">         out[i] = out[i] + out[⟦i]⟧",
    ]
    assert "  def running_sums(a):" in lines and "      return out⟨eos⟩" in lines
    assert lines[-1] == PLAIN_LEGEND
