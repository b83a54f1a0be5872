"""Every backend class against the protocol: a Backend, and a CompletionBackend exactly when it
declares ``supports_completion``; a missing capability is a one-line GenerationError."""

from __future__ import annotations

import pytest

from fgit.backends import (
    Backend,
    CompletionBackend,
    GenerationError,
    can_complete,
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
