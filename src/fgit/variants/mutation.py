"""Rule-based incorrect variants: the mutation baseline the FGIT paper compares its teacher with.

In the style of the "universal mutator": each mutant carries exactly one small, realistic fault
(a flipped comparison, an off-by-one, a dropped condition, a removed guard, ...).

Mutants are made by editing the original *text* at AST node positions, never by unparsing the
tree, so comments, formatting, line endings (``\\n``, ``\\r\\n`` or ``\\r``) and every character
outside the fault stay byte-identical, and a diff against the correct code marks only the fault.
CPython reports column offsets in UTF-8 bytes; :class:`_Source` turns them into ``str`` indices.

Nodes inside f-strings are never mutated (their positions are unreliable before Python 3.12, and
skipping them everywhere keeps results identical across versions), nor are type annotations
(they are not program logic).
"""

from __future__ import annotations

import ast
import random
import re
import warnings
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter

__all__ = ["OPERATORS", "Mutation", "MutationSite", "mutate", "mutation_sites"]

OPERATORS = (
    "compare_swap",
    "arith_swap",
    "aug_swap",
    "off_by_one",
    "index_shift",
    "boundary",
    "drop_condition",
    "logic_swap",
    "negate_condition",
    "remove_not",
    "swap_args",
    "minmax_swap",
    "bool_swap",
    "return_value",
    "remove_statement",
)
"""Every operator name a :class:`Mutation` can carry."""


@dataclass(frozen=True)
class Mutation:
    """One mutant: ``code`` is the original with ``before`` (at ``line``) replaced by ``after``."""

    operator: str
    line: int  # 1-based line of the fault in the original
    before: str  # the exact original text that was replaced (whole lines for line removals)
    after: str  # its replacement
    code: str  # the whole mutated program


@dataclass(frozen=True, order=True)
class MutationSite:
    """One applicable single edit: replace ``original[start:end]`` (== ``before``) by ``after``.

    Offsets are ``str`` indices into the original; sites sort in source order.
    """

    start: int
    end: int
    operator: str
    after: str
    line: int
    before: str

    def apply(self, code: str) -> str:
        """The mutated program (``code`` must be the text the site was found in)."""
        return code[: self.start] + self.after + code[self.end :]


_site_order = attrgetter("start", "end", "operator", "after")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # CPython's own line breaks: a lone \r counts too
_COMMENT = re.compile(r"#[^\r\n]*")
_TRIVIA = frozenset(" \t\f\r\n\\()")  # what may surround an operator token between operands
_LINE_TAIL = re.compile(r"[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?")
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


