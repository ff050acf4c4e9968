"""Getting one chat-completion request answered: endpoint choice, per-endpoint concurrency, bounded retries.

Each base URL is an `Endpoint` with its own `openai.AsyncOpenAI` client (SDK retries off: tenacity does them
here, so the policy is in one place) and an asyncio semaphore that caps its requests in flight. A request
first waits for a free slot anywhere (one semaphore sized to the sum of the caps), then takes the endpoint
with the fewest requests in flight; choosing only when a slot is free means a fast server, which frees slots
sooner, gets more work than a slow one. An endpoint that just failed transiently cools down (backoff that
grows with consecutive failures) and is chosen only when no healthy one has room; a retry chooses again.
Only transient failures are retried (connection, timeout, 408, 429, 5xx); any other 4xx ends the call at
once as `RequestRejected`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
from openai.types.chat import ChatCompletion
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from tools.errors import ConfigError, LLMError
from tools.llm.settings import LLMSettings

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Parameters the SDK's `create` takes by name; anything else (vLLM's top_k, structured_outputs, ...) goes in
# `extra_body`, which the SDK merges into the JSON body unchanged.
_SDK_PARAMS = frozenset({
    "model", "messages", "n", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format",
    "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias", "user",
})
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


class MalformedResponse(Exception):
    """A 200 whose body is not a chat completion (cut off or garbled on the way): retried like a dropped
    connection."""


def is_transient(error: BaseException) -> bool:
    """Connection problems, timeouts, malformed bodies, 408, 429 and 5xx: worth another try."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 429) or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError | openai.APIResponseValidationError | MalformedResponse)


@dataclass
class Reply:
    """The parts of a completion the client uses."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    endpoint: str


class Endpoint:
    """One OpenAI-compatible server: an SDK client and the semaphore that caps its requests in flight."""

    def __init__(self, base_url: str, settings: LLMSettings) -> None:
        self.base_url = base_url
        self.capacity = settings.concurrency
        self.in_flight = 0  # reserved by the Transport, released when the request ends
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.failures_in_a_row = 0
        self.cooling_until = 0.0  # time.monotonic() before which other endpoints are preferred
        self._backoff = (settings.retry_initial_s, max(settings.retry_max_s, settings.retry_initial_s))
        pool = httpx.Limits(max_connections=settings.concurrency + 8, max_keepalive_connections=settings.concurrency)
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=settings.api_key.get_secret_value(), timeout=settings.timeout_s,
            max_retries=0, http_client=httpx.AsyncClient(limits=pool, timeout=settings.timeout_s),
        )

    async def chat(self, body: dict[str, Any]) -> Reply:
        """Send one request on a slot the caller reserved (`in_flight += 1`); the slot is freed here."""
        known = {key: value for key, value in body.items() if key in _SDK_PARAMS}
        extra = {key: value for key, value in body.items() if key not in _SDK_PARAMS}
        try:
            async with self.semaphore:  # never waits behind the Transport; the hard cap on this server
                try:
                    reply = await self._send(known, extra)
                except Exception as error:
                    if is_transient(error):
                        self.failures_in_a_row += 1
                        initial, cap = self._backoff
                        self.cooling_until = time.monotonic() + min(cap, initial * 2 ** self.failures_in_a_row)
                    raise
                self.failures_in_a_row = 0
                return reply
        finally:
            self.in_flight -= 1

    async def _send(self, known: dict[str, Any], extra: dict[str, Any]) -> Reply:
        started = time.perf_counter()
        try:
            completion: ChatCompletion = await self.client.chat.completions.create(
                **known, extra_body=extra or None)
        except ValueError as error:  # json.JSONDecodeError included
            raise MalformedResponse(f"malformed response body: {error}") from error
        latency = time.perf_counter() - started
        try:
            choices = sorted(completion.choices, key=lambda choice: choice.index)
            texts = [choice.message.content or "" for choice in choices]
        except (AttributeError, TypeError) as error:
            raise MalformedResponse(f"response is not a chat completion: {error}") from error
        usage = completion.usage
        return Reply(
            texts=texts,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency, endpoint=self.base_url,
        )


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
        except openai.APIStatusError as error:
            endpoint = tried[-1]
            where = f"{endpoint.base_url} (model {body.get('model')!r})"
            detail = _error_detail(error)
            if is_transient(error):
                raise LLMError(f"{where} kept failing with HTTP {error.status_code} after "
                               f"{settings.max_retries + 1} attempts: {detail}") from error
            raise RequestRejected(f"{where} rejected the request with HTTP {error.status_code}: {detail}",
                                  error.status_code) from error
        except (openai.APIConnectionError, openai.APIResponseValidationError, MalformedResponse) as error:
            endpoint = tried[-1]
            what = "timed out" if isinstance(error, openai.APITimeoutError) else f"failed ({error})"
            raise LLMError(f"{endpoint.base_url} (model {body.get('model')!r}) {what} "
                           f"{settings.max_retries + 1} times in a row") from error
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def aclose(self) -> None:
        await asyncio.gather(*(endpoint.client.close() for endpoint in self.endpoints))


def _error_detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
        if message:
            return str(message)[:500]
    return str(error.message)[:500]
