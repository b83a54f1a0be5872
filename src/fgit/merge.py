"""The one way settings go on top of settings: `fgit train`'s and `fgit run`'s ``--set``, and a
pipeline's ``training.defaults`` under each run's own keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["deep_merge"]


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top; neither input is changed.

    Mappings on both sides merge key by key, so ``{lora: {r: 8}}`` on top of ``{lora: {r: 16,
    alpha: 64}}`` keeps ``alpha``. Anything else replaces: a scalar, a list, and ``None`` (which
    is how a setting is turned off, ``lora: null``)."""
    merged = dict(base)
    for key, value in overrides.items():
        below = merged.get(key)
        if isinstance(value, Mapping):
            merged[key] = deep_merge(below if isinstance(below, Mapping) else {}, value)
        else:
            merged[key] = value
    return merged