class _Source:
    """The original text plus the site list being built; converts AST positions to offsets."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.line_starts = [0, *(m.end() for m in _NEWLINE.finditer(code))]
        self._utf8: dict[int, bytes | None] = {}  # per line: its UTF-8 bytes, None if ASCII
        self.sites: list[MutationSite] = []

    def offset(self, lineno: int, col: int) -> int:
        """``str`` index of an AST (line, UTF-8 byte column) position."""
        start = self.line_starts[lineno - 1]
        if lineno not in self._utf8:
            end = self.line_end(lineno)
            line = self.code[start:end]
            self._utf8[lineno] = None if line.isascii() else line.encode("utf-8")
        raw = self._utf8[lineno]
        return start + (col if raw is None else len(raw[:col].decode("utf-8")))

    def line_end(self, lineno: int) -> int:
        """Offset just past line ``lineno``'s line break."""
        return self.line_starts[lineno] if lineno < len(self.line_starts) else len(self.code)

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self.offset(node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.code[start:end]

    def token_between(self, lo: int, hi: int) -> tuple[int, int, str] | None:
        """The operator token in ``code[lo:hi]`` (between two operands): its span and its text
        without whitespace (``not in`` -> ``notin``). Parentheses and comments are skipped."""
        gap = _COMMENT.sub(lambda m: " " * len(m.group()), self.code[lo:hi])
        inner = [i for i, ch in enumerate(gap) if ch not in _TRIVIA]
        if not inner:
            return None
        first, last = inner[0], inner[-1] + 1
        squeezed = "".join(ch for ch in gap[first:last] if ch not in _TRIVIA)
        return lo + first, lo + last, squeezed

    def operator_token(self, left: ast.AST, right: ast.AST, op: str) -> tuple[int, int] | None:
        """Span of operator ``op`` between nodes ``left`` and ``right``, if it is really there."""
        token = self.token_between(self.span(left)[1], self.span(right)[0])
        if token is None or token[2] != op.replace(" ", ""):
            return None
        return token[0], token[1]

    def add(self, operator: str, start: int, end: int, after: str) -> None:
        before = self.code[start:end]
        if before == after:
            return
        # Report the line of the first non-blank replaced character (whole-line removals start
        # with indentation); an all-blank or empty span reports the line it starts on.
        stripped = before.lstrip()
        anchor = start + len(before) - len(stripped) if stripped else start
        line = bisect_right(self.line_starts, anchor)
        self.sites.append(MutationSite(start, end, operator, after, line, before))


Rule = Callable[..., None]  # (source, node, parent): appends sites to source.sites

# --- shared helpers --------------------------------------------------------------------------

_OP_TEXT: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.And: "and",
    ast.Or: "or",
}
_ADDITIVE_OR_TIGHTER = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ATOMS = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)
_COLLECTION_LITERALS = (
    ast.JoinedStr,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
# Calls whose result is typically an index, so ``a[len(b)]`` -> ``a[len(b) - 1]`` is plausible.
_INDEX_CALLS = frozenset({"len", "int", "abs", "min", "max", "sum", "ord", "round"})
_INDEX_METHODS = frozenset({"index", "find", "rfind", "count"})
# Methods whose call statement only changes state: removing one is a realistic "missed step".
_MUTATING_METHODS = frozenset(
    {
        "append",
        "appendleft",
        "extend",
        "insert",
        "add",
        "update",
        "pop",
        "popleft",
        "remove",
        "discard",
        "sort",
        "reverse",
        "clear",
    }
)


def _is_sequence_literal(node: ast.AST) -> bool:
    """String / container literals: arithmetic swaps on them only make type errors."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    return isinstance(node, _COLLECTION_LITERALS)


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _is_constant_offset(node: ast.AST) -> bool:
    """``c``, ``-c``, ``x + c``, ``x - c``: off_by_one already covers these (no ``x - 1 - 1``)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.operand, ast.Constant)
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, (ast.Add, ast.Sub))
        and (_is_int(node.left) or _is_int(node.right))
    )


def _is_index_like(node: ast.AST) -> bool:
    """Expressions that plausibly hold an integer index (names, arithmetic, ``len(...)``)."""
    if _is_constant_offset(node):
        return False
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        return True
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _ADDITIVE_OR_TIGHTER)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in _INDEX_CALLS
        return isinstance(func, ast.Attribute) and func.attr in _INDEX_METHODS
    return False


def _shifted(src: _Source, node: ast.AST, delta: int) -> str:
    """``node`` +/- 1 as text, parenthesised when its precedence is below ``+``."""
    text = src.text(node)
    tight = isinstance(node, _ATOMS) or (
        isinstance(node, ast.BinOp) and isinstance(node.op, _ADDITIVE_OR_TIGHTER)
    )
    if not tight:
        text = f"({text})"
    return f"{text} {'+' if delta > 0 else '-'} 1"


def _format_like(literal: str, value: int) -> str:
    """``value`` written in the same base as ``literal`` (``0x1f`` stays hex)."""
    prefix = literal[:2].lower()
    spec = {"0x": "x", "0o": "o", "0b": "b"}.get(prefix)
    return str(value) if spec is None else literal[:2] + format(value, spec)


# --- operators -------------------------------------------------------------------------------

_COMPARE_SWAPS: dict[type[ast.AST], tuple[str, ...]] = {
    ast.Lt: ("<=", ">"),
    ast.LtE: ("<", ">="),
    ast.Gt: (">=", "<"),
    ast.GtE: (">", "<="),
    ast.Eq: ("!=",),
    ast.NotEq: ("==",),
    ast.In: ("not in",),
    ast.NotIn: ("in",),
    ast.Is: ("is not",),
    ast.IsNot: ("is",),
}


def _compare_swap(src: _Source, node: ast.Compare, parent: ast.AST | None) -> None:
    """``<``<->``<=``, ``<``<->``>``, ``==``<->``!=``, ``in``<->``not in``, ``is``<->``is not``."""
    operands = [node.left, *node.comparators]
    for op, (left, right) in zip(node.ops, pairwise(operands), strict=True):
        token = src.operator_token(left, right, _OP_TEXT[type(op)])
        if token is not None:
            for new in _COMPARE_SWAPS[type(op)]:
                src.add("compare_swap", *token, new)


