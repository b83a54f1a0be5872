"""Token ids, labels and error-sensitive masks for a (correct, incorrect) pair.

Prompt and response are tokenized separately (as TRL does) so response offsets are relative to
the response text and the prompt tokens are identical on both sides. A token is marked when its
character span (the fast tokenizer's offset mapping) touches a marked character; the end-of-text
mark goes to the EOS token appended to each response. Masks cover response tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from fgit.segments.diff import SideMarks, diff_marks, normalize_response

__all__ = [
    "IGNORE_INDEX",
    "EncodedPair",
    "EncodedSide",
    "PromptFormat",
    "SegmentError",
    "encode_pair",
    "encode_pairs",
    "render_prompt",
    "token_mask_from_char_marks",
]

IGNORE_INDEX = -100  # labels of prompt tokens: ignored by the loss (never 0, a real token id)


class SegmentError(ValueError):
    """A pair that cannot be encoded (e.g. its prompt alone fills ``max_length``)."""


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


@dataclass(frozen=True)
class EncodedSide:
    """One side of a pair: prompt + response, with masks aligned to ``input_ids``.

    ``line_mask``, ``token_mask`` are 0/1 and ``hybrid_mask = line_mask + token_mask`` (0/1/2);
    all three are 0 on prompt tokens. ``response_offsets`` are the character spans of the
    response tokens in ``response`` (the normalised text); the EOS token's span is empty at the
    end of the text. Everything is truncated together to ``max_length``.
    """

    input_ids: list[int]
    labels: list[int]
    line_mask: list[int]
    token_mask: list[int]
    hybrid_mask: list[int]
    prompt_length: int
    response: str
    response_offsets: list[tuple[int, int]]
    truncated: bool

    @property
    def num_sensitive(self) -> int:
        return sum(1 for v in self.hybrid_mask if v)


@dataclass(frozen=True)
class EncodedPair:
    correct: EncodedSide
    incorrect: EncodedSide
    prompt: str


def render_prompt(instruction: str, tokenizer: Any, fmt: PromptFormat = PromptFormat()) -> str:
    """The prompt text for ``instruction`` (ending where the response starts)."""
    use_chat = fmt.kind == "chat" or (fmt.kind == "auto" and _has_chat_template(tokenizer))
    if not use_chat:
        return fmt.template.format(instruction=instruction)
    if not _has_chat_template(tokenizer):
        raise SegmentError("prompt format 'chat' needs a tokenizer with a chat template")
    messages = [{"role": "user", "content": instruction}]
    if fmt.system is not None:
        messages.insert(0, {"role": "system", "content": fmt.system})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _prompt_adds_special_tokens(tokenizer: Any, fmt: PromptFormat) -> bool:
    # A chat template writes its own BOS/control tokens; a plain prompt gets the tokenizer's.
    return not (fmt.kind == "chat" or (fmt.kind == "auto" and _has_chat_template(tokenizer)))


def token_mask_from_char_marks(
    marks: np.ndarray, offsets: Sequence[tuple[int, int]], has_eos: bool
) -> np.ndarray:
    """0/1 per response token: 1 when the token's span touches a marked character.

    ``marks`` has ``len(text) + 1`` entries, the last being end-of-text, which marks the EOS
    token (the last token when ``has_eos``) or, without EOS, the last text token. Tokens with an
    empty span touch nothing.
    """
    n_chars = len(marks) - 1
    # prefix[k] = number of marked characters before position k, so a span [s, e) is touched
    # when prefix[e] - prefix[s] > 0: one vectorised pass instead of a loop over characters.
    prefix = np.zeros(n_chars + 1, dtype=np.int64)
    np.cumsum(marks[:n_chars], out=prefix[1:])
    n_text_tokens = len(offsets) - (1 if has_eos else 0)
    out = np.zeros(len(offsets), dtype=np.int8)
    if n_text_tokens > 0:
        spans = np.asarray(offsets[:n_text_tokens], dtype=np.int64).reshape(-1, 2)
        starts = np.clip(spans[:, 0], 0, n_chars)
        ends = np.clip(spans[:, 1], 0, n_chars)
        out[:n_text_tokens] = (prefix[ends] - prefix[starts]) > 0
    if marks[n_chars] and len(offsets) > 0:
        out[len(offsets) - 1] = 1
    return out


def _encode_side(
    prompt_ids: list[int],
    response_ids: list[int],
    response_offsets: list[tuple[int, int]],
    marks: SideMarks,
    eos_id: int | None,
    max_length: int,
) -> EncodedSide:
    ids = list(response_ids)
    offsets = [tuple(o) for o in response_offsets]
    if eos_id is not None:
        ids.append(eos_id)
        offsets.append((len(marks.text), len(marks.text)))
    has_eos = eos_id is not None
    line = token_mask_from_char_marks(marks.line, offsets, has_eos)
    token = token_mask_from_char_marks(marks.token, offsets, has_eos)

    room = max_length - len(prompt_ids)
    truncated = len(ids) > room
    ids, offsets, line, token = ids[:room], offsets[:room], line[:room], token[:room]
    n_prompt = len(prompt_ids)
    zeros = [0] * n_prompt
    line_list, token_list = line.tolist(), token.tolist()
    return EncodedSide(
        input_ids=prompt_ids + ids,
        labels=[IGNORE_INDEX] * n_prompt + ids,
        line_mask=zeros + line_list,
        token_mask=zeros + token_list,
        hybrid_mask=zeros + (line + token).tolist(),
        prompt_length=n_prompt,
        response=marks.text,
        response_offsets=[(int(s), int(e)) for s, e in offsets],
        truncated=truncated,
    )


def encode_pair(
    instruction: str,
    correct: str,
    incorrect: str,
    tokenizer: Any,
    *,
    prompt_format: PromptFormat = PromptFormat(),
    max_length: int = 1024,
    add_eos: bool = True,
) -> EncodedPair:
    """Encode one pair. See :func:`encode_pairs` for many pairs at once (faster)."""
    result = encode_pairs(
        [(instruction, correct, incorrect)],
        tokenizer,
        prompt_format=prompt_format,
        max_length=max_length,
        add_eos=add_eos,
    )[0]
    if isinstance(result, SegmentError):
        raise result
    return result


def encode_pairs(
    pairs: Sequence[tuple[str, str, str]],
    tokenizer: Any,
    *,
    prompt_format: PromptFormat = PromptFormat(),
    max_length: int = 1024,
    add_eos: bool = True,
) -> list[EncodedPair | SegmentError]:
    """Encode ``(instruction, correct, incorrect)`` triples with batched tokenization.

    Returns one entry per pair, in order: an :class:`EncodedPair`, or the
    :class:`SegmentError` that says why that pair cannot be used, so callers count and report
    skips instead of losing them.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise SegmentError("segments need a fast tokenizer (offset mappings); got a slow one")
    if max_length < 2:
        raise SegmentError(f"max_length must be at least 2, got {max_length}")
    eos_id = tokenizer.eos_token_id if add_eos else None
    if add_eos and eos_id is None:
        raise SegmentError("tokenizer has no EOS token; pass add_eos=False to train without one")

    prompts = [render_prompt(instruction, tokenizer, prompt_format) for instruction, _, _ in pairs]
    corrects = [normalize_response(c) for _, c, _ in pairs]
    incorrects = [normalize_response(i) for _, _, i in pairs]

    prompt_enc = tokenizer(
        prompts, add_special_tokens=_prompt_adds_special_tokens(tokenizer, prompt_format)
    )["input_ids"]
    response_enc = tokenizer(
        corrects + incorrects, add_special_tokens=False, return_offsets_mapping=True
    )
    n = len(pairs)
    out: list[EncodedPair | SegmentError] = []
    for k in range(n):
        prompt_ids = list(prompt_enc[k])
        if len(prompt_ids) >= max_length:
            out.append(
                SegmentError(
                    f"prompt has {len(prompt_ids)} tokens, no room for a response "
                    f"within max_length={max_length}"
                )
            )
            continue
        marks = diff_marks(corrects[k], incorrects[k])
        sides = [
            _encode_side(
                prompt_ids,
                response_enc["input_ids"][idx],
                response_enc["offset_mapping"][idx],
                side_marks,
                eos_id,
                max_length,
            )
            for idx, side_marks in ((k, marks.correct), (n + k, marks.incorrect))
        ]
        out.append(EncodedPair(correct=sides[0], incorrect=sides[1], prompt=prompts[k]))
    return out
