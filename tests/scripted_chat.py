"""A scripted chat model for agent tests: implements the `ChatModel` protocol with queued replies per agent.

Each queued item is one call's answer:
- a dict or a pydantic model: one reply (a dict is validated against the requested schema; if it does not
  fit, the call raises `OutputRejected` as the real client does after its own re-asks);
- a list of those: the replies of one `n>1` call (invalid ones dropped, `OutputRejected` if none is valid);
- an exception instance (`OutputRejected`, `LLMError`, ...): raised by the call;
- a callable `(call: Call) -> any of the above`: computed from the request.
Every call is recorded (agent, messages, schema, n, params) so tests assert what the agents sent.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from graphs.context import Event, RunContext, SynthSettings
from tools.errors import OutputRejected

T = TypeVar("T", bound=BaseModel)


@dataclass
class Call:
    """One request an agent made."""

    agent: str
    messages: list[dict[str, str]]
    schema: type[BaseModel] | None
    n: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """Every message's content, joined: what the model read."""
        return "\n\n".join(message["content"] for message in self.messages)


class ScriptedChat:
    """Replies from per-agent queues; an exhausted queue fails the test with a clear message."""

    def __init__(self, replies: dict[str, list[Any]] | None = None) -> None:
        self.queues: dict[str, deque[Any]] = defaultdict(deque)
        self.calls: list[Call] = []
        for agent, items in (replies or {}).items():
            self.script(agent, *items)

    def script(self, agent: str, *items: Any) -> ScriptedChat:
        self.queues[agent].extend(items)
        return self

    def calls_of(self, agent: str) -> list[Call]:
        return [call for call in self.calls if call.agent == agent]

    def remaining(self, agent: str) -> int:
        return len(self.queues[agent])

    def _next(self, call: Call) -> Any:
        self.calls.append(call)
        queue = self.queues[call.agent]
        if not queue:
            raise AssertionError(f"ScriptedChat: no scripted reply left for agent {call.agent!r}")
        item = queue.popleft()
        if callable(item) and not isinstance(item, type | BaseModel):
            item = item(call)
        if isinstance(item, BaseException):
            raise item
        return item

    async def structured(
        self, messages: Sequence[dict[str, str]], schema: type[T], *, agent: str = "default", n: int = 1,
        **params: Any,
    ) -> list[T]:
        item = self._next(Call(agent, [dict(m) for m in messages], schema, n, params))
        items = item if isinstance(item, list) else [item]
        valid: list[T] = []
        errors: list[str] = []
        for reply in items:
            try:
                valid.append(schema.model_validate(
                    reply.model_dump() if isinstance(reply, BaseModel) else reply))
            except ValidationError as error:
                errors.append(str(error))
        if not valid:
            raise OutputRejected(f"reply does not match {schema.__name__}: {errors[0] if errors else 'empty'}")
        return valid

    async def complete(
        self, messages: Sequence[dict[str, str]], *, agent: str = "default", n: int = 1, **params: Any
    ) -> list[str]:
        item = self._next(Call(agent, [dict(m) for m in messages], None, n, params))
        return [str(text) for text in (item if isinstance(item, list) else [item])]


Handler = Callable[[Call], Any]


def scripted_context(chat: ScriptedChat, *, pool: Any = None, sandbox: Any = None,
                     **settings: Any) -> tuple[RunContext, list[Event]]:
    """A `RunContext` around a scripted chat, and the list its events are collected into."""
    events: list[Event] = []
    context = RunContext(settings=SynthSettings(**settings), llm=chat, sandbox=sandbox, pool=pool,
                         emit=events.append)
    return context, events