_ARITH_SWAPS: dict[type[ast.AST], tuple[str, ...]] = {
    ast.Add: ("-",),
    ast.Sub: ("+",),
    ast.Mult: ("/",),
    ast.Div: ("*", "//"),
    ast.FloorDiv: ("/", "%"),
    ast.Mod: ("//",),
    ast.Pow: ("*",),
    ast.LShift: (">>",),
    ast.RShift: ("<<",),
    ast.BitAnd: ("|",),
    ast.BitOr: ("&",),
    ast.BitXor: ("&",),
}


def _arith_swap(src: _Source, node: ast.BinOp, parent: ast.AST | None) -> None:
    """``+``<->``-``, ``*``<->``/``, ``/``<->``//``, ``//``->``%``, ``%``->``//``, ``**``->``*``...

    Skipped on string / container operands (``"a" + s``, ``[0] * n``, ``"%d" % x``): there a
    swap is a type error, not a realistic logic fault.
    """
    swaps = _ARITH_SWAPS.get(type(node.op))
    if not swaps or _is_sequence_literal(node.left) or _is_sequence_literal(node.right):
        return
    token = src.operator_token(node.left, node.right, _OP_TEXT[type(node.op)])
    if token is not None:
        for new in swaps:
            src.add("arith_swap", *token, new)


_AUG_SWAPS: dict[type[ast.AST], str] = {
    ast.Add: "-=",
    ast.Sub: "+=",
    ast.Mult: "/=",
    ast.Div: "*=",
    ast.FloorDiv: "/=",
}


def _aug_swap(src: _Source, node: ast.AugAssign, parent: ast.AST | None) -> None:
    """``+=``<->``-=``, ``*=``<->``/=``, ``//=``->``/=`` (not on ``s += "x"`` / ``xs += [x]``)."""
    new = _AUG_SWAPS.get(type(node.op))
    if new is None or _is_sequence_literal(node.value):
        return
    token = src.operator_token(node.target, node.value, _OP_TEXT[type(node.op)] + "=")
    if token is not None:
        src.add("aug_swap", *token, new)


def _off_by_one(src: _Source, node: ast.Constant, parent: ast.AST | None) -> None:
    """Integer literal ``n`` -> ``n + 1`` / ``n - 1`` (bools are not ints here; no negatives)."""
    value = node.value
    if type(value) is not int:
        return
    if isinstance(parent, ast.Return) and value in (0, 1):
        return  # return_value owns ``return 0`` / ``return 1``
    start, end = src.span(node)
    literal = src.code[start:end]
    try:
        if int(literal, 0) != value:
            return
    except ValueError:
        return
    src.add("off_by_one", start, end, _format_like(literal, value + 1))
    divisor = (
        isinstance(parent, ast.BinOp)
        and parent.right is node
        and isinstance(parent.op, (ast.Div, ast.FloorDiv, ast.Mod))
    )
    if value > 1 or (value == 1 and not divisor):  # a zero divisor is a crash, not a fault
        src.add("off_by_one", start, end, _format_like(literal, value - 1))


def _index_shift(src: _Source, node: ast.Subscript, parent: ast.AST | None) -> None:
    """``a[i]`` -> ``a[i - 1]`` / ``a[i + 1]``; also slice bounds ``a[:n]`` -> ``a[:n + 1]``.

    Literal indexes (``a[0]``, ``a[i - 1]``) are left to off_by_one.
    """
    index = node.slice
    targets = [index.lower, index.upper] if isinstance(index, ast.Slice) else [index]
    for target in targets:
        if target is not None and _is_index_like(target):
            start, end = src.span(target)
            for delta in (-1, 1):
                src.add("index_shift", start, end, _shifted(src, target, delta))


def _boundary(src: _Source, node: ast.Call, parent: ast.AST | None) -> None:
    """``range(n)`` -> ``range(n + 1)`` / ``range(n - 1)``; ``range(a, b)`` -> ``range(a + 1, b)``,
    ``range(a, b + 1)``, ``range(a, b - 1)``. Literal bounds are left to off_by_one."""
    func, args = node.func, node.args
    if not (isinstance(func, ast.Name) and func.id == "range") or node.keywords:
        return
    if not 1 <= len(args) <= 3 or any(isinstance(a, ast.Starred) for a in args):
        return
    start_arg, stop_arg = (None, args[0]) if len(args) == 1 else (args[0], args[1])
    if start_arg is not None and not _is_constant_offset(start_arg):
        start, end = src.span(start_arg)
        src.add("boundary", start, end, _shifted(src, start_arg, 1))
    if not _is_constant_offset(stop_arg):
        start, end = src.span(stop_arg)
        for delta in (1, -1):
            src.add("boundary", start, end, _shifted(src, stop_arg, delta))


