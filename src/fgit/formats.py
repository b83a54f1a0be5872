"""Foreign record formats to fgit's native fields, one function per format.

Read as problems or pairs (see :mod:`fgit.records`):

* **native** fgit records (``instruction``/``response``/``incorrect``);
* **Alpaca** (``instruction``/``input``/``output``), problems only;
* **TRL**: prompt/completion (problems) and preference rows (``prompt``/``chosen``/
  ``rejected``), standard (strings) or conversational (messages), with an explicit prompt or an
  implicit one (chosen and rejected holding the whole conversation, their common first turns
  being the prompt, as ``trl.data_utils.extract_prompt`` reads it);
* **LLaMA-Factory** ranking data, alpaca (``instruction``/``input``/``chosen``/``rejected``
  with ``system`` and ``history``) and sharegpt (``conversations`` of ``from``/``value``
  turns, ``chosen``/``rejected`` turns, ``system``); its sharegpt SFT rows as problems.

A conversation before the response becomes the record's ``instruction`` (the last user turn)
and ``context`` (the system message and earlier turns), so a multi-turn prompt reaches
training whole. Anything fgit cannot represent (a tool turn, a prompt that does not end with a
user turn, a side with several answers) is an error naming the field, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from fgit.errors import FgitError

__all__ = ["FormatError", "derive_id", "json_type", "to_native"]

ID_KEYS = ("id", "task_id", "question_id")
TRL_KEYS = frozenset({"prompt", "chosen", "rejected", "completion"})
PAIR_ONLY = ("incorrect", "selection")
MISSING: Any = object()
# Columns `fgit export` derives from a pair's text (fgit.export); reading its output back drops
# them, since fgit recomputes them for its own tokenizer.
ID_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")
MASK_COLUMNS = (
    "chosen_line_mask",
    "chosen_token_mask",
    "rejected_line_mask",
    "rejected_token_mask",
)
SPAN_COLUMNS = ("chosen_spans", "rejected_spans")
DERIVED_COLUMNS = frozenset((*ID_COLUMNS, *MASK_COLUMNS, *SPAN_COLUMNS))
# Role names of LLaMA-Factory's sharegpt data (and of OpenAI-style messages) -> fgit's roles.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


class FormatError(FgitError, ValueError):
    """A record that does not fit its format, in one line; :mod:`fgit.records` re-raises it as
    a :class:`~fgit.records.RecordError` naming the file and line."""


def derive_id(instruction: str, response: str) -> str:
    """Stable id for records that carry none: ``sha1:`` + 12 hex digits of the content."""
    digest = hashlib.sha1(f"{instruction}\x00{response}".encode("utf-8", "surrogatepass"))
    return "sha1:" + digest.hexdigest()[:12]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _expect_str(key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise FormatError(f"field {key!r} must be a string, got {json_type(value)}")


def _json_text(value: Any) -> Any:
    """An object stored as JSON text (how `fgit export` writes free-form objects to parquet)
    back as the object; anything else as it is."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _take_common(rest: dict[str, Any], data: dict[str, Any], names: dict[str, str]) -> None:
    """Move id/tests/entry_point/source out of a foreign record; the rest becomes metadata."""
    for key in ID_KEYS:
        if key in rest:
            value = rest.pop(key)
            # MBPP-style integer task ids are common; bool is an int subclass but no id.
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            data["id"] = value
            names["id"] = key
            break
    for key in ("tests", "test"):
        if key in rest:
            data["tests"] = rest.pop(key)
            names["tests"] = key
            break
    for key in ("entry_point", "source"):
        if key in rest:
            data[key] = rest.pop(key)
    own = _json_text(rest.pop("metadata", MISSING))
    metadata: dict[str, Any] = {}
    if isinstance(own, dict):
        metadata.update(own)
    elif own is not MISSING:
        metadata["metadata"] = own
    metadata.update(rest)
    data["metadata"] = metadata
    if "id" not in data:
        instruction, response = data.get("instruction"), data.get("response")
        if isinstance(instruction, str) and isinstance(response, str):
            data["id"] = derive_id(instruction, response)
        else:
            # Validation fails anyway on instruction/response; don't add a confusing id error.
            data["id"] = "sha1:?"


# --- conversations ----------------------------------------------------------------------------


