"""Getting one chat-completion request answered: endpoint choice, per-endpoint concurrency, bounded retries.

Each base URL is an `Endpoint` that speaks the OpenAI chat-completions protocol over httpx directly (one
JSON POST, the reply's JSON read as a dict) and an asyncio semaphore that caps its requests in flight.
The `openai` SDK is not on this path: its request transformation and pydantic response models cost more
CPU per request than the whole rest of the client, and vLLM's extra fields need no translation when the
body is sent as is. Every slot of the cap has its own single-connection httpx transport (kept alive between
requests): httpcore's shared pool rescans, and polls the socket of, every connection for each request it
schedules, which at 32 connections cost more CPU than the request itself.
A request first waits for a free slot anywhere (one semaphore sized to the sum of the caps), then takes the
endpoint with the fewest requests in flight; choosing only when a slot is free means a fast server, which
frees slots sooner, gets more work than a slow one. An endpoint that just failed transiently cools down
(backoff that grows with consecutive failures) and is chosen only when no healthy one has room; a retry
chooses again. Only transient failures are retried (connection, timeout, malformed body, 408, 429, 5xx);
any other 4xx ends the call at once as `RequestRejected`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from tools.errors import ConfigError, LLMError
from tools.llm.settings import LLMSettings

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_remote_forbidden = False


def forbid_remote_requests(forbidden: bool = True) -> None:
    """Process-wide switch (tests turn it on): no client may talk to a host other than this machine."""
    global _remote_forbidden
    _remote_forbidden = forbidden


def check_endpoint_allowed(base_url: str, allow_remote: bool) -> None:
    host = urlsplit(base_url).hostname or ""
    if host not in LOCAL_HOSTS and (_remote_forbidden or not allow_remote):
        raise ConfigError(f"remote model requests are disabled (allow_remote is off): {base_url}")


class RequestRejected(LLMError):
    """The server refused the request itself (a 4xx other than 408/429): retrying the same body is futile."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class HTTPFailure(Exception):
    """A non-200 answer: its status and the server's own error message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class MalformedResponse(Exception):
    """A 200 whose body is not a chat completion (cut off or garbled on the way): retried like a dropped
    connection."""


def is_transient(error: BaseException) -> bool:
    """Connection problems, timeouts, malformed bodies, 408, 429 and 5xx: worth another try."""
    if isinstance(error, HTTPFailure):
        return error.status in (408, 429) or error.status >= 500
    return isinstance(error, httpx.TransportError | MalformedResponse)


@dataclass
class Reply:
    """The parts of a completion the client uses."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    endpoint: str


