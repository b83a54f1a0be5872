"""TransformersBackend on a tiny random Llama saved to disk (fast), and SmolLM2 (slow)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fgit.backends import load_backend
from fgit.backends.transformers_backend import TransformersBackend, truncate_at_stop
from fgit.generation import Backend, GenerationError, SamplingParams

GREEDY = SamplingParams(n=1, temperature=0, max_new_tokens=12)
WORDS = [
    "alpha",
    "import os",
    "class Foo:",
    "def bar(x, y):",
    "return None",
    "for i in range(10):",
    "while True: pass",
    "print('hello world')",
]
# Eight prompts of different lengths, deliberately not sorted by length.
ORDER = [3, 0, 7, 5, 1, 6, 2, 4]
CONVERSATIONS = [[{"role": "user", "content": " ".join(WORDS[: i + 1])}] for i in ORDER]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fgit.testing import build_tiny_llama, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer("bytelevel")
    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def backend(tiny_folder: Path) -> TransformersBackend:
    return TransformersBackend(tiny_folder, device="cpu", batch_size=8, quiet=True)


@pytest.fixture
def batch_size(backend: TransformersBackend):
    """Lets a test change the batch size; restores it afterwards."""
    original = backend.batch_size
    yield lambda size: setattr(backend, "batch_size", size)
    backend.batch_size = original


def test_is_a_backend_and_describes_itself(backend: TransformersBackend, tiny_folder: Path):
    import torch
    import transformers

    from fgit.precision import choose_dtype

    assert isinstance(backend, Backend)
    assert backend.describe() == {
        "kind": "transformers",
        "model": str(tiny_folder),
        "dtype": "float32",
        "dtype_reason": choose_dtype("cpu").reason,  # auto; conftest keeps it float32
        "cache_implementation": "dynamic",
        "decode_loop": "drop-finished",
        "device": "cpu",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }


def test_prompts_use_the_chat_template(backend: TransformersBackend):
    prompt = backend.render([{"role": "user", "content": "hi"}])
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_prompt_lengths_differ(backend: TransformersBackend):
    lengths = [len(ids) for ids in backend._encode(CONVERSATIONS)]
    assert len(set(lengths)) == len(lengths)
    assert lengths != sorted(lengths)


def test_greedy_output_does_not_depend_on_batch_size(backend: TransformersBackend, batch_size):
    batch_size(1)
    alone = backend.generate(CONVERSATIONS, GREEDY)
    batch_size(8)
    together = backend.generate(CONVERSATIONS, GREEDY)
    batch_size(3)
    mixed = backend.generate(CONVERSATIONS, GREEDY)
    assert alone == together == mixed
    assert all(len(row) == 1 and row[0] for row in alone)
    # The model must tell the prompts apart, or equality above would prove little.
    assert len({row[0] for row in alone}) >= 6


def test_position_ids_follow_the_attention_mask(backend: TransformersBackend):
    """With left padding, each prompt's first real token gets position 0 (transformers derives
    position_ids from the mask in generate; checked here so an upgrade can't silently drop it)."""
    seen: list[dict] = []

    def spy(module, args, kwargs):
        if not seen:
            seen.append(kwargs)

    hook = backend.model.model.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        backend.generate(CONVERSATIONS, GREEDY)
    finally:
        hook.remove()
    mask, positions = seen[0]["attention_mask"], seen[0]["position_ids"]
    assert (mask[:, 0] == 0).any(), "expected left padding in the first batch"
    assert (mask[:, -1] == 1).all()
    expected = (mask.long().cumsum(-1) - 1).clamp(min=0)
    assert positions.expand_as(mask)[mask.bool()].tolist() == expected[mask.bool()].tolist()


def test_order_is_restored_after_length_sorting(backend: TransformersBackend):
    forward = backend.generate(CONVERSATIONS, GREEDY)
    backward = backend.generate(CONVERSATIONS[::-1], GREEDY)
    assert backward == forward[::-1]
    one = backend.generate([CONVERSATIONS[2]], GREEDY)
    assert one == [forward[2]]


