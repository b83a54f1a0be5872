"""Prompts and answer post-processing exactly as evalplus 0.3.1's ``codegen`` does them, and as
bigcodebench 0.2.5's ``generate`` does them for BigCodeBench.

Chat models (a tokenizer with a chat template) get evalplus's instruction prompt: the task in a
fenced block after an instruction, and the assistant's answer already begun with a sentence and
an opening ```` ```python ```` fence, so the model continues with code. Base models get plain
completion of the task's code prompt, and the solution is prompt + completion. Both stop at
evalplus's stop strings, and the solution is then sanitised by ``evalplus.sanitize``: it keeps
what the answer defines (imports, functions, classes, globals the entry point needs) and drops
the model's own tests and prints.

BigCodeBench (``dataset="bigcodebench"``, with its ``split``) follows bigcodebench's
``bigcodebench/provider/utility.py`` (``make_raw_chat_prompt``, ``EOS``,
``extra_eos_for_direct_completion``) as its vLLM and HF providers call it: the same prefixes and
stop strings as evalplus, but the instruct split's prompt is not fenced, a base model completes
the ``complete_prompt`` as it is (not stripped), tabs in the answer become four spaces, base
models are refused on the instruct split (``bigcodebench/generate.py``), and the sanitizer is
bigcodebench's (:mod:`fgit.evaluation.bcb_sanitize`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from fgit.errors import FgitError

__all__ = [
    "BIGCODEBENCH_DIRECT_STOPS",
    "INSTRUCTION_PREFIX",
    "RESPONSE_PREFIX",
    "EvalPrompt",
    "PromptError",
    "PromptKind",
    "build_prompt",
    "defined_name",
    "instruction_message",
    "prompt_format_record",
    "sanitizer_name",
    "server_prompt",
    "solution_from_completion",
]

PromptKind = Literal["auto", "chat", "plain"]
Split = Literal["complete", "instruct"]

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
# bigcodebench/provider/utility.py (0.2.5): bigcodebench's instruction_prefix, response_prefix
# (run_codegen's defaults in bigcodebench/generate.py), EOS and _MAGIC_SPLITTER_ are evalplus's,
# string for string; only its direct-completion stops are its own (the same as HumanEval's).
BIGCODEBENCH_DIRECT_STOPS = ("\ndef ", "\nclass ", "\nimport ", "\nfrom ", "\nassert ")
BIGCODEBENCH_STYLE = "bigcodebench 0.2.5 generate"


class PromptError(FgitError, ValueError):
    """A prompt that cannot be built for this model and benchmark (one line for the user)."""


@dataclass(frozen=True)
class EvalPrompt:
    kind: Literal["chat", "plain"]
    text: str  # what the model continues
    stop: tuple[str, ...]
    solution_prefix: str  # prepended to the completion to form the solution ("" for chat)
    sanitizer: Literal["evalplus", "bigcodebench"] = "evalplus"
    # bigcodebench's vLLM and HF providers turn every tab of an answer into four spaces.
    expand_tabs: bool = False


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _resolve_kind(kind: PromptKind, tokenizer: Any) -> Literal["chat", "plain"]:
    if kind == "auto":
        return "chat" if _has_chat_template(tokenizer) else "plain"
    if kind == "chat" and not _has_chat_template(tokenizer):
        raise ValueError("prompt kind 'chat' needs a tokenizer with a chat template")
    return kind


def _bigcodebench_split(dataset: str, split: str | None) -> Split | None:
    if dataset != "bigcodebench":
        return None
    if split not in ("complete", "instruct"):
        raise ValueError(f"BigCodeBench prompts need split 'complete' or 'instruct', got {split!r}")
    return split  # type: ignore[return-value]


def build_prompt(
    task_prompt: str,
    tokenizer: Any,
    dataset: str,
    kind: PromptKind = "auto",
    split: str | None = None,
) -> EvalPrompt:
    """The prompt for one task. ``dataset`` is the task's dataset: evalplus's name
    (``"humaneval"`` or ``"mbpp"``, which picks the stop strings of plain completion) or
    ``"bigcodebench"``, which also needs the benchmark's ``split``.

    Raises :class:`PromptError` for a base model (plain completion) on BigCodeBench's instruct
    split, which bigcodebench's ``codegen`` refuses too: there is no code to complete."""
    resolved = _resolve_kind(kind, tokenizer)
    bcb = _bigcodebench_split(dataset, split)
    if bcb is not None:
        return _bigcodebench_prompt(task_prompt, tokenizer, resolved, bcb)
    prompt = task_prompt.strip() + "\n"
    if resolved == "plain":
        stops = BASE_STOPS + DIRECT_STOPS[dataset]
        return EvalPrompt("plain", prompt, stops, solution_prefix=prompt)
    user = instruction_message(prompt)
    return EvalPrompt("chat", _prefilled(tokenizer, user), BASE_STOPS + CHAT_STOPS, "")


def _prefilled(tokenizer: Any, user: str) -> str:
    """The chat template's text up to the answer's opening fence (make_raw_chat_prompt with
    prefill, in evalplus and bigcodebench alike)."""
    assistant = f"{RESPONSE_PREFIX}\n```python\n{_SPLITTER}\n```\n"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        tokenize=False,
    )
    return rendered.split(_SPLITTER)[0]


