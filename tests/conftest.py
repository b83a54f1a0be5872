"""Shared fixtures: tiny real tokenizers/models built in the test session, never a hub."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
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


@pytest.fixture(scope="session")
def across_processes() -> Callable[[str], list[str]]:
    """Runs a Python snippet in two fresh interpreters with different ``PYTHONHASHSEED``s and
    returns their stdouts: a determinism test compares those, since ``f(x) == f(x)`` in one
    process cannot see an order that depends on string hashing (set iteration, for one)."""

    def run(code: str) -> list[str]:
        outputs = []
        for seed in ("1", "2"):
            done = subprocess.run(
                [sys.executable, "-c", code],
                env={**os.environ, "PYTHONHASHSEED": seed},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr[-2000:]
            outputs.append(done.stdout)
        assert outputs[0], "the snippet printed nothing to compare"
        return outputs

    return run
