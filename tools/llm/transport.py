"""Getting one request answered: which endpoints may be used, balancing over them under a cap per endpoint,
and the one loop that retries transient failures.

Each endpoint is a backend (`tools.llm.backend`) behind an asyncio semaphore that caps its requests in
flight. A request first waits for a free slot anywhere (one semaphore sized to the sum of the caps), then
takes the endpoint with the fewest requests in flight, so a fast server, which frees slots sooner, gets more
work than a slow one. An endpoint that just failed transiently cools down and is chosen only when no healthy
one has room; a retry chooses again. Only `Transient` and `EndpointUnreachable` are retried, at most
`max_retries` times, after the server's `Retry-After` when it gave one (up to `retry_after_max_s`), else an
exponential backoff with jitter capped at `retry_max_s`. Every other error ends the call at once.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from tools.errors import ConfigError, EndpointUnreachable, Transient
from tools.llm.backend import ChatBackend, ChatReply, ChatRequest
from tools.llm.settings import LLMSettings

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RETRYABLE = (Transient, EndpointUnreachable)
_remote_forbidden = False


def forbid_remote_requests(forbidden: bool = True) -> None:
    """Process-wide switch (tests turn it on): no client may talk to a host other than this machine."""
    global _remote_forbidden
    _remote_forbidden = forbidden


def check_endpoint_allowed(base_url: str, allow_remote: bool) -> None:
    host = urlsplit(base_url).hostname or ""
    if host not in LOCAL_HOSTS and (_remote_forbidden or not allow_remote):
        raise ConfigError(f"remote model requests are disabled (allow_remote is off): {base_url}")


def backoff_s(failures: int, initial_s: float, cap_s: float) -> float:
    """`initial * 2**(failures - 1)`, capped; the exponent is bounded so that no count of failures overflows."""
    return min(cap_s, initial_s * 2.0 ** min(max(failures - 1, 0), 32))


class Endpoint:
    """One backend and the semaphore that caps its requests in flight."""

    def __init__(self, backend: ChatBackend, settings: LLMSettings) -> None:
        self.backend = backend
        self.capacity = settings.concurrency
        self.in_flight = 0  # reserved by the Transport, released when the request ends
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.failures_in_a_row = 0
        self.cooling_until = 0.0  # time.monotonic() before which other endpoints are preferred
        self._backoff = (settings.retry_initial_s, max(settings.retry_max_s, settings.retry_initial_s))

    async def chat(self, request: ChatRequest) -> ChatReply:
        """Send on a slot the caller reserved (`in_flight += 1`); the slot is freed here."""
        try:
            async with self.semaphore:  # never waits behind the Transport; the hard cap on this server
                try:
                    reply = await self.backend.chat(request)
                except RETRYABLE as error:
                    self.failures_in_a_row += 1
                    pause = getattr(error, "retry_after", None) or backoff_s(self.failures_in_a_row, *self._backoff)
                    self.cooling_until = time.monotonic() + pause
                    raise
                self.failures_in_a_row = 0
                return reply
        finally:
            self.in_flight -= 1


class Transport:
    """All endpoints of one client; `chat` returns a reply or raises the last typed error."""

    def __init__(self, settings: LLMSettings, backends: Sequence[ChatBackend]) -> None:
        if not backends:
            raise ConfigError("no model endpoint: give --base-url URL (or CODEMILL_BASE_URL), or start one "
                              "with `python run.py serve`")
        self.settings = settings
        self.endpoints = [Endpoint(backend, settings) for backend in backends]
        self._free_slots = asyncio.Semaphore(sum(endpoint.capacity for endpoint in self.endpoints))
        self._turn = itertools.count()

    @property
    def in_flight(self) -> int:
        return sum(endpoint.in_flight for endpoint in self.endpoints)

    def pick(self) -> Endpoint:
        """The endpoint with room and the fewest requests in flight; ties rotate so idle servers share."""
        offset = next(self._turn) % len(self.endpoints)
        rotated = self.endpoints[offset:] + self.endpoints[:offset]
        now = time.monotonic()
        return min((e for e in rotated if e.in_flight < e.capacity),
                   key=lambda endpoint: (endpoint.cooling_until > now, endpoint.in_flight))

    async def _send(self, request: ChatRequest) -> ChatReply:
        async with self._free_slots:
            endpoint = self.pick()  # some endpoint has room: the slots taken never exceed the sum of caps
            endpoint.in_flight += 1
            return await endpoint.chat(request)

    def _wait_s(self, state: RetryCallState) -> float:
        settings = self.settings
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, settings.retry_after_max_s)
        pause = backoff_s(state.attempt_number, settings.retry_initial_s, settings.retry_max_s)
        return pause + random.uniform(0, settings.retry_initial_s)  # jitter: retries of many threads spread out

    async def chat(self, request: ChatRequest, on_retry: Callable[[], None] | None = None) -> ChatReply:
        attempts = self.settings.max_retries + 1
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RETRYABLE), stop=stop_after_attempt(attempts), wait=self._wait_s,
            before_sleep=(lambda _state: on_retry()) if on_retry else None, reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(request)
        except RETRYABLE as error:
            if attempts == 1:
                raise
            exhausted = copy.copy(error)  # same type and retry_after; the message says it was retried
            exhausted.args = (f"{error} ({attempts} attempts in a row)",)
            raise exhausted from error
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def aclose(self) -> None:
        await asyncio.gather(*(endpoint.backend.aclose() for endpoint in self.endpoints))