def _bool_operands(src: _Source, node: ast.BoolOp) -> list[tuple[int, int, int, int]] | None:
    """Per operand of ``a and (b) and c``: (outer start, outer end, token start, token end),
    where the outer span includes the operand's own parentheses and the token is the ``and`` /
    ``or`` after it (the last operand's token is empty, at the node's end)."""
    word = _OP_TEXT[type(node.op)]
    node_start, node_end = src.span(node)
    values = node.values
    tokens = []
    for left, right in pairwise(values):
        token = src.operator_token(left, right, word)
        if token is None:
            return None
        tokens.append(token)
    tokens.append((node_end, node_end))
    code = src.code
    operands = []
    lo = node_start
    for value, (tok_start, tok_end) in zip(values, tokens, strict=True):
        start, end = src.span(value)
        outer_start = start
        for i in range(start - 1, lo - 1, -1):  # walk back over this operand's "(" only
            if code[i] == "(":
                outer_start = i
            elif code[i] not in " \t\f\r\n\\":
                break
        outer_end = end
        for i in range(end, tok_start):  # and forward over its ")"
            if code[i] == ")":
                outer_end = i + 1
            elif code[i] not in " \t\f\r\n\\":
                break
        operands.append((outer_start, outer_end, tok_start, tok_end))
        lo = tok_end
    return operands


def _drop_condition(src: _Source, node: ast.BoolOp, parent: ast.AST | None) -> None:
    """Drop one operand of an ``and`` / ``or`` chain: ``a and b and c`` -> ``a and c``."""
    operands = _bool_operands(src, node)
    if operands is None:
        return
    for i in range(len(operands)):
        if i == 0:  # "a and " up to where the next operand starts
            start, end = operands[0][0], operands[1][0]
        else:  # " and b" from the end of the previous operand
            start, end = operands[i - 1][1], operands[i][1]
        src.add("drop_condition", start, end, "")


def _logic_swap(src: _Source, node: ast.BoolOp, parent: ast.AST | None) -> None:
    """One ``and`` -> ``or`` (or back) in a chain."""
    operands = _bool_operands(src, node)
    if operands is None:
        return
    new = "or" if isinstance(node.op, ast.And) else "and"
    for _, _, tok_start, tok_end in operands[:-1]:
        src.add("logic_swap", tok_start, tok_end, new)


_LOOSE_CONDITIONS = (ast.BoolOp, ast.IfExp, ast.NamedExpr, ast.Lambda)


def _negate_condition(src: _Source, node: ast.AST, parent: ast.AST | None) -> None:
    """``if c:`` -> ``if not c:`` (also ``while``, ``x if c else y`` and comprehension ``if``);
    ``not`` conditions are left to remove_not, constant ones (``while True``) are skipped."""
    tests = node.ifs if isinstance(node, ast.comprehension) else [node.test]  # type: ignore[attr-defined]
    for test in tests:
        if isinstance(test, ast.Constant) or (
            isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        ):
            continue
        text = src.text(test)
        negated = f"not ({text})" if isinstance(test, _LOOSE_CONDITIONS) else f"not {text}"
        src.add("negate_condition", *src.span(test), negated)


def _remove_not(src: _Source, node: ast.UnaryOp, parent: ast.AST | None) -> None:
    """``not x`` -> ``x`` (the ``not`` and the spaces after it go)."""
    if not isinstance(node.op, ast.Not):
        return
    start = src.span(node)[0]
    token = src.token_between(start, src.span(node.operand)[0])
    if token is None or token[2] != "not":
        return
    end = token[1]
    while end < len(src.code) and src.code[end] in " \t":
        end += 1
    src.add("remove_not", token[0], end, "")


# Swapping the arguments of these changes nothing (or only output formatting).
_SYMMETRIC_CALLS = frozenset({"max", "min", "print"})


