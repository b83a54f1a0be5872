"""The one way settings go on top of settings: `fgit train`'s and `fgit run`'s ``--set``, and a
pipeline's ``training.defaults`` under each run's own keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Replace", "deep_merge", "set_override"]


class Replace(dict):  # type: ignore[type-arg]
    """A mapping that replaces what lies below it instead of merging into it. ``--set
    runs=null --set runs.x={...}`` makes one: the later ``--set`` starts ``runs`` afresh, so the
    file's other runs are gone, as the null said."""


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top; neither input is changed.

    Mappings on both sides merge key by key, so ``{lora: {r: 8}}`` on top of ``{lora: {r: 16,
    alpha: 64}}`` keeps ``alpha``. Anything else replaces: a scalar, a list, ``None`` (which
    is how a setting is turned off, ``lora: null``), and a :class:`Replace` mapping (taken whole,
    as a plain dict)."""
    merged = dict(base)
    for key, value in overrides.items():
        below = merged.get(key)
        if isinstance(value, Replace):
            merged[key] = deep_merge({}, value)
        elif isinstance(value, Mapping):
            merged[key] = deep_merge(below if isinstance(below, Mapping) else {}, value)
        else:
            merged[key] = value
    return merged


def set_override(overrides: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Add one ``--set a.b.c=value`` to ``overrides`` (in place); a later one wins.

    A mapping merges into the file's settings below it, unless an earlier ``--set`` gave its key
    (or a key above it) a value that is not a mapping, ``null`` above all: then it starts afresh
    (:class:`Replace`), so ``lora=null`` then ``lora.r=8`` is ``{r: 8}`` without the file's
    ``alpha``."""
    node = overrides
    for part in path[:-1]:
        below = node.get(part)
        if not isinstance(below, dict):
            below = Replace() if part in node else {}
            node[part] = below
        node = below
    leaf = path[-1]
    below = node.get(leaf)
    if isinstance(value, Mapping) and isinstance(below, dict):
        node[leaf] = type(below)(deep_merge(below, value))  # a Replace stays one
    elif isinstance(value, Mapping) and leaf in node:
        node[leaf] = Replace(deep_merge({}, value))
    else:
        node[leaf] = value
