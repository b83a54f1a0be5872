"""The generation interface, under its original name.

It lives in :mod:`fgit.backends.protocol`, beside the backends; this module re-exports it so
that ``from fgit.generation import ...`` keeps working.
"""

from __future__ import annotations

from fgit.backends.protocol import (
    Backend,
    Conversation,
    GenerationError,
    Message,
    SamplingParams,
)

__all__ = ["Backend", "Conversation", "GenerationError", "Message", "SamplingParams"]