def _swap_args(src: _Source, node: ast.Call, parent: ast.AST | None) -> None:
    """Swap two adjacent positional arguments ``f(a, b)`` -> ``f(b, a)`` when they differ
    (as trees: ``f(a, (a))`` has nothing to swap)."""
    func, args = node.func, node.args
    if isinstance(func, ast.Name) and func.id in _SYMMETRIC_CALLS:
        return
    if any(isinstance(a, ast.Starred) for a in args):
        return
    for left, right in pairwise(args):
        if ast.dump(left) == ast.dump(right):
            continue
        left_text, right_text = src.text(left), src.text(right)
        (start, left_end), (right_start, end) = src.span(left), src.span(right)
        middle = src.code[left_end:right_start]
        src.add("swap_args", start, end, right_text + middle + left_text)


def _minmax_swap(src: _Source, node: ast.Call, parent: ast.AST | None) -> None:
    """``max(...)`` <-> ``min(...)``."""
    func = node.func
    if isinstance(func, ast.Name) and func.id in ("max", "min"):
        src.add("minmax_swap", *src.span(func), "min" if func.id == "max" else "max")


_BOOL_TEXT = {True: "True", False: "False"}


def _bool_swap(src: _Source, node: ast.Constant, parent: ast.AST | None) -> None:
    """``True`` <-> ``False`` (outside ``return``, which return_value owns)."""
    if type(node.value) is bool and not isinstance(parent, ast.Return):
        start, end = src.span(node)
        if src.code[start:end] == _BOOL_TEXT[node.value]:
            src.add("bool_swap", start, end, _BOOL_TEXT[not node.value])


_RETURN_SWAPS: dict[str, str] = {"True": "False", "False": "True", "0": "1", "1": "0"}


def _return_value(src: _Source, node: ast.Return, parent: ast.AST | None) -> None:
    """``return True`` <-> ``return False``, ``return 0`` <-> ``return 1``."""
    value = node.value
    if isinstance(value, ast.Constant) and type(value.value) in (bool, int):
        start, end = src.span(value)
        new = _RETURN_SWAPS.get(src.code[start:end])
        if new is not None:
            src.add("return_value", start, end, new)


def _is_guard(stmt: ast.stmt) -> bool:
    """``if c: continue`` / ``break`` / ``return ...`` / ``raise ...`` with no ``else``."""
    return (
        isinstance(stmt, ast.If)
        and not stmt.orelse
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], (ast.Continue, ast.Break, ast.Return, ast.Raise))
    )


def _is_removable(stmt: ast.stmt, owner: ast.AST) -> bool:
    """Statements whose absence is a realistic fault: guards, ``x += 1``, ``xs.append(x)``,
    ``break`` / ``continue`` (unless they are a whole guard's body: the guard covers that)."""
    if _is_guard(stmt) or isinstance(stmt, ast.AugAssign):
        return True
    if isinstance(stmt, ast.Expr):
        call = stmt.value
        return (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _MUTATING_METHODS
        )
    if isinstance(stmt, (ast.Break, ast.Continue)):
        return not _is_guard(owner)  # type: ignore[arg-type]
    return False