def test_sampling_returns_n_per_prompt_and_is_seeded(backend: TransformersBackend, batch_size):
    batch_size(4)  # 5 prompts x 3 samples: several batches, n not dividing the batch size
    conversations = CONVERSATIONS[:5]
    params = SamplingParams(n=3, temperature=0.8, top_p=0.95, max_new_tokens=8, seed=7)
    first = backend.generate(conversations, params)
    again = backend.generate(conversations, params)
    other = backend.generate(conversations, dataclasses.replace(params, seed=8))
    assert [len(row) for row in first] == [3] * len(conversations)
    assert all(isinstance(text, str) for row in first for text in row)
    assert first == again
    assert first != other
    # Samples of one prompt differ from each other (not n copies of one row).
    assert any(len(set(row)) > 1 for row in first)


def test_per_prompt_seeds_make_samples_independent_of_the_other_prompts(
    backend: TransformersBackend, batch_size
):
    batch_size(4)
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=8, seeds=(11, 12, 13))
    together = backend.generate(CONVERSATIONS[:3], params)
    # Each prompt alone, or among others in another order, draws the same samples.
    alone = [
        backend.generate([c], dataclasses.replace(params, seeds=(seed,)))[0]
        for c, seed in zip(CONVERSATIONS[:3], (11, 12, 13), strict=True)
    ]
    assert together == alone
    shuffled = backend.generate(
        CONVERSATIONS[2::-1], dataclasses.replace(params, seeds=(13, 12, 11))
    )
    assert shuffled == together[::-1]
    assert backend.generate(CONVERSATIONS[:1], dataclasses.replace(params, seeds=(99,))) != [
        together[0]
    ]
    with pytest.raises(GenerationError, match="2 seeds for 3 prompts"):
        backend.generate(CONVERSATIONS[:3], dataclasses.replace(params, seeds=(1, 2)))


def test_sampled_rows_of_many_prompts_share_a_batch_whatever_its_size(
    backend: TransformersBackend, batch_size
):
    # Each sample draws from a generator of its own (fgit.backends.decoding): 4 prompts x 2
    # samples fill one batch of 8, and batches of 3 give the same samples.
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=6, seeds=(5, 6, 7, 8))
    heights: list[int] = []
    hook = backend.model.model.register_forward_pre_hook(
        lambda module, args, kwargs: heights.append(kwargs["input_ids"].shape[0]),
        with_kwargs=True,
    )
    batch_size(8)
    try:
        wide = backend.generate(CONVERSATIONS[:4], params)
    finally:
        hook.remove()
    assert heights[0] == 8
    batch_size(3)
    assert backend.generate(CONVERSATIONS[:4], params) == wide


def test_n_may_exceed_the_batch_size(backend: TransformersBackend, batch_size):
    batch_size(2)
    params = SamplingParams(n=5, temperature=1.0, max_new_tokens=4, seed=0)
    out = backend.generate(CONVERSATIONS[:2], params)
    assert [len(row) for row in out] == [5, 5]


def test_stop_strings_truncate(backend: TransformersBackend):
    full = backend.generate(CONVERSATIONS, GREEDY)
    text = next(row[0] for row in full if len(row[0]) >= 6)
    index = full.index([text])
    stop = text[3:5]
    expected = truncate_at_stop(text, [stop])
    assert len(expected) <= 3
    params = SamplingParams(n=1, temperature=0, max_new_tokens=12, stop=(stop, "never seen"))
    got = backend.generate(CONVERSATIONS, params)
    assert got[index] == [expected]
    assert all(stop not in row[0] for row in got)


def test_stop_strings_ignore_the_prompt(backend: TransformersBackend):
    """A stop string spanning the prompt's last characters and the completion's first ones must
    not fire (the prompt ends with "assistant\\n"; cf. a "\\ndef" stop for code)."""
    full = backend.generate(CONVERSATIONS, GREEDY)
    for (text,), conversation in zip(full, CONVERSATIONS, strict=True):
        stop = "\n" + text[:2]
        if stop in text:
            continue
        params = SamplingParams(n=1, temperature=0, max_new_tokens=12, stop=(stop,))
        assert backend.generate([conversation], params) == [[text]]
        return
    pytest.fail("no completion suitable for this test")


