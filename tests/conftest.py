"""Shared fixtures: tiny real tokenizers/models built in the test session, never a hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests must never reach a model hub: fail fast instead of hanging on a network call.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# dtype auto would pick bf16 on CPUs with AMX/AVX-512 BF16 (fgit.precision); tests assert
# float32 numerics (batch-invariant greedy output), so every machine runs them in float32.
# Subprocesses inherit it. tests/test_precision.py checks the detection itself.
os.environ["FGIT_CPU_BF16"] = "0"

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FGIT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def bytelevel_tokenizer():
    from fgit.testing import build_tiny_tokenizer

    return build_tiny_tokenizer("bytelevel")


@pytest.fixture(scope="session")
def metaspace_tokenizer():
    from fgit.testing import build_tiny_tokenizer

    return build_tiny_tokenizer("metaspace")


@pytest.fixture(scope="session")
def tiny_llama(bytelevel_tokenizer):
    from fgit.testing import build_tiny_llama

    return build_tiny_llama(bytelevel_tokenizer)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
