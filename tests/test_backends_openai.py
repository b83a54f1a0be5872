"""OpenAIBackend against a real local HTTP server (stdlib) that can misbehave on cue."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fgit.backends import load_backend
from fgit.backends.openai_backend import OpenAIBackend
from fgit.generation import Backend, GenerationError, SamplingParams

PARAMS = SamplingParams(n=1, temperature=0.8, top_p=0.9, max_new_tokens=32, seed=5)
FAST = {"timeout_s": 2.0, "max_retries": 3, "quiet": True}


@dataclass
class Action:
    """What the server does with one request instead of answering normally."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sleep_s: float = 0.0  # before answering normally (to outlast the client's timeout)


@dataclass
class FakeServer:
    """State shared with the handler threads: scripted actions and what was seen."""

    url: str = ""
    plan: list[Action] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # names in lower case
    max_choices: int | None = None  # cap on choices per response, like servers that limit n
    delay_s: float = 0.0  # every request, so that concurrent ones overlap
    active: int = 0
    max_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return len(self.bodies)

    def begin(self, body: dict, headers: dict[str, str]) -> Action | None:
        with self.lock:
            self.bodies.append(body)
            self.headers.append(headers)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            return self.plan.pop(0) if self.plan else None

    def end(self) -> None:
        with self.lock:
            self.active -= 1


def answer(body: dict, cap: int | None) -> dict:
    """Canned completions that name the prompt, seed and sample index."""
    prompt = body["messages"][-1]["content"]
    count = body.get("n", 1) if cap is None else min(body.get("n", 1), cap)
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": f"{prompt}|{body.get('seed')}|{i}"},
        }
        for i in range(count)
    ]
    # Servers may list choices out of order; the client sorts by index.
    return {"object": "chat.completion", "choices": choices[::-1]}


def make_handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        begun = False

        def finish(self) -> None:
            # Before the reply is sent: once the client has it, it may send its next request,
            # which must not find this one still counted as active.
            if self.begun:
                self.begun = False
                state.end()

        def reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            self.finish()
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/v1/chat/completions":
                self.reply(404, {"error": {"message": f"no route {self.path}"}}, {})
                return
            body = json.loads(raw)
            action = state.begin(body, {k.lower(): v for k, v in self.headers.items()})
            self.begun = True
            try:
                time.sleep(state.delay_s)
                if action is not None and (action.status != 200 or action.body is not None):
                    self.reply(action.status, action.body, action.headers)
                    return
                if action is not None:
                    time.sleep(action.sleep_s)
                self.reply(200, answer(body, state.max_choices), {})
            finally:
                self.finish()

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def client(server: FakeServer, **kwargs: Any) -> OpenAIBackend:
    return OpenAIBackend("test-model", server.url, **{**FAST, **kwargs})


def test_order_and_concurrency_limit(server: FakeServer):
    server.delay_s = 0.05
    backend = client(server, max_concurrency=4)
    prompts = [f"p{i}" for i in range(20)]
    params = SamplingParams(n=2, temperature=0.8, max_new_tokens=16, seed=1)
    out = backend.generate([conversation(p) for p in prompts], params)
    assert out == [[f"{p}|1|0", f"{p}|1|1"] for p in prompts]
    assert server.requests == 20
    assert 2 <= server.max_active <= 4


def test_request_body_and_headers(server: FakeServer):
    backend = client(server, api_key="sk-secret")
    params = SamplingParams(n=1, temperature=0.0, top_p=1.0, max_new_tokens=7, stop=("\ndef",))
    assert backend.generate([conversation("hi")], params) == [["hi|None|0"]]
    body = server.bodies[0]
    assert body == {
        "model": "test-model",
        "messages": conversation("hi"),
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 7,
        "stop": ["\ndef"],
    }
    assert server.headers[0]["authorization"] == "Bearer sk-secret"


def test_describe_has_no_api_key(server: FakeServer):
    backend = client(server, api_key="sk-secret")
    assert isinstance(backend, Backend)
    assert backend.describe() == {"kind": "openai", "model": "test-model", "base_url": server.url}
    assert "sk-secret" not in json.dumps(backend.describe())


