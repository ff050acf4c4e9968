"""The seam between the client and whatever sends a chat request to one model endpoint.

Everything that decides *what* to send and *whether to send again* — balancing over endpoints, the
per-endpoint cap, transport retries, the context budget, the structured-output fallback, the reply cache,
usage counting — lives above this seam, in `LLMClient` and `Transport`. A backend only sends one request to
its endpoint and translates the outcome: a `ChatReply`, or one of the typed errors of `tools.errors`
(`EndpointUnreachable`, `AuthFailed`, `UnknownModel`, `ContextLengthExceeded`, `RoleOrderRejected`,
`Transient` with the server's retry delay, `RequestRejected`). It never retries.

`OpenAIBackend` (the `openai` SDK) is the one built in; a LangChain chat model plugs in beside it by
implementing `ChatBackend` and being passed to `LLMClient(settings, backends=[...])`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]


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
