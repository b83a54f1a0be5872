"""The teacher prompt: FGIT paper, Fig. 3, verbatim by default, overridable."""

from __future__ import annotations

from fgit.generation import Conversation

PAPER_TEMPLATE = (
    "Generate an incorrect response based on the provided question and original answer. "
    "Your response should be similar to the original answer while introducing subtle but "
    "meaningful errors. Do not explicitly state, explain the errors introduced. Present your "
    "output in markdown format.\n"
    "Question:\n"
    "```text\n"
    "{instruction}\n"
    "```\n"
    "Original answer:\n"
    "{response}"
)


def render_teacher_prompt(instruction: str, response: str, template: str = PAPER_TEMPLATE) -> str:
    """Fill the template's ``{instruction}`` and ``{response}`` fields (nothing else is
    interpreted, so braces inside code are safe)."""
    if "{instruction}" not in template or "{response}" not in template:
        raise ValueError("a teacher template needs both {instruction} and {response} fields")
    # str.replace, not str.format: code and templates are full of literal braces.
    head, tail = template.split("{response}", 1)
    return head.replace("{instruction}", instruction) + response + tail


def teacher_conversation(
    instruction: str, response: str, template: str = PAPER_TEMPLATE
) -> Conversation:
    return [{"role": "user", "content": render_teacher_prompt(instruction, response, template)}]
