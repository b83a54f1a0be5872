"""Generation backends and ``load_backend``, which picks one from a spec string.

Spec grammar::

    hf:NAME_OR_PATH            local transformers (packaged name, local folder or hub id)
    NAME_OR_PATH               same as hf: (no scheme)
    openai:MODEL@BASE_URL      any OpenAI-compatible server, e.g.
                               openai:Qwen/Qwen2.5-Coder-32B-Instruct@http://localhost:8000/v1
                               (API key from $OPENAI_API_KEY, default "EMPTY")
    vllm:NAME_OR_PATH          vLLM in-process (needs ``pip install vllm``)

A scheme is only recognised before the first ``:``; Windows drive letters (``C:\\models``) and
bare names therefore fall through to ``hf``.

Settings: the generation settings of :data:`SETTINGS` reach the backends that use them and are
left out for the others, so a caller passes what it has without choosing the backend itself
(``batch_size`` means nothing to a server). Any other keyword goes to the backend's constructor
as it is (``api_key``, ``timeout_s``, vLLM engine arguments, ...).
"""

from __future__ import annotations

import os
import re
from typing import Any

from fgit.backends.protocol import (
    Backend,
    CompletionBackend,
    GenerationError,
    can_complete,
    require_completion,
)

__all__ = [
    "SCHEMES",
    "SETTINGS",
    "Backend",
    "CompletionBackend",
    "GenerationError",
    "can_complete",
    "load_backend",
    "require_completion",
]

SCHEMES = ("hf", "openai", "vllm")
VLLM_MISSING = (
    "vllm is not installed; pip install vllm, or serve the model with `vllm serve` "
    "and use openai:MODEL@URL"
)
# Which generation settings each scheme's backend takes (constructor keywords).
SETTINGS: dict[str, frozenset[str]] = {
    "hf": frozenset(
        {"dtype", "device", "batch_size", "cache_implementation", "drop_finished_rows", "quiet"}
    ),
    "openai": frozenset({"max_concurrency", "quiet"}),
    "vllm": frozenset({"dtype", "quiet"}),
}
_ANY_SETTING = frozenset().union(*SETTINGS.values())
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.*)$", re.S)


def _split_spec(spec: str) -> tuple[str, str]:
    """(scheme, rest); a spec without a recognisable scheme is ``hf``."""
    match = _SCHEME.match(spec)
    # One letter before ':' is a Windows drive, not a scheme.
    if not match or len(match.group(1)) == 1:
        return "hf", spec
    return match.group(1).lower(), match.group(2)


def _split_openai(rest: str, spec: str) -> tuple[str, str]:
    """``MODEL@BASE_URL`` → (model, base_url); the URL's own ``@`` (user info) is kept."""
    model, sep, base_url = rest.partition("@")
    if not sep or not model or not base_url:
        raise GenerationError(f"bad backend spec {spec!r}: expected openai:MODEL@BASE_URL")
    if not base_url.startswith(("http://", "https://")):
        raise GenerationError(f"bad backend spec {spec!r}: base URL must start with http(s)://")
    return model, base_url


def _settings_for(scheme: str, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` without the generation settings that ``scheme``'s backend does not use."""
    return {k: v for k, v in settings.items() if k in SETTINGS[scheme] or k not in _ANY_SETTING}


def load_backend(spec: str, **settings: Any) -> Backend:
    """The backend named by ``spec``, built with ``settings`` (both in the module docstring)."""
    scheme, rest = _split_spec(spec.strip())
    if not rest:
        raise GenerationError(f"bad backend spec {spec!r}: nothing after {scheme}:")
    if scheme not in SCHEMES:
        raise GenerationError(
            f"unknown backend scheme {scheme!r} in {spec!r}; valid: {', '.join(SCHEMES)} "
            "(hf:NAME_OR_PATH, openai:MODEL@BASE_URL, vllm:NAME_OR_PATH)"
        )
    kwargs = _settings_for(scheme, settings)
    if scheme == "hf":
        from fgit.backends.transformers_backend import TransformersBackend

        return TransformersBackend(rest, **kwargs)
    if scheme == "openai":
        from fgit.backends.openai_backend import OpenAIBackend

        model, base_url = _split_openai(rest, spec)
        kwargs.setdefault("api_key", os.environ.get("OPENAI_API_KEY", "EMPTY"))
        return OpenAIBackend(model, base_url, **kwargs)
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise GenerationError(VLLM_MISSING) from None
    from fgit.backends.vllm_backend import VLLMBackend

    return VLLMBackend(rest, **kwargs)