def test_server_errors_are_retried(server: FakeServer):
    server.plan = [Action(500, {"error": {"message": "boom"}})] * 2
    assert client(server).generate([conversation("x")], PARAMS) == [["x|5|0"]]
    assert server.requests == 3


def test_rate_limit_honours_retry_after(server: FakeServer):
    server.plan = [Action(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})]
    started = time.perf_counter()
    out = client(server).generate([conversation("x")], PARAMS)
    assert out == [["x|5|0"]]
    assert server.requests == 2
    # The SDK's own first backoff is at most 0.5 s; a lower bound, so a loaded machine passes.
    assert time.perf_counter() - started >= 0.9


def test_a_retry_after_beyond_two_minutes_fails_at_once(server: FakeServer):
    """The SDK does not wait more than 120 s for a server; it gives up (fgit's own loop
    waited up to 60 s and retried)."""
    server.plan = [Action(429, {"error": {"message": "slow down"}}, {"Retry-After": "600"})]
    with pytest.raises(GenerationError, match=r"HTTP 429 .*: slow down$"):
        client(server).generate([conversation("x")], PARAMS)
    assert server.requests == 1


def test_timeouts_are_retried(server: FakeServer):
    server.plan = [Action(sleep_s=20)]
    started = time.perf_counter()
    out = client(server, timeout_s=0.2).generate([conversation("x")], PARAMS)
    assert out == [["x|5|0"]]
    assert server.requests == 2
    # retried after 0.2 s, not after the first answer's 20 s (a margin for a loaded machine)
    assert time.perf_counter() - started < 15


def test_timeouts_run_out(server: FakeServer):
    server.plan = [Action(sleep_s=20)] * 2
    with pytest.raises(GenerationError, match=r"no answer from .* within 0.2s .*after 2 attempts"):
        client(server, timeout_s=0.2, max_retries=1).generate([conversation("x")], PARAMS)
    assert server.requests == 2


def test_invalid_json_is_an_error(server: FakeServer):
    server.plan = [Action(200, b"<html>proxy login</html>")]
    with pytest.raises(GenerationError, match="returned invalid JSON: <html>proxy login"):
        client(server).generate([conversation("x")], PARAMS)
    assert server.requests == 1


def test_client_errors_are_not_retried(server: FakeServer):
    server.plan = [Action(400, {"error": {"message": "model 'x' does not exist\nat all"}})]
    with pytest.raises(GenerationError) as caught:
        client(server).generate([conversation("x")], PARAMS)
    message = str(caught.value)
    assert "HTTP 400" in message and "model 'x' does not exist at all" in message
    assert "\n" not in message
    assert server.requests == 1


def test_non_json_error_body(server: FakeServer):
    server.plan = [Action(404, b"<html>not here</html>")]
    with pytest.raises(GenerationError, match=r"HTTP 404.*not here"):
        client(server).generate([conversation("x")], PARAMS)


def test_a_reply_without_choices_is_an_error(server: FakeServer):
    server.plan = [Action(200, {"error": {"message": "context too long"}})]
    with pytest.raises(GenerationError, match="no 'choices' list: context too long"):
        client(server).generate([conversation("x")], PARAMS)
    assert server.requests == 1


def test_retries_run_out(server: FakeServer):
    server.plan = [Action(503, {"error": {"message": "overloaded"}})] * 10
    with pytest.raises(GenerationError, match=r"HTTP 503.*overloaded.*after 3 attempts"):
        client(server, max_retries=2).generate([conversation("x")], PARAMS)
    assert server.requests == 3


def test_missing_choices_are_requested_again(server: FakeServer):
    server.max_choices = 1
    params = SamplingParams(n=3, temperature=0.8, max_new_tokens=8, seed=10)
    out = client(server).generate([conversation("a"), conversation("b")], params)
    # Each follow-up has its own seed, so the samples differ.
    assert out == [["a|10|0", "a|11|0", "a|12|0"], ["b|10|0", "b|11|0", "b|12|0"]]
    assert server.requests == 6
    assert sorted(body["n"] for body in server.bodies) == [1, 1, 2, 2, 3, 3]