def _bigcodebench_prompt(
    task_prompt: str, tokenizer: Any, kind: Literal["chat", "plain"], split: Split
) -> EvalPrompt:
    if kind == "plain":
        if split == "instruct":
            raise PromptError(
                "BigCodeBench's instruct split needs a chat model (a chat template): its prompt "
                "is prose, with no code to complete, and bigcodebench refuses base models there "
                "too; use bigcodebench-complete or bigcodebench-hard-complete"
            )
        # bigcodebench completes task["complete_prompt"] as it is (strip_newlines=False).
        return EvalPrompt(
            "plain", task_prompt, BASE_STOPS + BIGCODEBENCH_DIRECT_STOPS, task_prompt,
            sanitizer="bigcodebench", expand_tabs=True,
        )  # fmt: skip
    user = instruction_message(task_prompt, split)
    return EvalPrompt(
        "chat", _prefilled(tokenizer, user), BASE_STOPS + CHAT_STOPS, "",
        sanitizer="bigcodebench", expand_tabs=True,
    )  # fmt: skip


def instruction_message(task_prompt: str, split: str | None = None) -> str:
    """The user message: evalplus's (the task's code fenced after the instruction), also
    BigCodeBench's for its complete split; BigCodeBench's instruct split (``split="instruct"``)
    puts its prose prompt unfenced after the instruction (make_raw_chat_prompt)."""
    if split == "instruct":
        return f"{INSTRUCTION_PREFIX}\n{task_prompt.strip()}\n"
    return f"{INSTRUCTION_PREFIX}\n```\n{task_prompt.strip()}\n```\n"


def server_prompt(task_prompt: str, dataset: str, split: str | None = None) -> EvalPrompt:
    """The prompt for backends that only take conversations (OpenAI-compatible servers, vLLM
    chat): the user message alone. The answer cannot be pre-filled there, so the model writes it
    whole and the sanitizer pulls the code out of its markdown. (bigcodebench's OpenAI provider
    sends the same message, ``make_raw_chat_prompt`` with no tokenizer, and keeps tabs.)"""
    bcb = _bigcodebench_split(dataset, split)
    text = instruction_message(task_prompt, bcb)
    return EvalPrompt("chat", text, (), "", "bigcodebench" if bcb else "evalplus")


def solution_from_completion(
    prompt: EvalPrompt, completion: str, entry_point: str, *, sanitize: bool = True
) -> tuple[str, str]:
    """``(raw, solution)``: the raw solution as evalplus (or bigcodebench) writes it to
    ``.raw.jsonl``, and what is scored (sanitised, by the prompt's sanitizer, unless
    ``sanitize`` is False)."""
    if prompt.expand_tabs:
        completion = completion.replace("\t", "    ")
    raw = prompt.solution_prefix + completion
    if not sanitize:
        return raw, raw
    if prompt.sanitizer == "bigcodebench":
        from fgit.evaluation.bcb_sanitize import sanitize as bigcodebench_sanitize

        return raw, bigcodebench_sanitize(raw, entry_point)
    from evalplus.sanitize import sanitize as evalplus_sanitize

    return raw, evalplus_sanitize(raw, entrypoint=defined_name(entry_point))


def defined_name(entry_point: str) -> str:
    """The top-level name an entry point calls: ``add`` for ``add``, ``Solution`` for
    LeetCode's ``Solution().twoSum``. evalplus's sanitizer keeps what that name reaches; given
    the whole expression it would find no such definition and keep only the imports."""
    match = re.match(r"\s*([A-Za-z_]\w*)", entry_point)
    return match.group(1) if match else entry_point


def sanitizer_name(dataset: str, enabled: bool = True) -> str:
    """What the results file records as the sanitizer of a task of ``dataset``."""
    if not enabled:
        return "none"
    if dataset == "bigcodebench":
        from fgit.evaluation.bcb_sanitize import UPSTREAM

        return UPSTREAM
    from importlib.metadata import version

    return f"evalplus.sanitize (evalplus {version('evalplus')})"


def prompt_format_record(
    kind: PromptKind, tokenizer: Any, dataset: str | None = None, split: str | None = None
) -> dict[str, Any]:
    """What the results file records about the prompt, enough to rebuild it. ``tokenizer``
    None: a backend that only takes conversations (the user message, nothing pre-filled)."""
    bcb = _bigcodebench_split(dataset or "", split)
    if tokenizer is None:
        return _server_record(bcb)
    resolved = _resolve_kind(kind, tokenizer)
    if bcb is None:
        record: dict[str, Any] = {"kind": resolved, "style": "evalplus 0.3.1 codegen"}
    else:
        record = {"kind": resolved, "style": BIGCODEBENCH_STYLE, "split": bcb}
    if resolved == "chat":
        template = tokenizer.chat_template
        record.update(
            instruction_prefix=INSTRUCTION_PREFIX,
            response_prefix=RESPONSE_PREFIX,
            chat_template_sha256=hashlib.sha256(str(template).encode()).hexdigest(),
            stop=list(BASE_STOPS + CHAT_STOPS),
        )
        if bcb is not None:
            record.update(task_prompt_fenced=bcb == "complete", expand_tabs=True)
    elif bcb is None:
        record.update(stop_base=list(BASE_STOPS), stop_direct=DIRECT_STOPS)
    else:
        record.update(
            stop=list(BASE_STOPS + BIGCODEBENCH_DIRECT_STOPS),
            prompt="complete_prompt as it is",
            expand_tabs=True,
        )
    return record


def _server_record(split: Split | None) -> dict[str, Any]:
    if split is None:
        return {"kind": "chat", "style": "evalplus 0.3.1 instruction, answer not pre-filled"}
    return {
        "kind": "chat",
        "style": f"{BIGCODEBENCH_STYLE} instruction (its OpenAI provider), answer not pre-filled",
        "split": split,
        "instruction_prefix": INSTRUCTION_PREFIX,
        "task_prompt_fenced": split == "complete",
    }