def test_truncate_at_stop_takes_the_earliest():
    assert truncate_at_stop("a\ndef b\nclass c", ["\nclass", "\ndef"]) == "a"
    assert truncate_at_stop("abc", []) == "abc"
    assert truncate_at_stop("abc", [""]) == "abc"


def test_greedy_with_several_samples_is_refused(backend: TransformersBackend):
    with pytest.raises(GenerationError, match="n=3"):
        backend.generate(CONVERSATIONS, SamplingParams(n=3, temperature=0))


def test_empty_input(backend: TransformersBackend):
    assert backend.generate([], GREEDY) == []


def test_completion_continues_prompts_in_the_models_format(backend: TransformersBackend):
    conversation = CONVERSATIONS[0]
    prompt = backend.prompt_formatter.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=False
    )
    assert prompt == backend.render(conversation)
    # A rendered conversation, continued as text, is the same as the conversation generated.
    assert backend.complete([prompt], GREEDY) == backend.generate([conversation], GREEDY)
    assert backend.count_tokens(prompt) == len(backend._encode([conversation])[0])
    assert backend.complete([], GREEDY) == []


def test_without_chat_template_messages_are_plain_text(tiny_folder: Path):
    plain = TransformersBackend(tiny_folder, device="cpu", quiet=True)
    plain.tokenizer.chat_template = None
    conversation = [
        {"role": "system", "content": "You write code."},
        {"role": "user", "content": "def f():"},
    ]
    assert plain.render(conversation) == "You write code.\n\ndef f():"
    out = plain.generate([conversation], GREEDY)
    assert len(out) == 1 and isinstance(out[0][0], str)


def test_from_model_wraps_a_loaded_model(backend: TransformersBackend):
    wrapped = TransformersBackend.from_model(
        backend.model, backend.tokenizer, name="mine", quiet=True
    )
    assert wrapped.describe()["model"] == "mine"
    assert wrapped.generate(CONVERSATIONS[:2], GREEDY) == backend.generate(
        CONVERSATIONS[:2], GREEDY
    )


def test_load_backend_hf(tiny_folder: Path):
    for spec in (f"hf:{tiny_folder}", str(tiny_folder)):
        loaded = load_backend(spec, device="cpu", quiet=True)
        assert isinstance(loaded, TransformersBackend)
        assert loaded.describe()["model"] == str(tiny_folder)


def test_load_backend_builds_with_the_settings(tiny_folder: Path):
    loaded = load_backend(
        f"hf:{tiny_folder}",
        device="cpu",
        batch_size=3,
        cache_implementation="static",
        drop_finished_rows=False,
        max_concurrency=2,  # a server's setting: not for this backend
        quiet=True,
    )
    assert isinstance(loaded, TransformersBackend)
    assert (loaded.batch_size, loaded.drop_finished_rows, loaded.quiet) == (3, False, True)
    assert loaded.describe()["cache_implementation"] == "static"
    assert loaded.describe()["decode_loop"] == "generate"  # a static cache keeps generate
    assert loaded._generation_config(GREEDY).cache_implementation == "static"


def test_load_backend_errors():
    with pytest.raises(GenerationError, match="hf, openai, vllm"):
        load_backend("ollama:llama3")
    with pytest.raises(GenerationError, match="openai:MODEL@BASE_URL"):
        load_backend("openai:no-url")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(GenerationError, match="vllm is not installed"):
            load_backend("vllm:smollm2-135m-instruct")


@pytest.mark.slow
def test_smollm2_greedy() -> None:
    backend = TransformersBackend("smollm2-135m-instruct", quiet=True)
    conversations = [
        [{"role": "user", "content": "Write a Python function that adds two numbers."}],
        [{"role": "user", "content": "What is 2+2?"}],
    ]
    out = backend.generate(conversations, SamplingParams(temperature=0, max_new_tokens=24))
    assert len(out) == 2
    assert all(len(row) == 1 and isinstance(row[0], str) and row[0].strip() for row in out)