class Endpoint:
    """One OpenAI-compatible server: a keep-alive connection per slot and the semaphore that caps them."""

    def __init__(self, base_url: str, settings: LLMSettings) -> None:
        self.base_url = base_url
        self.capacity = settings.concurrency
        self.in_flight = 0  # reserved by the Transport, released when the request ends
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.failures_in_a_row = 0
        self.cooling_until = 0.0  # time.monotonic() before which other endpoints are preferred
        self._backoff = (settings.retry_initial_s, max(settings.retry_max_s, settings.retry_initial_s))
        self.url = httpx.URL(base_url.rstrip("/") + "/chat/completions")
        self._headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}",
                         "Content-Type": "application/json", "Accept": "application/json"}
        self._timeout = httpx.Timeout(settings.timeout_s).as_dict()
        self._ssl_context = httpx.create_ssl_context()  # shared: loading the CA bundle costs ~50 ms per client
        # One single-connection transport per slot, created on first use and kept alive. A transport rather
        # than an AsyncClient: no cookies, redirects or auth hooks to run on every request.
        self._idle: list[httpx.AsyncHTTPTransport] = []
        self._connections: list[httpx.AsyncHTTPTransport] = []

    def _take_connection(self) -> httpx.AsyncHTTPTransport:
        if self._idle:
            return self._idle.pop()
        connection = httpx.AsyncHTTPTransport(verify=self._ssl_context,
                                              limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self._connections.append(connection)
        return connection

    async def chat(self, body: dict[str, Any]) -> Reply:
        """Send one request on a slot the caller reserved (`in_flight += 1`); the slot is freed here."""
        try:
            async with self.semaphore:  # never waits behind the Transport; the hard cap on this server
                connection = self._take_connection()  # the semaphore bounds the connections to the cap
                try:
                    reply = await self._send(connection, body)
                except Exception as error:
                    if is_transient(error):
                        self.failures_in_a_row += 1
                        initial, cap = self._backoff
                        self.cooling_until = time.monotonic() + min(cap, initial * 2 ** self.failures_in_a_row)
                    raise
                finally:
                    self._idle.append(connection)
                self.failures_in_a_row = 0
                return reply
        finally:
            self.in_flight -= 1

    async def _send(self, connection: httpx.AsyncHTTPTransport, body: dict[str, Any]) -> Reply:
        request = httpx.Request("POST", self.url, headers=self._headers,
                                content=json.dumps(body, ensure_ascii=False).encode(),
                                extensions={"timeout": self._timeout})
        started = time.perf_counter()
        response = await connection.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        latency = time.perf_counter() - started
        if response.status_code != 200:
            raise HTTPFailure(response.status_code, _error_detail(response))
        try:
            completion = json.loads(response.content)
            choices = sorted(completion["choices"], key=lambda choice: choice["index"])
            texts = [choice["message"].get("content") or "" for choice in choices]
            usage = completion.get("usage") or {}
            return Reply(texts=texts, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                         completion_tokens=int(usage.get("completion_tokens") or 0),
                         latency_s=latency, endpoint=self.base_url)
        except (ValueError, LookupError, TypeError, AttributeError) as error:  # JSONDecodeError is a ValueError
            raise MalformedResponse(f"response is not a chat completion: {error!r}") from error

    async def aclose(self) -> None:
        await asyncio.gather(*(connection.aclose() for connection in self._connections))


class Transport:
    """All endpoints of one client; `chat` returns a Reply or raises LLMError naming endpoint and model."""

    def __init__(self, settings: LLMSettings) -> None:
        if not settings.base_urls:
            raise ConfigError("no model endpoint: give --base-url URL (or CODEMILL_BASE_URL), or start one "
                              "with `python run.py serve`")
        for url in settings.base_urls:
            check_endpoint_allowed(url, settings.allow_remote)
        self.settings = settings
        self.endpoints = [Endpoint(url, settings) for url in settings.base_urls]
        self._free_slots = asyncio.Semaphore(sum(endpoint.capacity for endpoint in self.endpoints))
        self._turn = itertools.count()

    def pick(self) -> Endpoint:
        """The endpoint with room and the fewest requests in flight; ties rotate so idle servers share."""
        offset = next(self._turn) % len(self.endpoints)
        rotated = self.endpoints[offset:] + self.endpoints[:offset]
        now = time.monotonic()
        return min((e for e in rotated if e.in_flight < e.capacity),
                   key=lambda endpoint: (endpoint.cooling_until > now, endpoint.in_flight))

    async def _send(self, body: dict[str, Any], tried: list[Endpoint]) -> Reply:
        async with self._free_slots:
            endpoint = self.pick()  # some endpoint has room: the slots taken never exceed the sum of caps
            endpoint.in_flight += 1
            tried.append(endpoint)
            return await endpoint.chat(body)

    async def chat(self, body: dict[str, Any], on_retry: Callable[[], None] | None = None) -> Reply:
        settings = self.settings
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(settings.max_retries + 1),
            # initial * 2**attempt up to the cap, plus up to `initial` of jitter so retries do not align
            wait=wait_exponential(multiplier=settings.retry_initial_s, max=settings.retry_max_s)
            + wait_random(0, settings.retry_initial_s),
            before_sleep=(lambda _state: on_retry()) if on_retry else None,
            reraise=True,
        )
        tried: list[Endpoint] = []
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(body, tried)
        except HTTPFailure as error:
            endpoint = tried[-1]
            where = f"{endpoint.base_url} (model {body.get('model')!r})"
            if is_transient(error):
                raise LLMError(f"{where} kept failing with HTTP {error.status} after "
                               f"{settings.max_retries + 1} attempts: {error.detail}") from error
            raise RequestRejected(f"{where} rejected the request with HTTP {error.status}: {error.detail}",
                                  error.status) from error
        except (httpx.TransportError, MalformedResponse) as error:
            endpoint = tried[-1]
            what = "timed out" if isinstance(error, httpx.TimeoutException) else f"failed ({error!r})"
            raise LLMError(f"{endpoint.base_url} (model {body.get('model')!r}) {what} "
                           f"{settings.max_retries + 1} times in a row") from error
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def aclose(self) -> None:
        await asyncio.gather(*(endpoint.aclose() for endpoint in self.endpoints))


def _error_detail(response: httpx.Response) -> str:
    """The server's error message (OpenAI's `{"error": {"message": ...}}` or a bare `message`), else the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
        if message:
            return str(message)[:500]
    return (response.text or response.reason_phrase)[:500]
