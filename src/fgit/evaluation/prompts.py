"""Prompts and answer post-processing exactly as evalplus 0.3.1's ``codegen`` does them.

Chat models (a tokenizer with a chat template) get evalplus's instruction prompt: the task in a
fenced block after an instruction, and the assistant's answer already begun with a sentence and
an opening ```` ```python ```` fence, so the model continues with code. Base models get plain
completion of the task's code prompt, and the solution is prompt + completion. Both stop at
evalplus's stop strings, and the solution is then sanitised by ``evalplus.sanitize``: it keeps
what the answer defines (imports, functions, classes, globals the entry point needs) and drops
the model's own tests and prints.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "INSTRUCTION_PREFIX",
    "RESPONSE_PREFIX",
    "EvalPrompt",
    "PromptKind",
    "build_prompt",
    "defined_name",
    "instruction_message",
    "prompt_format_record",
    "solution_from_completion",
]

PromptKind = Literal["auto", "chat", "plain"]

# evalplus/codegen.py (0.3.1), the default (non-"perf") prompt.
INSTRUCTION_PREFIX = (
    "Please provide a self-contained Python script that solves the following problem in a "
    "markdown code block:"
)
RESPONSE_PREFIX = (
    "Below is a Python script with a self-contained function that solves the problem and "
    "passes corresponding tests:"
)
# evalplus/provider/utility.py: EOS, extra_eos_for_direct_completion, _MAGIC_SPLITTER_.
BASE_STOPS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(", "\nprint(")
CHAT_STOPS = ("\n```\n",)
DIRECT_STOPS = {
    "humaneval": ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert "),
    "mbpp": ('\n"""', "\nassert"),
}
_SPLITTER = "-[[]]-this-is-really-our-highest-priority-[[]]-"


@dataclass(frozen=True)
class EvalPrompt:
    kind: Literal["chat", "plain"]
    text: str  # what the model continues
    stop: tuple[str, ...]
    solution_prefix: str  # prepended to the completion to form the solution ("" for chat)


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _resolve_kind(kind: PromptKind, tokenizer: Any) -> Literal["chat", "plain"]:
    if kind == "auto":
        return "chat" if _has_chat_template(tokenizer) else "plain"
    if kind == "chat" and not _has_chat_template(tokenizer):
        raise ValueError("prompt kind 'chat' needs a tokenizer with a chat template")
    return kind


def build_prompt(
    task_prompt: str, tokenizer: Any, dataset: str, kind: PromptKind = "auto"
) -> EvalPrompt:
    """The prompt for one task. ``dataset`` is evalplus's name ("humaneval" or "mbpp"), which
    picks the stop strings of plain completion."""
    resolved = _resolve_kind(kind, tokenizer)
    prompt = task_prompt.strip() + "\n"
    if resolved == "plain":
        stops = BASE_STOPS + DIRECT_STOPS[dataset]
        return EvalPrompt("plain", prompt, stops, solution_prefix=prompt)
    user = instruction_message(prompt)
    assistant = f"{RESPONSE_PREFIX}\n```python\n{_SPLITTER}\n```\n"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        tokenize=False,
    )
    return EvalPrompt("chat", rendered.split(_SPLITTER)[0], BASE_STOPS + CHAT_STOPS, "")


def instruction_message(task_prompt: str) -> str:
    """evalplus's user message, for backends that only take conversations (OpenAI-compatible
    servers, vLLM chat): the answer cannot be pre-filled there, so the model writes it whole
    and the sanitizer pulls the code out of its markdown."""
    return f"{INSTRUCTION_PREFIX}\n```\n{task_prompt.strip()}\n```\n"


def solution_from_completion(
    prompt: EvalPrompt, completion: str, entry_point: str, *, sanitize: bool = True
) -> tuple[str, str]:
    """``(raw, solution)``: the raw solution as evalplus writes it to ``.raw.jsonl``, and what
    is scored (sanitised unless ``sanitize`` is False)."""
    raw = prompt.solution_prefix + completion
    if not sanitize:
        return raw, raw
    from evalplus.sanitize import sanitize as evalplus_sanitize

    return raw, evalplus_sanitize(raw, entrypoint=defined_name(entry_point))


def defined_name(entry_point: str) -> str:
    """The top-level name an entry point calls: ``add`` for ``add``, ``Solution`` for
    LeetCode's ``Solution().twoSum``. evalplus's sanitizer keeps what that name reaches; given
    the whole expression it would find no such definition and keep only the imports."""
    match = re.match(r"\s*([A-Za-z_]\w*)", entry_point)
    return match.group(1) if match else entry_point


def prompt_format_record(kind: PromptKind, tokenizer: Any) -> dict[str, Any]:
    """What the results file records about the prompt, enough to rebuild it."""
    resolved = _resolve_kind(kind, tokenizer)
    record: dict[str, Any] = {"kind": resolved, "style": "evalplus 0.3.1 codegen"}
    if resolved == "chat":
        template = tokenizer.chat_template
        record.update(
            instruction_prefix=INSTRUCTION_PREFIX,
            response_prefix=RESPONSE_PREFIX,
            chat_template_sha256=hashlib.sha256(str(template).encode()).hexdigest(),
            stop=list(BASE_STOPS + CHAT_STOPS),
        )
    else:
        record.update(stop_base=list(BASE_STOPS), stop_direct=DIRECT_STOPS)
    return record
