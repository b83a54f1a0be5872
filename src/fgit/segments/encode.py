"""Token ids, labels and error-sensitive masks for a (correct, incorrect) pair.

Prompt and response are tokenized separately (as TRL does) so response offsets are relative to
the response text and the prompt tokens are identical on both sides. A token is marked when its
character span (the fast tokenizer's offset mapping) touches a marked character; the end-of-text
mark goes to the EOS token appended to each response. Masks cover response tokens only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from jinja2 import TemplateError

from fgit.errors import FgitError
from fgit.segments.diff import LineGap, SideMarks, diff_marks, normalize_response

__all__ = [
    "DEFAULT_PROMPT_FORMAT",
    "IGNORE_INDEX",
    "EncodedPair",
    "EncodedSide",
    "PromptFormat",
    "SegmentError",
    "encode_pair",
    "encode_pairs",
    "encode_rendered_pairs",
    "render_prompt",
    "token_mask_from_char_marks",
]

IGNORE_INDEX = -100  # labels of prompt tokens: ignored by the loss (never 0, a real token id)


class SegmentError(FgitError, ValueError):
    """A pair or setting that cannot be encoded. ``kind`` names the category (for counting
    skips), the message gives the details."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class PromptFormat:
    """How the instruction becomes the prompt.

    ``kind="auto"`` uses the tokenizer's chat template when it has one, else ``template``.
    ``kind="chat"`` requires a chat template; ``kind="plain"`` always uses ``template``, a
    format string with an ``{instruction}`` field, tokenized with the tokenizer's special tokens
    (e.g. BOS) added.
    """

    kind: Literal["auto", "chat", "plain"] = "auto"
    template: str = "{instruction}\n"
    system: str | None = None


DEFAULT_PROMPT_FORMAT = PromptFormat()


@dataclass(frozen=True)
class EncodedSide:
    """One side of a pair: prompt + response, with masks aligned to ``input_ids``.

    ``line_mask``, ``token_mask`` are 0/1 and ``hybrid_mask = line_mask + token_mask`` (0/1/2);
    all three are 0 on prompt tokens. ``response_offsets`` is an ``(n_response_tokens, 2)`` int
    array of each response token's character span in ``response`` (the normalised text); the
    EOS token's span is empty at the end of the text. Everything is truncated together to
    ``max_length``.
    """

    input_ids: list[int]
    labels: list[int]
    line_mask: list[int]
    token_mask: list[int]
    hybrid_mask: list[int]
    prompt_length: int
    response: str
    response_offsets: np.ndarray
    truncated: bool

    @property
    def num_sensitive(self) -> int:
        return sum(1 for v in self.hybrid_mask if v)


@dataclass(frozen=True)
class EncodedPair:
    correct: EncodedSide
    incorrect: EncodedSide
    prompt: str


