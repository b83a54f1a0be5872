"""``push_to_hub``: the finished run's model folder, card included, to a Hugging Face hub repo.

huggingface_hub's ``HfApi.create_repo`` and ``upload_folder``, as transformers' Trainer does
(``Trainer.init_hf_repo`` creates the repository when training starts, ``push_to_hub`` uploads at
the end): a missing token, a hub that does not answer or a repository the token may not write
fail before hours of training, not after. Every failure is one :class:`HubError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fgit.errors import FgitError

__all__ = ["HubError", "create_repo", "push_folder", "require_token"]


class HubError(FgitError, RuntimeError):
    """The hub cannot be reached, refuses the token, or refuses the push; one line."""


def _api() -> Any:
    from huggingface_hub import HfApi

    return HfApi()  # the endpoint (HF_ENDPOINT) and token (HF_TOKEN, `hf auth login`) as set


# Network failures, by class name along the error's bases: huggingface_hub's HTTP client has been
# requests, httpx and httpx2 across versions (ConnectionError, TransportError), and the standard
# library's (ConnectionError, TimeoutError) may surface too.
_NETWORK_ERRORS = {"ConnectionError", "TransportError", "TimeoutError", "Timeout"}


def _reason(error: BaseException) -> str:
    """Why a hub call failed, in words, for one line."""
    from huggingface_hub import constants

    status = getattr(getattr(error, "response", None), "status_code", None)
    text = str(error).strip().splitlines()
    detail = f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__
    if status in (401, 403):
        return f"the hub refused the token (HTTP {status}): it needs write access to the repo"
    if isinstance(status, int):
        return f"the hub answered HTTP {status} ({detail})"
    if any(cls.__name__ in _NETWORK_ERRORS for cls in type(error).__mro__):
        return f"the hub at {constants.ENDPOINT} is unreachable ({detail})"
    return detail


def require_token() -> None:
    """HubError unless a token is set (HF_TOKEN or a stored login); no network."""
    from huggingface_hub import get_token

    if not get_token():
        raise HubError(
            "push_to_hub needs a Hugging Face token with write access: set HF_TOKEN or run "
            "`hf auth login`"
        )


def create_repo(repo_id: str, *, private: bool) -> str:
    """Create ``repo_id`` (a model repo; an existing one is kept); its URL."""
    require_token()
    try:
        return str(_api().create_repo(repo_id, private=private, exist_ok=True))
    except Exception as error:  # the boundary: any failure of the hub is the user's to fix
        raise HubError(f"push_to_hub: cannot create {repo_id}: {_reason(error)}") from None


def push_folder(folder: Path, repo_id: str, *, private: bool, message: str) -> str:
    """Upload ``folder`` (weights, tokenizer, card) to the root of ``repo_id``; the commit
    URL. Files the repo has that the folder lacks are left alone."""
    create_repo(repo_id, private=private)
    try:
        commit = _api().upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message=message
        )
    except Exception as error:
        raise HubError(
            f"push_to_hub: upload of {folder} to {repo_id} failed: {_reason(error)}"
        ) from None
    return str(getattr(commit, "commit_url", commit))