def _message(key: str, index: int, value: Any) -> dict[str, str]:
    """An OpenAI-style ``{"role", "content"}`` or a sharegpt ``{"from", "value"}`` turn as
    fgit's ``{"role", "content"}``."""
    if isinstance(value, Mapping):
        role, content = (
            value.get("role", value.get("from")),
            value.get("content", value.get("value")),
        )
        if isinstance(role, str) and isinstance(content, str):
            if role not in SHAREGPT_ROLES:
                raise FormatError(f"field {key!r}: message {index} has unsupported role {role!r}")
            return {"role": SHAREGPT_ROLES[role], "content": content}
    raise FormatError(
        f"field {key!r}: message {index} must be an object with string 'role' and 'content' "
        "(or sharegpt's 'from' and 'value')"
    )


def _messages(key: str, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise FormatError(f"field {key!r} must be a list of messages, got {json_type(value)}")
    return [_message(key, index, item) for index, item in enumerate(value, 1)]


def _split_prompt(key: str, messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """``(instruction, context)`` of a prompt conversation: its last turn, which must be a user
    turn, and everything before it."""
    if not messages:
        raise FormatError(f"field {key!r} has no messages")
    if messages[-1]["role"] != "user":
        raise FormatError(f"field {key!r} must end with a user message, got {messages[-1]['role']}")
    if any(m["role"] == "system" for m in messages[1:]):
        raise FormatError(f"field {key!r}: a system message may only come first")
    return messages[-1]["content"], messages[:-1]


def _answer(key: str, value: Any) -> str:
    """One response: a string, one assistant message, or a list holding one."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = [value]
    if isinstance(value, list) and len(value) == 1:
        message = _message(key, 1, value[0])
        if message["role"] == "assistant":
            return message["content"]
    raise FormatError(f"field {key!r} must be a string or one assistant message")


def _with_system(system: Any, context: list[dict[str, str]]) -> list[dict[str, str]]:
    if system is None or system == "":
        return context
    _expect_str("system", system)
    if context and context[0]["role"] == "system":
        raise FormatError("record has both a 'system' field and a system message")
    return [{"role": "system", "content": system}, *context]


def _set_prompt(data: dict[str, Any], instruction: str, context: list[dict[str, str]]) -> None:
    data["instruction"] = instruction
    if context:
        data["context"] = context


# --- formats -----------------------------------------------------------------------------------


def _from_alpaca(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Alpaca SFT rows, and LLaMA-Factory's alpaca ranking rows (``chosen``/``rejected``)."""
    rest = dict(obj)
    ranking = "chosen" in rest or "rejected" in rest
    if want_pair and not ranking:
        raise FormatError("Alpaca-style record has no incorrect response; cannot read it as a pair")
    answer_key = "chosen" if ranking else "output"
    names = {"response": answer_key, "incorrect": "rejected"}
    instruction = rest.pop("instruction", MISSING)
    extra = rest.pop("input", None)
    data: dict[str, Any] = {}
    if answer_key in rest:
        data["response"] = _answer(answer_key, rest.pop(answer_key))
    rejected = rest.pop("rejected", MISSING)
    if ranking:
        rest.pop("output", None)  # LLaMA-Factory ignores it in ranking data
        if want_pair and rejected is not MISSING:
            data["incorrect"] = _answer("rejected", rejected)
    if extra is not None:
        _expect_str("input", extra)
    context = _with_system(rest.pop("system", None), _history(rest.pop("history", None)))
    if instruction is not MISSING:
        _expect_str("instruction", instruction)
        # A whitespace-only input carries nothing; appending it would only add noise.
        if extra and extra.strip():
            instruction = f"{instruction}\n\n{extra}"
        _set_prompt(data, instruction, context)
    _take_common(rest, data, names)
    return data, names


def _history(value: Any) -> list[dict[str, str]]:
    """LLaMA-Factory's alpaca ``history``: ``[[user, assistant], ...]`` before the instruction."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError(
            f"field 'history' must be a list of [user, assistant] pairs, got {json_type(value)}"
        )
    turns: list[dict[str, str]] = []
    for index, turn in enumerate(value, 1):
        if not (
            isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)
        ):
            raise FormatError(
                f"field 'history': turn {index} must be a [user, assistant] pair of strings"
            )
        turns += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
    return turns


def _implicit_prompt(chosen: Any, rejected: Any) -> tuple[Any, Any, Any]:
    """TRL's implicit prompt: the longest run of first turns chosen and rejected share (as
    ``trl.data_utils.extract_prompt``), leaving one answer on each side."""
    if not (isinstance(chosen, list) and isinstance(rejected, list)):
        raise FormatError(
            "record has no 'prompt'; an implicit prompt needs 'chosen' and 'rejected' as "
            "conversations"
        )
    shared = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        shared += 1
    # The answers start at the last assistant turn of the shared part's end.
    while shared > 0 and _message("chosen", shared, chosen[shared - 1])["role"] != "user":
        shared -= 1
    if shared == 0:
        raise FormatError("record has no 'prompt' and 'chosen'/'rejected' share no user turn")
    return chosen[:shared], chosen[shared:], rejected[shared:]


def _from_trl(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    rest = dict(obj)
    preference = "chosen" in rest or "rejected" in rest
    if preference and "completion" in rest:
        raise FormatError("record mixes 'completion' with preference fields 'chosen'/'rejected'")
    if want_pair and not preference:
        raise FormatError("prompt/completion record has no incorrect response; cannot read a pair")
    answer_key = "chosen" if preference else "completion"
    names = {"instruction": "prompt", "response": answer_key, "incorrect": "rejected"}
    if "prompt" not in rest and preference and "chosen" in rest and "rejected" in rest:
        rest["prompt"], rest["chosen"], rest["rejected"] = _implicit_prompt(
            rest["chosen"], rest["rejected"]
        )
    data: dict[str, Any] = {}
    if "prompt" in rest:
        prompt = rest.pop("prompt")
        if isinstance(prompt, str):
            _set_prompt(data, prompt, [])
        elif isinstance(prompt, list):
            _set_prompt(data, *_split_prompt("prompt", _messages("prompt", prompt)))
        else:
            raise FormatError(
                f"field 'prompt' must be a string or a list of messages, got {json_type(prompt)}"
            )
    if answer_key in rest:
        data["response"] = _answer(answer_key, rest.pop(answer_key))
    rejected = rest.pop("rejected", MISSING)
    if want_pair and rejected is not MISSING:
        data["incorrect"] = _answer("rejected", rejected)
    selection = _json_text(rest.pop("selection", MISSING))
    if want_pair and selection is not MISSING:
        data["selection"] = selection
    for column in DERIVED_COLUMNS & rest.keys():
        del rest[column]
    _take_common(rest, data, names)
    return data, names


def _from_sharegpt(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """LLaMA-Factory sharegpt rows: ranking (``chosen``/``rejected`` after ``conversations``) or
    SFT (``conversations`` ending with the answer)."""
    rest = dict(obj)
    turns = _messages("conversations", rest.pop("conversations"))
    ranking = "chosen" in rest or "rejected" in rest
    if want_pair and not ranking:
        raise FormatError("sharegpt record has no 'rejected' answer; cannot read it as a pair")
    names = {"instruction": "conversations", "response": "chosen", "incorrect": "rejected"}
    data: dict[str, Any] = {}
    if not ranking:
        if not turns or turns[-1]["role"] != "assistant":
            raise FormatError("field 'conversations' must end with the assistant's answer")
        data["response"] = turns.pop()["content"]
        names["response"] = "conversations"
    else:
        if "chosen" in rest:
            data["response"] = _answer("chosen", rest.pop("chosen"))
        rejected = rest.pop("rejected", MISSING)
        if want_pair and rejected is not MISSING:
            data["incorrect"] = _answer("rejected", rejected)
    instruction, context = _split_prompt("conversations", turns)
    _set_prompt(data, instruction, _with_system(rest.pop("system", None), context))
    _take_common(rest, data, names)
    return data, names


def to_native(obj: dict[str, Any], want_pair: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Native-field dict for ``obj`` and a map from native field names to the record's keys."""
    if "conversations" in obj:
        return _from_sharegpt(obj, want_pair)
    if "instruction" in obj and ("chosen" in obj or "rejected" in obj):
        return _from_alpaca(obj, want_pair)  # LLaMA-Factory's alpaca ranking
    if TRL_KEYS & obj.keys():
        return _from_trl(obj, want_pair)
    if "output" in obj and "response" not in obj:
        return _from_alpaca(obj, want_pair)
    if want_pair:
        return obj, {}
    return {k: v for k, v in obj.items() if k not in PAIR_ONLY}, {}
