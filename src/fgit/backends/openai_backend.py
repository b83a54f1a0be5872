"""Generation through any OpenAI-compatible chat completions server (vLLM, SGLang, TGI, ...).

Built on the ``openai`` SDK's ``AsyncOpenAI``: one event loop, at most ``max_concurrency``
conversations in flight (an ``asyncio.Semaphore``), the SDK's retries and timeouts.

Behaviour worth knowing:

* Servers may ignore or cap ``n``. When a response has fewer choices than asked for, further
  requests ask for the rest (at most ``n + 2`` requests per conversation). Each follow-up gets
  its own seed (``seed + completions collected so far``): re-sending the same seed would return
  the same samples again. Per-prompt ``SamplingParams.seeds`` replace ``seed`` conversation by
  conversation. The SDK knows nothing of this; it is fgit's.
* Retries are the SDK's (``openai/_base_client.py``, ``_should_retry`` and
  ``_calculate_retry_timeout``): connection errors, timeouts, HTTP 408, 409, 429 and every 5xx,
  ``max_retries`` times after the first attempt. The wait is the server's ``retry-after-ms`` or
  ``Retry-After`` when it is between 0 and 120 s; otherwise 0.5 s doubling up to 8 s, less up to
  25 % jitter. A ``Retry-After`` above 120 s is not waited for: the request fails at once. Any
  other HTTP error fails at once with the server's message.
* Each error is one ``GenerationError`` line naming the URL; the first one cancels every
  conversation still queued or in flight (their requests and backoff waits are cancelled, not
  waited for).
* The chat completions JSON is read by fgit (``_choice_texts``), not the SDK's models, so a
  reply without a ``choices`` list is an error with the server's message, not an empty result.
* Loopback base URLs bypass any ``http_proxy`` from the environment. The SDK reads its other
  ``OPENAI_*`` variables as usual (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``,
  ``OPENAI_CUSTOM_HEADERS``); ``OPENAI_BASE_URL`` does not apply, the base URL is always given.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import openai

from fgit.backends.protocol import Conversation, GenerationError, SamplingParams, seeds_for
from fgit.progress import progress_bar

__all__ = ["OpenAIBackend"]

_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_MAX_ERROR_CHARS = 300
# The SDK sends the attempt's retry count in this header; it tells how many attempts an error
# took (openai/_base_client.py, _build_headers).
_RETRY_COUNT_HEADER = "x-stainless-retry-count"
_T = TypeVar("_T")


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


def _gave_up(request: Any) -> str:
    """`` (gave up after N attempts)`` when the SDK retried ``request``, else ``""``."""
    try:
        attempts = int(request.headers.get(_RETRY_COUNT_HEADER, 0)) + 1
    except (AttributeError, RuntimeError, ValueError):  # no request attached to the error
        return ""
    return f" (gave up after {attempts} attempts)" if attempts > 1 else ""


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, also from code that already runs an event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1, thread_name_prefix="fgit-openai") as pool:
        return pool.submit(asyncio.run, coroutine).result()


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
        quiet: bool = False,
    ) -> None:
        """``base_url`` ends before ``/chat/completions``, e.g. ``http://localhost:8000/v1``.

        ``api_key`` None sends ``EMPTY`` (what ``load_backend`` does without
        ``$OPENAI_API_KEY``); ``timeout_s`` bounds connecting and each wait for data;
        ``max_retries`` counts retries after the first attempt.
        """
        if max_concurrency < 1:
            raise GenerationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise GenerationError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.quiet = quiet

    def _client(self) -> openai.AsyncOpenAI:
        """A client for one ``generate`` call: its connections belong to that call's loop."""
        # trust_env=False: no proxy from the environment for a server on this machine.
        local = _is_loopback(self.base_url)
        return openai.AsyncOpenAI(
            api_key=self.api_key or "EMPTY",
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            http_client=openai.DefaultAsyncHttpxClient(trust_env=False) if local else None,
        )

    # ----------------------------------------------------------------------- one request

    async def _request(
        self,
        client: openai.AsyncOpenAI,
        conversation: Conversation,
        params: SamplingParams,
        n: int,
        seed: int | None,
    ) -> Any:
        """The decoded JSON of one chat completions call (the SDK retries), or a one-line
        ``GenerationError``."""
        optional: dict[str, Any] = {}
        if seed is not None:
            optional["seed"] = seed
        if params.stop:
            optional["stop"] = list(params.stop)
        try:
            response = await client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=conversation,  # type: ignore[arg-type]
                n=n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_new_tokens,
                **optional,
            )
        except openai.APIStatusError as error:
            message = _error_message(error.response.content)
            raise GenerationError(
                f"HTTP {error.status_code} from {self.url}: {message}"
                f"{_gave_up(error.response.request)}"
            ) from None
        except openai.APITimeoutError as error:  # before APIConnectionError, its base class
            raise GenerationError(
                f"no answer from {self.url} within {self.timeout_s}s{_gave_up(error.request)}"
            ) from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise GenerationError(
                f"cannot reach {self.url}: {_one_line(str(cause) or repr(cause))}"
                f"{_gave_up(error.request)}"
            ) from None
        try:
            return json.loads(response.content)
        except ValueError:
            text = _one_line(response.content.decode("utf-8", errors="replace"), 120)
            raise GenerationError(f"{self.url} returned invalid JSON: {text}") from None

    # ----------------------------------------------------------------------- one conversation

    async def _complete(
        self,
        client: openai.AsyncOpenAI,
        conversation: Conversation,
        params: SamplingParams,
        on_texts: Callable[[int], None],
        first_seed: int | None,
    ) -> list[str]:
        """``params.n`` completions, topping up when the server returns fewer choices."""
        texts: list[str] = []
        for _ in range(params.n + 2):
            missing = params.n - len(texts)
            seed = None if first_seed is None else first_seed + len(texts)
            data = await self._request(client, conversation, params, missing, seed)
            new = _choice_texts(data)[:missing]
            texts.extend(new)
            on_texts(len(new))
            if len(texts) == params.n:
                return texts
        raise GenerationError(
            f"{self.url} returned only {len(texts)} of {params.n} completions "
            f"after {params.n + 2} requests"
        )

    async def _generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        seeds: Sequence[int | None],
        on_texts: Callable[[int], None],
    ) -> list[list[str]]:
        slots = asyncio.Semaphore(self.max_concurrency)
        async with self._client() as client:

            async def one(conversation: Conversation, seed: int | None) -> list[str]:
                async with slots:
                    return await self._complete(client, conversation, params, on_texts, seed)

            tasks = [
                asyncio.ensure_future(one(c, seed))
                for c, seed in zip(conversations, seeds, strict=True)
            ]
            try:
                return list(await asyncio.gather(*tasks))
            finally:
                # After a failure (or Ctrl-C) the rest are cancelled: queued ones never send,
                # in-flight requests and backoff waits stop now.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

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
        with progress_bar(self.quiet, unit="completions") as progress:
            task = progress.add_task(self.model, total=len(conversations) * params.n)

            def advance(count: int) -> None:
                progress.advance(task, count)

            return _run(self._generate(conversations, params, seeds, advance))

    def describe(self) -> dict[str, Any]:
        """Provenance (never the API key)."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url}