def test_per_prompt_seeds_go_to_each_conversations_requests(server: FakeServer):
    server.max_choices = 1
    params = SamplingParams(n=2, temperature=0.8, max_new_tokens=8, seed=10, seeds=(40, 70))
    out = client(server).generate([conversation("a"), conversation("b")], params)
    # seeds replace seed; a follow-up request still moves its conversation's seed on
    assert out == [["a|40|0", "a|41|0"], ["b|70|0", "b|71|0"]]
    with pytest.raises(GenerationError, match="1 seeds for 2 prompts"):
        client(server).generate(
            [conversation("a"), conversation("b")], SamplingParams(n=1, seeds=(1,))
        )


def test_a_server_that_never_gives_enough_fails(server: FakeServer):
    server.max_choices = 0
    with pytest.raises(GenerationError, match="only 0 of 2 completions"):
        client(server).generate([conversation("a")], SamplingParams(n=2, seed=0))


def test_one_failure_fails_the_call(server: FakeServer):
    server.delay_s = 0.02
    server.plan = [Action(401, {"error": {"message": "bad key"}})]
    with pytest.raises(GenerationError, match=r"HTTP 401.*bad key"):
        client(server, max_concurrency=2).generate(
            [conversation(str(i)) for i in range(20)], PARAMS
        )
    # Queued conversations were cancelled rather than sent.
    assert server.requests < 20


def test_one_failure_cancels_a_request_waiting_to_retry(server: FakeServer):
    # Both requests arrive together: one is told to come back in 100 s, the other fails.
    server.plan = [
        Action(429, {"error": {"message": "busy"}}, {"Retry-After": "100"}),
        Action(401, {"error": {"message": "bad key"}}),
    ]
    started = time.perf_counter()
    with pytest.raises(GenerationError, match=r"HTTP (401|429)"):
        client(server, max_concurrency=2).generate([conversation("a"), conversation("b")], PARAMS)
    assert server.requests == 2
    # The 100 s wait was cancelled, not sat out (a margin for a loaded machine).
    assert time.perf_counter() - started < 30


def test_loopback_ignores_proxy_variables(server: FakeServer, monkeypatch: pytest.MonkeyPatch):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert client(server, max_retries=0).generate([conversation("x")], PARAMS) == [["x|5|0"]]


def test_unreachable_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAIBackend("m", f"http://127.0.0.1:{port}/v1", **{**FAST, "max_retries": 1})
    with pytest.raises(GenerationError, match=r"cannot reach .*after 2 attempts"):
        backend.generate([conversation("x")], PARAMS)


def test_empty_input(server: FakeServer):
    assert client(server).generate([], PARAMS) == []
    assert server.requests == 0


def test_load_backend_openai(server: FakeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    backend = load_backend(f"openai:Qwen/Qwen2.5-Coder-32B-Instruct@{server.url}", quiet=True)
    assert isinstance(backend, OpenAIBackend)
    assert backend.describe() == {
        "kind": "openai",
        "model": "Qwen/Qwen2.5-Coder-32B-Instruct",
        "base_url": server.url,
    }
    backend.generate([conversation("x")], PARAMS)
    assert server.headers[0]["authorization"] == "Bearer from-env"
    assert server.bodies[0]["model"] == "Qwen/Qwen2.5-Coder-32B-Instruct"


def test_load_backend_openai_default_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = load_backend(f"openai:m@{server.url}", quiet=True)
    backend.generate([conversation("x")], PARAMS)
    assert server.headers[0]["authorization"] == "Bearer EMPTY"


def test_generate_from_inside_an_event_loop(server: FakeServer):
    """A notebook (or any async caller) already runs a loop; generate still works."""

    async def caller() -> list[list[str]]:
        return client(server).generate([conversation("x")], PARAMS)

    assert asyncio.run(caller()) == [["x|5|0"]]
