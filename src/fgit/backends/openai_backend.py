"""Generation through any OpenAI-compatible chat completions server (vLLM, SGLang, TGI, ...).

Only the standard library: ``urllib`` for HTTP and a thread pool of ``max_concurrency`` workers
(the requests spend their time waiting on the server, so threads are enough).

Behaviour worth knowing:

* Servers may ignore or cap ``n``. When a response has fewer choices than asked for, further
  requests ask for the rest (at most ``n + 2`` requests per conversation). Each follow-up gets
  its own seed (``seed + completions collected so far``): re-sending the same seed would return
  the same samples again. Per-prompt ``SamplingParams.seeds`` replace ``seed`` conversation by
  conversation.
* Retried (exponential backoff with jitter, ``Retry-After`` honoured): connection errors,
  timeouts, HTTP 408, 429 and 5xx (but 501). Any other HTTP error fails at once with the
  server's message.
* The first failure cancels the queued conversations and raises ``GenerationError``.
* Loopback base URLs bypass any ``http_proxy`` from the environment.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from fgit.backends.protocol import Conversation, GenerationError, SamplingParams, seeds_for
from fgit.progress import progress_bar

__all__ = ["OpenAIBackend"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
MAX_BACKOFF_S = 60.0
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_MAX_ERROR_CHARS = 300


class _Retryable(Exception):
    """A failure worth another attempt; ``wait_s`` is the server's Retry-After, if any."""

    def __init__(self, message: str, wait_s: float | None = None) -> None:
        super().__init__(message)
        self.wait_s = wait_s


def _one_line(text: str, limit: int = _MAX_ERROR_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error_message(body: bytes) -> str:
    """The server's error text: OpenAI style ``{"error": {"message"}}``, FastAPI ``detail``,
    or the raw body."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return _one_line(text) or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            for key in ("message", "detail", "msg"):
                if error.get(key):
                    return _one_line(str(error[key]))
        elif isinstance(error, str):
            return _one_line(error)
    return _one_line(text)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in _LOOPBACK or host.startswith("127.")


def _choice_texts(data: Any) -> list[str]:
    """Completion texts of a chat completions response, in ``index`` order."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        detail = f": {_error_message(json.dumps(data).encode())}" if isinstance(data, dict) else ""
        raise GenerationError(f"server response has no 'choices' list{detail}")
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
    # ``content`` is null when the model produced nothing (or only a tool call).
    return [(c.get("message") or {}).get("content") or "" for c in choices]


class OpenAIBackend:
    """``Backend`` for an OpenAI-compatible ``/chat/completions`` endpoint."""

    # Raw prompts would need the model's chat template, which a server does not hand out.
    supports_completion = False

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 120,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        quiet: bool = False,
    ) -> None:
        """``base_url`` ends before ``/chat/completions``, e.g. ``http://localhost:8000/v1``.

        ``timeout_s`` bounds connecting and each wait for data; ``max_retries`` counts retries
        after the first attempt; the n-th retry waits about ``backoff_s * 2**n`` seconds.
        """
        if max_concurrency < 1:
            raise GenerationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.quiet = quiet
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self.base_url) else []
        self._opener = urllib.request.build_opener(*handlers)

    # ----------------------------------------------------------------------- one request

    def _body(
        self, conversation: Conversation, params: SamplingParams, n: int, seed: int | None
    ) -> bytes:
        """The JSON request for ``n`` completions of ``conversation``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": conversation,
            "n": n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
        }
        if seed is not None:
            body["seed"] = seed
        if params.stop:
            body["stop"] = list(params.stop)
        return json.dumps(body).encode("utf-8")

    def _post(self, body: bytes) -> Any:
        """One HTTP attempt: the decoded JSON, ``_Retryable`` or ``GenerationError``."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            message = f"HTTP {error.code} from {self.url}: {_error_message(error.read())}"
            if error.code in RETRY_STATUSES:
                raise _Retryable(message, _retry_after(error.headers.get("Retry-After"))) from None
            raise GenerationError(message) from None
        except urllib.error.URLError as error:
            raise _Retryable(f"cannot reach {self.url}: {error.reason}") from None
        except TimeoutError:
            raise _Retryable(f"no answer from {self.url} within {self.timeout_s}s") from None
        except (ConnectionError, http.client.HTTPException) as error:
            raise _Retryable(f"connection to {self.url} failed: {error!r}") from None
        try:
            return json.loads(payload)
        except ValueError:
            text = _one_line(payload.decode("utf-8", errors="replace"), 120)
            raise GenerationError(f"{self.url} returned invalid JSON: {text}") from None

    def _delay(self, retry: int, error: _Retryable) -> float:
        if error.wait_s is not None:
            return min(error.wait_s, MAX_BACKOFF_S)
        base = min(self.backoff_s * 2**retry, MAX_BACKOFF_S)
        # Jitter spreads out the retries of many workers that failed together.
        return base * random.uniform(0.5, 1.0)

    def _post_with_retries(self, body: bytes, cancelled: threading.Event) -> Any:
        for retry in range(self.max_retries + 1):
            if cancelled.is_set():
                raise GenerationError("cancelled after another request failed")
            try:
                return self._post(body)
            except _Retryable as error:
                if retry == self.max_retries:
                    raise GenerationError(
                        f"{error} (gave up after {self.max_retries + 1} attempts)"
                    ) from None
                cancelled.wait(self._delay(retry, error))
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------------- one conversation

    def _complete(
        self,
        conversation: Conversation,
        params: SamplingParams,
        cancelled: threading.Event,
        on_texts: Callable[[int], None],
        first_seed: int | None,
    ) -> list[str]:
        """``params.n`` completions, topping up when the server returns fewer choices."""
        texts: list[str] = []
        for _ in range(params.n + 2):
            missing = params.n - len(texts)
            seed = None if first_seed is None else first_seed + len(texts)
            data = self._post_with_retries(
                self._body(conversation, params, missing, seed), cancelled
            )
            new = _choice_texts(data)[:missing]
            texts.extend(new)
            on_texts(len(new))
            if len(texts) == params.n:
                return texts
        raise GenerationError(
            f"{self.url} returned only {len(texts)} of {params.n} completions "
            f"after {params.n + 2} requests"
        )

    # ----------------------------------------------------------------------- Backend

    def generate(
        self, conversations: Sequence[Conversation], params: SamplingParams
    ) -> list[list[str]]:
        """``params.n`` completions per conversation, in input order."""
        if params.n < 1:
            raise GenerationError(f"n must be >= 1, got {params.n}")
        if not conversations:
            return []
        seeds: list[int | None] = list(seeds_for(params, len(conversations)) or [])
        seeds = seeds or [params.seed] * len(conversations)
        cancelled = threading.Event()
        with (
            progress_bar(self.quiet, unit="completions") as progress,
            ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="fgit-openai") as pool,
        ):
            task = progress.add_task(self.model, total=len(conversations) * params.n)

            def advance(count: int) -> None:
                progress.advance(task, count)

            futures: list[Future[list[str]]] = [
                pool.submit(self._complete, c, params, cancelled, advance, seed)
                for c, seed in zip(conversations, seeds, strict=True)
            ]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = next((f for f in futures if f in done and f.exception()), None)
                if failed is not None:
                    raise failed.exception()  # type: ignore[misc]
            except BaseException:
                # A failure or Ctrl-C: drop the queue and wake workers sleeping in a backoff,
                # or leaving the pool would wait for every remaining conversation.
                cancelled.set()
                for future in futures:
                    future.cancel()
                raise
        return [future.result() for future in futures]

    def describe(self) -> dict[str, Any]:
        """Provenance (never the API key)."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url}
