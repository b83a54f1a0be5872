"""The terminal view marks exactly the tokens the masks mark."""

from __future__ import annotations

from rich.console import Console

from fgit.segments import encode_pair
from fgit.segments.render import EOS_LABEL, HYBRID_STYLES, render_pair, render_side


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
    assert "correct (after)" in out and "incorrect (before)" in out and "changed" in out