def render_prompt(
    instruction: str,
    tokenizer: Any,
    fmt: PromptFormat = DEFAULT_PROMPT_FORMAT,
    context: Sequence[Any] = (),
) -> str:
    """The prompt text for ``instruction`` (ending where the response starts).

    ``context``: the conversation before the instruction (messages with ``role`` and
    ``content``, as :class:`fgit.records.Message` or dicts), rendered by the chat template; its
    own system message takes the place of ``fmt.system``. A plain prompt cannot hold one.
    """
    use_chat = fmt.kind == "chat" or (fmt.kind == "auto" and _has_chat_template(tokenizer))
    if not use_chat:
        if context:
            raise SegmentError(
                "a multi-turn prompt (context) needs a chat template; this prompt format is plain",
                kind="context without chat template",
            )
        return fmt.template.format(instruction=instruction)
    if not _has_chat_template(tokenizer):
        raise SegmentError("prompt format 'chat' needs a tokenizer with a chat template")
    turns = [_as_dict(m) for m in context]
    messages = [*turns, {"role": "user", "content": instruction}]
    if fmt.system is not None and not (turns and turns[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": fmt.system})
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError as error:  # e.g. "roles must alternate", "system role not supported"
        raise SegmentError(
            f"the chat template refuses this prompt: {error}", kind="chat template refused"
        ) from None


def _as_dict(message: Any) -> dict[str, str]:
    if isinstance(message, dict):
        return {"role": message["role"], "content": message["content"]}
    return {"role": message.role, "content": message.content}


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _prompt_adds_special_tokens(tokenizer: Any, fmt: PromptFormat) -> bool:
    # A chat template writes its own BOS/control tokens; a plain prompt gets the tokenizer's.
    return not (fmt.kind == "chat" or (fmt.kind == "auto" and _has_chat_template(tokenizer)))


def _offsets_array(offsets: Sequence[tuple[int, int]], extra_rows: int = 0) -> np.ndarray:
    """Offsets as an ``(n + extra_rows, 2)`` int array (extra rows zero)."""
    # fromiter over a flat chain is ~2x faster than np.asarray on a list of tuples.
    flat = itertools.chain(itertools.chain.from_iterable(offsets), (0, 0) * extra_rows)
    count = 2 * (len(offsets) + extra_rows)
    return np.fromiter(flat, dtype=np.int64, count=count).reshape(-1, 2)


def token_mask_from_char_marks(
    marks: np.ndarray, offsets: Sequence[tuple[int, int]] | np.ndarray, has_eos: bool
) -> np.ndarray:
    """0/1 per response token (EOS included when ``has_eos``): 1 when the token's character
    span touches a marked character.

    ``marks`` is bool, ``(len(text) + 1,)`` or ``(levels, len(text) + 1)`` to project several
    levels at once; its last column is end-of-text, which marks the EOS token or, without EOS,
    the last text token. ``offsets`` are the spans of the text tokens (not EOS), within the
    text. Tokens with an empty span touch nothing.
    """
    spans = offsets if isinstance(offsets, np.ndarray) else _offsets_array(offsets)
    levels = np.atleast_2d(marks)
    n_chars = levels.shape[1] - 1
    # prefix[:, k] = marked characters before position k, so a span [s, e) is touched when
    # prefix[:, e] - prefix[:, s] > 0: one vectorised pass instead of a loop over characters.
    prefix = np.zeros((levels.shape[0], n_chars + 1), dtype=np.int32)
    np.cumsum(levels[:, :n_chars], axis=1, out=prefix[:, 1:])
    out = np.zeros((levels.shape[0], len(spans) + int(has_eos)), dtype=np.int8)
    out[:, : len(spans)] = (prefix[:, spans[:, 1]] - prefix[:, spans[:, 0]]) > 0
    if out.shape[1]:
        out[:, -1] |= levels[:, n_chars]
    return out if marks.ndim == 2 else out[0]


def _encode_side(
    prompt_ids: list[int],
    response: Any,
    marks: SideMarks,
    eos_id: int | None,
    max_length: int,
) -> EncodedSide:
    """``response`` is a ``tokenizers.Encoding`` of the normalised response text."""
    ids = response.ids
    has_eos = eos_id is not None
    # One array for the text tokens' spans plus, with EOS, an empty span at the end of the text.
    # Kept as an array, not a list of tuples: fewer objects for the garbage collector to track.
    spans = _offsets_array(response.offsets, extra_rows=int(has_eos))
    if has_eos:
        spans[-1] = len(marks.text)
        ids.append(eos_id)
    line, token = token_mask_from_char_marks(marks.levels, spans[: len(spans) - has_eos], has_eos)

    room = max_length - len(prompt_ids)
    truncated = len(ids) > room
    if truncated:
        ids, spans, line, token = ids[:room], spans[:room], line[:room], token[:room]
    n_prompt = len(prompt_ids)
    zeros = [0] * n_prompt
    return EncodedSide(
        input_ids=prompt_ids + ids,
        labels=[IGNORE_INDEX] * n_prompt + ids,
        line_mask=zeros + line.tolist(),
        token_mask=zeros + token.tolist(),
        hybrid_mask=zeros + (line + token).tolist(),
        prompt_length=n_prompt,
        response=marks.text,
        response_offsets=spans,
        truncated=truncated,
    )


def encode_pair(
    instruction: str,
    correct: str,
    incorrect: str,
    tokenizer: Any,
    *,
    prompt_format: PromptFormat = DEFAULT_PROMPT_FORMAT,
    max_length: int = 1024,
    add_eos: bool = True,
    line_gap: LineGap = "next-line",
    context: Sequence[Any] = (),
) -> EncodedPair:
    """Encode one pair. See :func:`encode_pairs` for many pairs at once (faster)."""
    result = encode_pairs(
        [(instruction, correct, incorrect)],
        tokenizer,
        prompt_format=prompt_format,
        max_length=max_length,
        add_eos=add_eos,
        line_gap=line_gap,
        contexts=[context],
    )[0]
    if isinstance(result, SegmentError):
        raise result
    return result


def encode_pairs(
    pairs: Sequence[tuple[str, str, str]],
    tokenizer: Any,
    *,
    prompt_format: PromptFormat = DEFAULT_PROMPT_FORMAT,
    max_length: int = 1024,
    add_eos: bool = True,
    line_gap: LineGap = "next-line",
    contexts: Sequence[Sequence[Any]] | None = None,
) -> list[EncodedPair | SegmentError]:
    """Encode ``(instruction, correct, incorrect)`` triples with batched tokenization.

    ``contexts``: each pair's conversation before its instruction (:func:`render_prompt`).
    Returns one entry per pair, in order: an :class:`EncodedPair`, or the
    :class:`SegmentError` that says why that pair cannot be used, so callers count and report
    skips instead of losing them.
    """
    if contexts is None:
        contexts = [()] * len(pairs)
    prompts: list[str | SegmentError] = []
    for (instruction, _, _), context in zip(pairs, contexts, strict=True):
        try:
            prompts.append(render_prompt(instruction, tokenizer, prompt_format, context))
        except SegmentError as error:
            if error.kind == "invalid":  # a setting, not this pair: nothing can be encoded
                raise
            prompts.append(error)
    renderable = [k for k, p in enumerate(prompts) if isinstance(p, str)]
    encoded = encode_rendered_pairs(
        [prompts[k] for k in renderable],  # type: ignore[misc]
        [pairs[k][1] for k in renderable],
        [pairs[k][2] for k in renderable],
        tokenizer,
        prompt_special_tokens=_prompt_adds_special_tokens(tokenizer, prompt_format),
        max_length=max_length,
        add_eos=add_eos,
        line_gap=line_gap,
    )
    out: list[EncodedPair | SegmentError] = list(prompts)  # type: ignore[arg-type]
    for k, result in zip(renderable, encoded, strict=True):
        out[k] = result
    return out


def encode_rendered_pairs(
    prompts: Sequence[str],
    corrects: Sequence[str],
    incorrects: Sequence[str],
    tokenizer: Any,
    *,
    prompt_special_tokens: bool,
    max_length: int = 1024,
    add_eos: bool = True,
    line_gap: LineGap = "next-line",
) -> list[EncodedPair | SegmentError]:
    """:func:`encode_pairs` for prompts already rendered to text (a chat template applied to a
    whole conversation, say). ``prompt_special_tokens``: whether the tokenizer adds its special
    tokens (BOS) to the prompt, as it should for plain text and should not for a chat template's
    output."""
    if not (len(prompts) == len(corrects) == len(incorrects)):
        raise ValueError("prompts, corrects and incorrects must have the same length")
    if not getattr(tokenizer, "is_fast", False):
        raise SegmentError("segments need a fast tokenizer (offset mappings); got a slow one")
    if max_length < 2:
        raise SegmentError(f"max_length must be at least 2, got {max_length}")
    eos_id = tokenizer.eos_token_id if add_eos else None
    if add_eos and eos_id is None:
        raise SegmentError("tokenizer has no EOS token; pass add_eos=False to train without one")
    if not prompts:
        return []  # (transformers' batch tokenizer fails on an empty list)

    normal_corrects = [normalize_response(c) for c in corrects]
    normal_incorrects = [normalize_response(i) for i in incorrects]
    prompt_enc = tokenizer(list(prompts), add_special_tokens=prompt_special_tokens)["input_ids"]
    # Responses go straight to the Rust tokenizer: the same encoding transformers would make,
    # without its per-token conversion to Python lists, which costs ~30% of the time here.
    responses = tokenizer.backend_tokenizer.encode_batch(
        normal_corrects + normal_incorrects, add_special_tokens=False
    )
    n = len(prompts)
    out: list[EncodedPair | SegmentError] = []
    for k in range(n):
        prompt_ids = list(prompt_enc[k])
        if len(prompt_ids) >= max_length:
            out.append(
                SegmentError(
                    f"prompt has {len(prompt_ids)} tokens, no room for a response "
                    f"within max_length={max_length}",
                    kind="prompt too long",
                )
            )
            continue
        marks = diff_marks(normal_corrects[k], normal_incorrects[k], line_gap=line_gap)
        sides = [
            _encode_side(
                prompt_ids,
                responses[idx],
                side_marks,
                eos_id,
                max_length,
            )
            for idx, side_marks in ((k, marks.correct), (n + k, marks.incorrect))
        ]
        out.append(EncodedPair(correct=sides[0], incorrect=sides[1], prompt=prompts[k]))
    return out
