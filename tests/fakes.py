"""Test doubles shared by the test suite. `ScriptedOpenAIServer` is a real OpenAI-protocol HTTP server on
127.0.0.1 whose every reply is scripted, and which records what clients send.

    def handler(request: ChatRequest) -> Reply | str | list[str]:
        return Reply(contents=['{"answer": 42}'])

    with ScriptedOpenAIServer(handler) as server:          # or a list of replies, consumed in order
        settings = LLMSettings(base_urls=[server.base_url], model=server.model)
        ...
        assert server.requests[0].body["n"] == 1
        assert server.max_in_flight <= 4

It is as strict as a real vLLM with a strict chat template, before any script runs: a wrong API key is a 401
(when the server has one), a model it does not serve a 404, two turns of one role in a row (or a first turn
that is not the user's) a 400 "Conversation roles must alternate", and a prompt plus `max_tokens` beyond
`max_model_len` (counted with `prompt_tokens`, its own tokenizer) a 400 "maximum context length". Rejected
requests are recorded too (`requests` is what the server saw) but consume no scripted reply.

A scripted reply can be slow (`delay_s`), an HTTP error (`Reply.error(429, retry_after=2)`), a dropped
connection (`Reply.dropped()`), a body cut off mid-way (`truncate=True`; `reset=True` also resets the
connection), a reply cut at the length limit (`finish_reason="length"`), a completion without choices
(`no_choices=True`) or any raw bytes (`raw_body`). Endpoints: `/v1/models` (with `max_model_len`, like vLLM),
`/v1/chat/completions` (honours `n`, reports usage), `/v1/completions`, `/tokenize` (vLLM's), `/health`, and
`/stats` (counters). `python -m tests.fakes --port P --served-model-name M` runs it as a process that looks
like vLLM's api_server to the launcher (other vLLM flags are ignored).

`outdir_held_elsewhere(out)` is another process holding an OUTDIR's lock, as a second run would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class ChatRequest:
    """One request the server received: its path, parsed JSON body and arrival index."""

    path: str
    body: dict[str, Any]
    index: int

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def n(self) -> int:
        return int(self.body.get("n") or 1)

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")

    @property
    def last_user_message(self) -> str:
        users = [m.get("content", "") for m in self.messages if m.get("role") == "user"]
        return str(users[-1]) if users else ""


@dataclass
class Reply:
    """How to answer one request. `contents` holds one text per choice (cycled when `n` asks for more)."""

    contents: list[str] = field(default_factory=lambda: ["ok"])
    status: int = 200
    error_message: str = ""
    delay_s: float = 0.0
    drop: bool = False
    truncate: bool = False
    raw_body: bytes | None = None
    finish_reason: str = "stop"
    retry_after: float | None = None  # a Retry-After header (seconds) on an error reply
    reset: bool = False  # with `truncate`: reset the connection (RST) instead of closing it
    no_choices: bool = False

    @classmethod
    def error(cls, status: int, message: str = "scripted failure", retry_after: float | None = None) -> Reply:
        return cls(status=status, error_message=message, retry_after=retry_after)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)


Handler = Callable[[ChatRequest], "Reply | str | list[str]"]


def _as_reply(value: Reply | str | list[str]) -> Reply:
    if isinstance(value, Reply):
        return value
    return Reply(contents=[value] if isinstance(value, str) else list(value))


class _QuietHTTPServer(ThreadingHTTPServer):
    """Clients that hang up early (timeouts, the tests' own drops) are expected: no tracebacks for them."""

    request_queue_size = 256  # the default backlog (5) resets connections when a client opens many at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _words(text: Any) -> int:
    return len(str(text or "").split())


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The scripted server's tokenizer: 4 characters a token, 4 tokens per turn and 4 for the template."""
    return 4 + sum(4 + -(-len(str(message.get("content") or "")) // 4) for message in messages)


def role_order_problem(messages: list[dict[str, Any]]) -> str | None:
    """What a strict chat template (Gemma's) says about the turns' order, or None when it accepts them."""
    turns = [str(message.get("role")) for message in messages]
    if turns and turns[0] == "system":
        turns = turns[1:]
    for index, role in enumerate(turns):
        if role != ("user" if index % 2 == 0 else "assistant"):
            return "Conversation roles must alternate user/assistant/user/assistant/..."
    return None


def first_invalid(count: int, good: str, bad: str = "this is not JSON") -> Handler:
    """A handler whose first `count` replies are `bad`, then `good` ones."""
    seen = 0
    lock = threading.Lock()

    def handler(request: ChatRequest) -> Reply:
        nonlocal seen
        with lock:
            seen += 1
            text = bad if seen <= count else good
        return Reply(contents=[text])

    return handler


class ScriptedOpenAIServer:
    """A threaded HTTP server; `script` is a handler callable or a sequence of replies (then `default`)."""

    def __init__(
        self,
        script: Handler | Iterable[Reply | str | list[str]] | None = None,
        *,
        model: str = "scripted-model",
        latency_s: float = 0.0,
        default: Handler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        also_serves: Iterable[str] = (),
        max_model_len: int = 32768,
        reports_max_model_len: bool = True,
        api_key: str | None = None,
        strict_roles: bool = True,
    ) -> None:
        self.model = model
        self.served = (model, *also_serves)
        self.max_model_len = max_model_len
        self.reports_max_model_len = reports_max_model_len
        self.api_key = api_key
        self.strict_roles = strict_roles
        self.tokenize_calls = 0
        self.latency_s = latency_s
        self._handler: Handler | None = script if callable(script) else None
        self._queue: deque[Reply | str | list[str]] = deque() if callable(script) or script is None else deque(
            script)
        self._default: Handler = default or (lambda request: Reply())
        self._lock = threading.Lock()
        self.requests: list[ChatRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.healthy_after = 0.0  # monotonic time before which /health answers 503
        self._httpd = _QuietHTTPServer((host, port), self._request_handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; safe on a server that was never started or already stopped."""
        if self._thread is not None:
            self._httpd.shutdown()  # waits for serve_forever: only when it runs
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------------------------
    @property
    def call_count(self) -> int:
        return len(self.requests)

    def push(self, *replies: Reply | str | list[str]) -> None:
        """Queue more replies (used before the handler or default)."""
        with self._lock:
            self._queue.extend(replies)

    def _next_reply(self, request: ChatRequest) -> Reply:
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        if queued is not None:
            return _as_reply(queued)
        return _as_reply((self._handler or self._default)(request))

    def refusal(self, request: ChatRequest, authorization: str) -> tuple[int, Any] | None:
        """The (status, body) with which a strict vLLM refuses the request before running the model."""
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return 401, {"error": "Unauthorized"}
        model = request.body.get("model")
        if model not in self.served:
            return 404, {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError",
                                   "code": 404}}
        messages = request.messages if request.path.endswith("chat/completions") else [
            {"role": "user", "content": request.body.get("prompt")}]
        problem = role_order_problem(messages) if self.strict_roles and "messages" in request.body else None
        if problem:
            return 400, {"error": {"message": problem, "type": "BadRequestError", "code": 400}}
        prompt = prompt_tokens(messages)
        wanted = int(request.body.get("max_tokens") or request.body.get("max_completion_tokens") or 0)
        if prompt + wanted > self.max_model_len or prompt >= self.max_model_len:
            message = (f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                       f"{prompt + wanted} tokens ({prompt} in the messages, {wanted} in the completion). Please "
                       "reduce the length of the messages or completion.")
            return 400, {"error": {"message": message, "type": "BadRequestError", "code": 400}}
        return None

    def _completion(self, request: ChatRequest, reply: Reply, chat: bool) -> dict[str, Any]:
        texts = [] if reply.no_choices else [
            reply.contents[i % len(reply.contents)] if reply.contents else "" for i in range(request.n)]
        if chat:
            choices = [{"index": i, "message": {"role": "assistant", "content": text},
                        "finish_reason": reply.finish_reason, "logprobs": None} for i, text in enumerate(texts)]
            prompt_tokens = sum(_words(m.get("content")) for m in request.messages)
        else:
            choices = [{"index": i, "text": text, "finish_reason": reply.finish_reason, "logprobs": None}
                       for i, text in enumerate(texts)]
            prompt_tokens = _words(request.body.get("prompt"))
        completion_tokens = sum(_words(text) for text in texts)
        choices = [] if reply.no_choices else choices
        return {"id": f"scripted-{request.index}", "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": request.body.get("model", self.model), "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"requests": len(self.requests), "in_flight": self.in_flight,
                    "max_in_flight": self.max_in_flight, "tokenize_calls": self.tokenize_calls}

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real server
            # TCP_NODELAY, like uvicorn/vLLM. With Nagle on, the body (written after the headers) waits for
            # the client's delayed ACK: ~40 ms added to every reply on a keep-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return True
                self._send_json(401, {"error": "Unauthorized"})
                return False

            def do_GET(self) -> None:
                if self.path == "/health":
                    ready = time.monotonic() >= server.healthy_after
                    self._send_json(200 if ready else 503, {})
                elif self.path == "/v1/models":
                    if self._authorized():
                        length = {"max_model_len": server.max_model_len} if server.reports_max_model_len else {}
                        self._send_json(200, {"object": "list", "data": [
                            {"id": name, "object": "model", "created": 0, "owned_by": "codemill-tests", "root": name,
                             **length} for name in server.served]})
                elif self.path == "/stats":
                    self._send_json(200, server.stats())
                else:
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "code": 404}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/tokenize":
                    self._tokenize(raw)
                    return
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "code": 404}})
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send_json(400, {"error": {"message": "request body is not JSON", "code": 400}})
                    return
                with server._lock:
                    request = ChatRequest(self.path, body, len(server.requests))
                    server.requests.append(request)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    refusal = server.refusal(request, self.headers.get("Authorization", ""))
                    if refusal is not None:
                        self._send_json(*refusal)
                        return
                    reply = server._next_reply(request)
                    if server.latency_s or reply.delay_s:
                        time.sleep(server.latency_s + reply.delay_s)
                    self._answer(request, reply)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _tokenize(self, raw: bytes) -> None:
                if not self._authorized():
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send_json(400, {"error": {"message": "request body is not JSON", "code": 400}})
                    return
                messages = body.get("messages") or [{"role": "user", "content": body.get("prompt")}]
                count = prompt_tokens(messages)
                with server._lock:
                    server.tokenize_calls += 1
                self._send_json(200, {"count": count, "max_model_len": server.max_model_len,
                                      "tokens": list(range(count))})

            def _answer(self, request: ChatRequest, reply: Reply) -> None:
                if reply.drop:
                    self.close_connection = True  # the socket closes with no response at all
                    return
                if reply.status != 200:
                    headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
                    self._send_json(reply.status, {"error": {"message": reply.error_message,
                                                             "type": HTTPStatus(reply.status).phrase,
                                                             "code": reply.status}}, headers)
                    return
                data = reply.raw_body if reply.raw_body is not None else json.dumps(
                    server._completion(request, reply, chat=self.path.endswith("chat/completions"))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if reply.truncate or reply.reset:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    if reply.reset:  # close with RST: the client sees "connection reset by peer" mid-body
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                self.wfile.write(data)

        return RequestHandler


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, accepting (and ignoring) vLLM's api_server flags."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default="scripted-model")
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--latency-s", type=float, default=0.0)
    parser.add_argument("--startup-s", type=float, default=0.0, help="answer /health with 503 this long")
    parser.add_argument("--max-model-len", type=int, default=32768)
    parser.add_argument("--api-key", default=None)
    args, _vllm_flags = parser.parse_known_args(argv)
    server = ScriptedOpenAIServer(model=args.served_model_name or args.model, latency_s=args.latency_s,
                                  host=args.host, port=args.port, max_model_len=args.max_model_len,
                                  api_key=args.api_key)
    server.healthy_after = time.monotonic() + args.startup_s
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"scripted server on http://{args.host}:{server.port}", flush=True)
    stop.wait()
    server.stop()


def settings_for(*servers: ScriptedOpenAIServer, **overrides: Any) -> Any:
    """LLMSettings pointing at scripted servers, with fast retries and no cache unless overridden."""
    from tools.llm import LLMSettings

    values: dict[str, Any] = {"base_urls": [server.base_url for server in servers], "model": servers[0].model,
                              "retry_initial_s": 0.01, "retry_max_s": 0.05, "cache_enabled": False,
                              "timeout_s": 10.0}
    return LLMSettings(**{**values, **overrides})


@contextlib.contextmanager
def outdir_held_elsewhere(out: Path) -> Iterator[int]:
    """Another process holding `out`'s lock (the lock is re-entrant within one process) until the block
    ends; yields its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pathlib import Path; from graphs.outdir_lock import OutdirLock\n"
         f"OutdirLock(Path({str(out)!r})).acquire(); print('locked', flush=True); time.sleep(60)"],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


if __name__ == "__main__":
    main()
