"""Code out of a teacher's markdown answer, and the incorrect response in the correct one's form.

Teachers answer in markdown (the paper's prompt asks for it). The outcome of each extraction is
recorded, so nothing is silently dropped:

* ``fenced``: one fenced code block; ``fenced_multi``: several, the one most similar to the
  reference code is taken (others are usage examples or explanations). Nested fences are
  understood: the innermost blocks are the candidates, Python ones first, then any that parse;
* ``unclosed_fence``: an opening fence with no closing one (output cut off at the token
  limit): the text after the fence;
* ``unfenced``: no fence, but the whole answer parses as Python;
* ``continuation``: no fence, and the answer parses only after the problem's prelude (the code
  of a completion-style problem, e.g. HumanEval's prompt, that the answer continues): the text
  verbatim (an indented function body must keep its indentation and leading blank lines);
* ``prose``: no code found: unusable, counted.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from rapidfuzz import fuzz

FENCE = re.compile(
    r"^[ \t]*(?P<fence>```|~~~)[ \t]*(?P<lang>[\w+#.-]*)[^\n]*\n"  # opening fence + language
    r"(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",  # body up to the same fence on its own line
    re.MULTILINE | re.DOTALL,
)
OPEN_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n", re.MULTILINE)
PYTHON_LANGS = {"", "python", "py", "python3", "py3"}


@dataclass(frozen=True)
class Extraction:
    code: str | None
    kind: str  # fenced | fenced_multi | unclosed_fence | unfenced | continuation | prose
    blocks: int = 0


def parses(code: str, prelude: str | None = None) -> bool:
    """Whether ``code`` parses as Python; with a ``prelude``, whether ``prelude + "\n" + code``
    does (the program a completion-style answer is run as)."""
    if prelude:
        code = f"{prelude}\n{code}"
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def is_continuation(code: str, prelude: str | None) -> bool:
    """Whether ``code`` is a continuation of ``prelude``: it does not parse alone but does after
    the prelude (a HumanEval body after its prompt). False without a prelude."""
    return bool(prelude) and not parses(code) and parses(code, prelude)


FENCE_LINE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n]*$")


def leaf_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each innermost fenced block, nesting understood.

    Small teachers nest fences: a ```` ```markdown ```` block around a ```` ```text ```` block,
    or a ```` ```python ```` block inside prose inside a ```` ```markdown ```` block. A fence
    line with a language (or with nothing open) opens a block; a bare fence line closes the
    innermost open block if it has the same character and is at least as long (CommonMark's
    rule: a bare ```` ``` ```` inside a ```` ```` ```` block opens an inner block instead). A
    block that holds other blocks is a wrapper; only leaves (blocks with no block inside) with
    a non-blank body are code candidates.
    """
    lines = text.split("\n")
    # Open blocks: fence character, fence length, language, first body line, has a child.
    stack: list[tuple[str, int, str, int, bool]] = []
    leaves: list[tuple[str, str]] = []
    for number, line in enumerate(lines):
        m = FENCE_LINE.match(line)
        if m is None:
            continue
        char, length, lang = m["fence"][0], len(m["fence"]), m["lang"].lower()
        closes = not lang and stack and stack[-1][0] == char and length >= stack[-1][1]
        if closes:
            _, _, open_lang, first, has_child = stack.pop()
            body = "\n".join(lines[first:number]) + "\n"
            if not has_child and body.strip():
                leaves.append((open_lang, body))
            if stack:
                stack[-1] = (*stack[-1][:4], True)
        else:
            stack.append((char, length, lang, number + 1, False))
    return leaves


def _python_blocks(text: str) -> list[str]:
    blocks = leaf_blocks(text)
    python = [body for lang, body in blocks if lang in PYTHON_LANGS]
    if python:
        # A fence line inside a string can cut a block short; blocks that parse come first.
        return [body for body in python if parses(body)] or python
    # A leaf in another language (e.g. ```text) may still hold the code: keep those that parse.
    parsing = [body for _, body in blocks if parses(body)]
    return parsing or [body for _, body in blocks]


def extract_code(
    text: str, reference: str | None = None, *, prelude: str | None = None
) -> Extraction:
    """The code in ``text``; with several blocks, the one most like ``reference``.

    ``prelude``: the code an unfenced answer may continue (completion-style problems); an answer
    that parses only after it is a ``continuation``, returned verbatim (CRLF aside).
    """
    text = text.replace("\r\n", "\n")
    blocks = _python_blocks(text)
    if len(blocks) == 1:
        return Extraction(blocks[0].rstrip("\n"), "fenced", 1)
    if blocks:
        best = max(blocks, key=lambda b: fuzz.ratio(b, reference or "")) if reference else blocks[0]
        return Extraction(best.rstrip("\n"), "fenced_multi", len(blocks))
    opening = OPEN_FENCE.search(text)
    if opening:
        return Extraction(text[opening.end() :].rstrip("\n"), "unclosed_fence", 0)
    if text.strip() and parses(text):
        return Extraction(text.strip("\n"), "unfenced", 0)
    if text.strip() and is_continuation(text, prelude):
        return Extraction(text, "continuation", 0)
    return Extraction(None, "prose", 0)


def is_markdown(response: str) -> bool:
    """Whether a (correct) response is markdown with fenced code rather than bare code (the
    same fence rules as extraction, so the two never disagree)."""
    return bool(leaf_blocks(response.replace("\r\n", "\n")))


def incorrect_response(candidate_text: str, correct: str, extraction: Extraction) -> str | None:
    """The incorrect response to train on, in the same form as the correct one: the whole
    markdown answer when the correct response is markdown, only the code when it is bare code
    (fences would otherwise count as "errors" in the diff). ``None`` when unusable."""
    if is_markdown(correct):
        return candidate_text.strip() or None
    return extraction.code if extraction.code and extraction.code.strip() else None
