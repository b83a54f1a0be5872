"""Every backend class against the protocol: a Backend, and a CompletionBackend exactly when it
declares ``supports_completion``; a missing capability is a one-line GenerationError. And the
settings ``load_backend`` hands each backend."""

from __future__ import annotations

import inspect
import sys
import types

import pytest

from fgit.backends import (
    SETTINGS,
    Backend,
    CompletionBackend,
    GenerationError,
    can_complete,
    load_backend,
    require_completion,
)
from fgit.backends.openai_backend import OpenAIBackend
from fgit.backends.transformers_backend import TransformersBackend
from fgit.backends.vllm_backend import VLLMBackend


def _transformers(tiny_llama, tokenizer) -> TransformersBackend:
    return TransformersBackend.from_model(tiny_llama, tokenizer, quiet=True)


def _openai(tiny_llama, tokenizer) -> OpenAIBackend:
    return OpenAIBackend("m", "http://127.0.0.1:9/v1", quiet=True)  # never contacted


def _vllm(tiny_llama, tokenizer) -> VLLMBackend:
    # Not constructed: __init__ needs vllm. Methods and declared flags are the class's, which
    # is all the protocol checks look at.
    return VLLMBackend.__new__(VLLMBackend)


@pytest.mark.parametrize(
    ("build", "completes"), [(_transformers, True), (_openai, False), (_vllm, False)]
)
def test_backends_follow_the_protocol(build, completes, tiny_llama, bytelevel_tokenizer):
    backend = build(tiny_llama, bytelevel_tokenizer)
    assert isinstance(backend, Backend)
    assert backend.supports_completion is completes
    assert can_complete(backend) is completes
    # The declaration matches what the backend offers.
    assert isinstance(backend, CompletionBackend) is completes


def test_a_chat_only_backend_refuses_completion_in_one_line():
    backend = OpenAIBackend("m", "http://127.0.0.1:9/v1", quiet=True)
    with pytest.raises(GenerationError) as caught:
        require_completion(backend, "--prompt plain")
    message = str(caught.value)
    assert message.startswith("--prompt plain needs a local model")
    assert "the openai backend only takes conversations" in message
    assert "\n" not in message


def test_a_completion_backend_is_returned_as_it_is(tiny_llama, bytelevel_tokenizer):
    backend = _transformers(tiny_llama, bytelevel_tokenizer)
    assert require_completion(backend, "--prompt plain") is backend


# Every generation setting load_backend knows, with a value that is not the default.
ALL_SETTINGS = {
    "dtype": "bfloat16",
    "device": "cpu",
    "batch_size": 3,
    "cache_implementation": "static",
    "drop_finished_rows": False,
    "max_concurrency": 2,
    "quiet": True,
}


@pytest.mark.parametrize(
    ("scheme", "cls"),
    [("hf", TransformersBackend), ("openai", OpenAIBackend), ("vllm", VLLMBackend)],
)
def test_each_backend_takes_its_settings_as_keywords(scheme, cls):
    keywords = {
        name
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
    }
    assert SETTINGS[scheme] <= keywords


def test_a_server_gets_only_its_settings():
    assert set(ALL_SETTINGS) == set().union(*SETTINGS.values())
    backend = load_backend("openai:m@http://127.0.0.1:9/v1", **ALL_SETTINGS, timeout_s=3.0)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.max_concurrency, backend.quiet, backend.timeout_s) == (2, True, 3.0)


def test_vllm_gets_its_settings_and_engine_arguments(tmp_path, monkeypatch):
    engines: list[dict] = []
    fake = types.ModuleType("vllm")
    fake.LLM = lambda **kwargs: engines.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake)
    backend = load_backend(f"vllm:{tmp_path}", **ALL_SETTINGS, gpu_memory_utilization=0.5)
    assert isinstance(backend, VLLMBackend) and backend.quiet
    assert engines == [{"model": str(tmp_path), "dtype": "bfloat16", "gpu_memory_utilization": 0.5}]


def test_an_unknown_keyword_still_fails():
    with pytest.raises(TypeError, match="nonsense"):
        load_backend("openai:m@http://127.0.0.1:9/v1", nonsense=1)
