"""BigCodeBench's sanitizer: ``sanitize(code, entrypoint)`` of bigcodebench 0.2.5.

Vendored from bigcode-project/bigcodebench, ``bigcodebench/sanitize.py`` (tag v0.2.5, commit
9bd90fe; unchanged at the repository's head, 47eff25), Apache License 2.0, Copyright the
BigCodeBench authors. fgit is Apache-2.0 too. It is copied rather than imported because
``import bigcodebench.sanitize`` pulls in ``bigcodebench.data`` (``datasets``, ``wget``,
``pqdm`` ...) and the package declares vllm, openai, anthropic ... as dependencies.

Only :func:`extract_target_code_or_empty` and :func:`sanitize` are copied: every other function
of upstream's file (``code_extract``, ``get_deps``, ``get_function_dependency``,
``get_definition_name``, and ``syntax_check``) is identical, statement for statement, to evalplus
0.3.1's ``evalplus/sanitize.py``, which fgit already pins, and is imported from there.
``tests/test_bcb_prompts.py`` checks this module against upstream's file where bigcodebench is
installed.

How it differs from evalplus's sanitizer (why BigCodeBench needs its own):
- the answer is ``strip()``-ed before the longest parsable block is searched;
- a top-level function is kept even without a ``return`` (evalplus drops it), since BigCodeBench
  tasks often only plot, write files or print;
- after the kept definitions, trailing top-level lines that mention the entry point (``result =
  task_func(...)`` and the like) are cut, with everything after the first of them.
"""

from __future__ import annotations

import tree_sitter_python
from evalplus.sanitize import (
    ASSIGNMENT_TYPE,
    CLASS_TYPE,
    EXPRESSION_TYPE,
    FUNCTION_TYPE,
    IMPORT_TYPE,
    code_extract,
    get_definition_name,
    get_deps,
    get_function_dependency,
)
from tree_sitter import Language, Parser

__all__ = ["UPSTREAM", "extract_target_code_or_empty", "sanitize"]

# What the results file names as the sanitizer.
UPSTREAM = "bigcodebench.sanitize (bigcodebench 0.2.5, vendored)"


def extract_target_code_or_empty(code: str, entrypoint: str | None = None) -> str:
    """The imports, and the definitions ``entrypoint`` reaches, of the longest parsable block
    of ``code``; "" when there are none. Upstream's code, line for line (its names and its
    order of checks), so that the two read side by side."""
    code = code_extract(code.strip())
    code_bytes = bytes(code, "utf8")
    parser = Parser(Language(tree_sitter_python.language()))
    tree = parser.parse(code_bytes)
    class_names: set[str] = set()
    function_names: set[str] = set()
    variable_names: set[str] = set()

    root_node = tree.root_node
    import_nodes = []
    definition_nodes = []

    for child in root_node.children:
        if child.type in IMPORT_TYPE:
            import_nodes.append(child)
        elif child.type == CLASS_TYPE:
            name = get_definition_name(child)
            if not (name in class_names or name in variable_names or name in function_names):
                definition_nodes.append((name, child))
                class_names.add(name)
        elif child.type == FUNCTION_TYPE:
            name = get_definition_name(child)
            if not (name in function_names or name in variable_names or name in class_names):
                definition_nodes.append((name, child))
                function_names.add(get_definition_name(child))
        elif child.type == EXPRESSION_TYPE and child.children[0].type == ASSIGNMENT_TYPE:
            subchild = child.children[0]
            name = get_definition_name(subchild)
            if not (name in variable_names or name in function_names or name in class_names):
                definition_nodes.append((name, subchild))
                variable_names.add(name)

    if entrypoint:
        name2deps = get_deps(definition_nodes)
        reacheable = get_function_dependency(entrypoint, name2deps)

    sanitized_output = b""

    for node in import_nodes:
        sanitized_output += code_bytes[node.start_byte : node.end_byte] + b"\n"

    for pair in definition_nodes:
        name, node = pair
        if entrypoint and name not in reacheable:
            continue
        sanitized_output += code_bytes[node.start_byte : node.end_byte] + b"\n"

    sanitized = sanitized_output[:-1].decode("utf8")

    # Upstream's "ad-hoc approach to remove unnecessary lines": from the end, the top-level
    # lines that mention the entry point, up to the first indented line; cut from the earliest.
    # (Upstream evaluates `entrypoint in line` even for entrypoint None, a TypeError; fgit always
    # passes the task's entry point.)
    lines = sanitized.splitlines()
    outer_lines = []
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(" "):
            break
        if not lines[i].startswith(" ") and entrypoint in lines[i]:  # type: ignore[operator]
            outer_lines.append(i)
    if outer_lines:
        sanitized = "\n".join(lines[: outer_lines[-1]])
    return sanitized


def sanitize(code: str, entrypoint: str | None = None) -> str:
    """What BigCodeBench scores of a model's answer: the code that defines ``entrypoint``
    (with its imports, helpers, classes and globals), without the model's prose, markdown
    fences, tests, prints and ``__main__`` blocks. Falls back to the longest parsable block
    when nothing is defined."""
    sanitized_code = extract_target_code_or_empty(code, entrypoint).strip()
    if not sanitized_code:
        return code_extract(code)
    return sanitized_code
