"""TRL preference rows to fgit's columns (:mod:`fgit.training.columns`), without TRL.

A row is TRL's: ``prompt``/``chosen``/``rejected``, standard (strings) or conversational
(messages; the prompt may hold a system message and earlier turns, each side one assistant
message). The prompt is rendered to text (a conversation by the tokenizer's chat template with
the generation prompt) and encoded by :func:`fgit.segments.encode.encode_rendered_pairs`, each
response on its own with the EOS token appended, as ``fgit train`` does. An implicit prompt
(chosen and rejected holding the whole conversation) must be extracted first, e.g. with
``trl.data_utils.extract_prompt``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import TemplateError

from fgit.errors import FgitError
from fgit.segments.encode import SegmentError, encode_rendered_pairs
from fgit.training.columns import ID_COLUMNS, MASK_COLUMNS, pair_columns

__all__ = ["SKIP_COLUMN", "RowError", "encode_preference_rows", "is_conversational"]

SKIP_COLUMN = "fgit_skip"  # why a row cannot be trained on ("" when it can)


def is_conversational(row: Mapping[str, Any]) -> bool:
    """Whether a row holds messages rather than strings (TRL's test: the first message of its
    prompt or sides is a role/content mapping)."""
    for key in ("prompt", "chosen", "rejected"):
        value = row.get(key)
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            return "role" in value[0] and "content" in value[0]
    return False


class RowError(FgitError, ValueError):
    """A dataset row fgit cannot read; the message names its index."""


def _assistant_text(value: Any, key: str, index: int) -> str:
    if isinstance(value, str):
        return value
    if (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], Mapping)
        and value[0].get("role") == "assistant"
        and isinstance(value[0].get("content"), str)
    ):
        return value[0]["content"]
    raise RowError(
        f"row {index}: {key!r} must be a string or one assistant message with text content "
        "(fgit diffs one response per side)"
    )


def _render(row: Mapping[str, Any], tokenizer: Any, index: int) -> tuple[str, str, str, bool]:
    """``(prompt text, chosen, rejected, add special tokens to the prompt)`` of a TRL row with
    an explicit prompt."""
    chosen = _assistant_text(row.get("chosen"), "chosen", index)
    rejected = _assistant_text(row.get("rejected"), "rejected", index)
    prompt = row.get("prompt")
    if is_conversational(row):
        if not isinstance(prompt, list):
            raise RowError(f"row {index}: a conversational row's 'prompt' must be messages")
        kwargs = dict(row.get("chat_template_kwargs") or {})
        tools = row.get("tools")
        if tools is not None:
            # TRL stores tools as JSON text in tables (one type per column).
            kwargs["tools"] = json.loads(tools) if isinstance(tools, str) else tools
        try:
            text = tokenizer.apply_chat_template(
                prompt, tokenize=False, add_generation_prompt=True, **kwargs
            )
        except TemplateError as error:  # e.g. "roles must alternate", "no system role"
            raise RowError(f"row {index}: the chat template refuses this prompt: {error}") from None
        return text, chosen, rejected, False
    if not isinstance(prompt, str):
        raise RowError(f"row {index}: 'prompt' must be a string or a list of messages")
    # fgit appends the EOS token itself; TRL-style text may already end with it.
    eos = tokenizer.eos_token or ""
    if eos:
        chosen = chosen.removesuffix(eos)
        rejected = rejected.removesuffix(eos)
    return prompt, chosen, rejected, True


def encode_preference_rows(
    rows: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    *,
    max_length: int,
    line_gap: str = "next-line",
    first_index: int = 0,
) -> list[dict[str, Any]]:
    """fgit's columns (:func:`fgit.training.columns.pair_columns`) for TRL preference rows with
    an explicit prompt, plus ``fgit_skip``: why a row cannot be trained on, "" when it can."""
    rendered = [_render(row, tokenizer, first_index + k) for k, row in enumerate(rows)]
    out: list[dict[str, Any]] = [{} for _ in rows]
    for special in (True, False):  # plain prompts get the tokenizer's BOS, templated ones not
        picked = [k for k, r in enumerate(rendered) if r[3] is special]
        if not picked:
            continue
        results = encode_rendered_pairs(
            [rendered[k][0] for k in picked],
            [rendered[k][1] for k in picked],
            [rendered[k][2] for k in picked],
            tokenizer,
            prompt_special_tokens=special,
            max_length=max_length,
            line_gap=line_gap,  # type: ignore[arg-type]
        )
        for k, result in zip(picked, results, strict=True):
            if isinstance(result, SegmentError):
                empty = {name: [] for name in (*ID_COLUMNS, *MASK_COLUMNS)}
                out[k] = {**empty, SKIP_COLUMN: f"{result.kind}: {result}"}
            else:
                out[k] = {**pair_columns(result), SKIP_COLUMN: ""}
    return out
