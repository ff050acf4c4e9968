"""The seam between the client and whatever sends a chat request to one model endpoint.

Everything that decides *what* to send and *whether to send again* — balancing over endpoints, the
per-endpoint cap, transport retries, the context budget, the structured-output fallback, the reply cache,
usage counting — lives above this seam, in `LLMClient` and `Transport`. A backend only sends one request to
its endpoint and translates the outcome: a `ChatReply`, or one of the typed errors of `tools.errors`
(`EndpointUnreachable`, `AuthFailed`, `UnknownModel`, `ContextLengthExceeded`, `RoleOrderRejected`,
`Transient` with the server's retry delay, `RequestRejected`). It never retries.

Two are built in, chosen by `LLMSettings.backend` (`tools.llm.client.backends_for`): `OpenAIBackend` (the
`openai` SDK, one per base URL) and `LangChainBackend` (any LangChain chat model). Another plugs in by implementing
`ChatBackend` and being passed to `LLMClient(settings, backends=[...])`. What an HTTP status means is decided here,
once, for every backend (`error_for_status`).
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tools.errors import (
    AuthFailed,
    ContextLengthExceeded,
    LLMError,
    RequestRejected,
    RoleOrderRejected,
    Transient,
    UnknownModel,
)

Message = dict[str, str]
OPENAI = "openai"  # `LLMSettings.backend` of the OpenAI protocol; the other kind is "langchain:module.Class"
LANGCHAIN = "langchain:"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat-completion request: the model, the turns, `n` choices and every other body field
    (sampling, `max_tokens`, `response_format`, vendor extras such as vLLM's `top_k`), sent as given."""

    model: str
    messages: list[Message]
    n: int = 1
    params: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The OpenAI chat-completions body."""
        return {"model": self.model, "messages": self.messages, "n": self.n, **self.params}


@dataclass(slots=True)
class ChatReply:
    """What one request returned: one text and finish reason per choice, its cost and its latency."""

    texts: list[str]
    finish_reasons: list[str | None]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelCard:
    """A model an endpoint serves, and its context length when the server says (vLLM's `max_model_len`)."""

    id: str
    max_model_len: int | None = None


@runtime_checkable
class ChatBackend(Protocol):
    """One endpoint. `name` identifies it in messages (a base URL)."""

    name: str

    async def chat(self, request: ChatRequest) -> ChatReply:
        """Send once; return the reply or raise a typed `tools.errors.LLMError`."""
        ...

    async def models(self) -> list[ModelCard]:
        """The models the endpoint serves (`/v1/models`); raises like `chat`."""
        ...

    async def count_tokens(self, model: str, messages: list[Message]) -> int | None:
        """The prompt's length in the server's own tokens (chat template included), or None when the server
        cannot count (then the client estimates)."""
        ...

    async def aclose(self) -> None: ...


CONTEXT_LENGTH = re.compile(r"maximum context length|context[_ ]length[_ ]exceeded|maximum model length|"
                            r"context window|prompt is too long|too many tokens", re.IGNORECASE)
ROLE_ORDER = re.compile(r"roles? must alternate|alternate user/assistant", re.IGNORECASE)
CONTEXT_LIMIT = re.compile(r"maximum (?:context|model) length (?:is |of )?(\d+)", re.IGNORECASE)
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The delay a `Retry-After` (seconds or HTTP date) or `retry-after-ms` header asks for, if sensible."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if divisor == 1.0 else None
            if parsed is None:
                continue
            delay = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(delay):
            return max(0.0, delay)
    return None


def context_length_exceeded(message: str) -> ContextLengthExceeded:
    """The error for a server's "prompt too long", with the context length when the message says it."""
    limit = CONTEXT_LIMIT.search(message)
    return ContextLengthExceeded(message, int(limit.group(1)) if limit else None)


def error_for_status(where: str, status: int, detail: str, *, retry_after: float | None = None,
                     model_named: bool = True) -> LLMError:
    """The typed error for an HTTP error status of `where` (an endpoint and its model); `detail` is the server's
    own message, `retry_after` its `Retry-After` delay, `model_named` whether the request named a model (a 404 is
    then about the model when the server says so)."""
    said = f"{where} answered HTTP {status}: {detail}"
    if status in (401, 403):
        return AuthFailed(f"{where} refused the API key (HTTP {status}: {detail}); give the right one with "
                          "--api-key or CODEMILL_API_KEY", status)
    if status == 404 and model_named and "model" in detail.lower():
        return UnknownModel(f"{where}: the server does not serve this model (HTTP 404: {detail})", status)
    if status in TRANSIENT_STATUSES or status >= 500:
        return Transient(said, retry_after=retry_after)
    if CONTEXT_LENGTH.search(detail):
        return context_length_exceeded(said)
    if ROLE_ORDER.search(detail):
        return RoleOrderRejected(said, status)
    if status == 404:
        return RequestRejected(f"{said} (does the base URL end in /v1?)", status)
    return RequestRejected(said, status)