def _remove_statement(src: _Source, node: ast.AST, parent: ast.AST | None) -> None:
    """Delete one statement: its whole line(s) when it has them to itself, else ``pass``
    in its place (the only statement of a block, or one of ``a; b``)."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(node, field, None)
        if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
            continue
        for stmt in block:
            if not _is_removable(stmt, node):
                continue
            start, end = src.span(stmt)
            line_start = src.line_starts[stmt.lineno - 1]
            line_end = src.line_end(stmt.end_lineno)  # type: ignore[arg-type]
            alone_on_lines = not src.code[line_start:start].strip() and _LINE_TAIL.fullmatch(
                src.code[end:line_end]
            )
            if len(block) > 1 and alone_on_lines:
                src.add("remove_statement", line_start, line_end, "")
            else:
                src.add("remove_statement", start, end, "pass")


_RULES: dict[type[ast.AST], tuple[Rule, ...]] = {
    ast.Compare: (_compare_swap,),
    ast.BinOp: (_arith_swap,),
    ast.AugAssign: (_aug_swap,),
    ast.Constant: (_off_by_one, _bool_swap),
    ast.Subscript: (_index_shift,),
    ast.Call: (_boundary, _swap_args, _minmax_swap),
    ast.BoolOp: (_drop_condition, _logic_swap),
    ast.If: (_negate_condition,),
    ast.While: (_negate_condition,),
    ast.IfExp: (_negate_condition,),
    ast.comprehension: (_negate_condition,),
    ast.UnaryOp: (_remove_not,),
    ast.Return: (_return_value,),
}
_BLOCK_OWNERS = (
    ast.Module,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.If,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),  # Python 3.11+
    ast.ExceptHandler,
    ast.match_case,
)
for _owner in _BLOCK_OWNERS:
    _RULES[_owner] = (*_RULES.get(_owner, ()), _remove_statement)
# Operator and context nodes carry no positions and no sites: not worth visiting.
_LEAVES = (ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop)
_SKIPPED_FIELDS = frozenset({"annotation", "returns", "type_params"})  # annotations: not logic


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """Every (node, parent) pair, iteratively (no recursion limit), skipping f-string contents
    and annotations."""
    stack: list[tuple[ast.AST, ast.AST | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        if isinstance(node, ast.JoinedStr):
            continue
        for name, value in ast.iter_fields(node):
            if name in _SKIPPED_FIELDS:
                continue
            if isinstance(value, ast.AST):
                if not isinstance(value, _LEAVES):
                    stack.append((value, node))
            elif isinstance(value, list):
                stack.extend(
                    (item, node)
                    for item in value
                    if isinstance(item, ast.AST) and not isinstance(item, _LEAVES)
                )


def _parse(code: str) -> ast.Module:
    with warnings.catch_warnings():  # e.g. invalid escape sequences in the user's regexes
        warnings.simplefilter("ignore")
        return ast.parse(code)


def _sites(code: str, tree: ast.AST) -> list[MutationSite]:
    src = _Source(code)
    for node, parent in _walk(tree):
        for rule in _RULES.get(type(node), ()):
            rule(src, node, parent)
    return sorted(set(src.sites), key=_site_order)


def mutation_sites(code: str) -> list[MutationSite]:
    """All applicable single mutations of ``code``, in source order ([] if it does not parse).

    A site is not guaranteed to yield a valid, different program: :func:`mutate` checks that.
    """
    try:
        return _sites(code, _parse(code))
    except _PARSE_ERRORS:
        return []


def _normalise(code: str) -> str:
    return " ".join(code.split())


def mutate(code: str, k: int = 3, *, seed: int = 0) -> list[Mutation]:
    """Up to ``k`` distinct single-fault mutants of ``code``, chosen with ``random.Random(seed)``.

    Picks round-robin over the operators (in a seeded random order), preferring lines not yet
    mutated, so the mutants spread over different faults. Every mutant parses and differs from
    the original and from the others as whitespace-normalised text (and every operator changes
    the tree: no mutant is the original reformatted).
    Returns fewer than ``k`` (possibly none) when the code offers too few sites, and ``[]`` when
    it does not parse; never raises for valid code.
    """
    if k <= 0:
        return []
    try:
        tree = _parse(code)
        sites = _sites(code, tree)
    except _PARSE_ERRORS:
        return []
    rng = random.Random(seed)
    rng.shuffle(sites)
    buckets: dict[str, list[MutationSite]] = {}
    for site in sites:
        buckets.setdefault(site.operator, []).append(site)
    operators = sorted(buckets)
    rng.shuffle(operators)

    seen_texts = {_normalise(code)}
    used_lines: set[int] = set()
    mutants: list[Mutation] = []
    while len(mutants) < k and operators:
        # An operator whose sites all sit on already-mutated lines waits while others have fresh
        # lines; once no operator has one, lines may repeat.
        fresh_only = any(s.line not in used_lines for op in operators for s in buckets[op])
        for operator in list(operators):
            if len(mutants) == k:
                break
            bucket = buckets[operator]
            pick = next((i for i, s in enumerate(bucket) if s.line not in used_lines), None)
            if pick is None:
                if fresh_only:
                    continue
                pick = 0
            site = bucket.pop(pick)
            if not bucket:
                operators.remove(operator)
            mutant = _checked(code, site, seen_texts)
            if mutant is not None:
                mutants.append(mutant)
                used_lines.add(site.line)
    return mutants


def _checked(code: str, site: MutationSite, seen_texts: set[str]) -> Mutation | None:
    """The site's mutant if it parses and is new (recording it as seen), else None."""
    mutated = site.apply(code)
    text = _normalise(mutated)
    if text in seen_texts:
        return None
    try:
        _parse(mutated)
    except _PARSE_ERRORS:
        return None
    seen_texts.add(text)
    return Mutation(site.operator, site.line, site.before, site.after, mutated)
