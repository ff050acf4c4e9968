"""The helper every LLM agent shares: ask for structured output, validate it, re-ask a bounded number of
times with the rejection appended to the conversation, then give up with a recorded `Failure`.

Validation has two layers: pydantic (the reply schema, enforced by the LLM client) and the agent's own
semantic checks (a callable that raises `OutputRejected` with a message precise enough for the model to
act on, e.g. "solution does not parse: line 3: invalid syntax"). An `OutputRejected` or `LLMError` raised
by the client counts as one rejected attempt too. The bound is `ctx.settings.max_reasks`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from agents.base import AgentError
from graphs.context import Event, RunContext
from graphs.state import Failure, SynthesisState
from tools.errors import LLMError, OutputRejected
from tools.prompting import render

ReplyT = TypeVar("ReplyT", bound=BaseModel)
ValueT = TypeVar("ValueT")


class GaveUp(AgentError):
    """The agent exhausted its re-asks; `failure` is what goes into the state."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def thread_id(state: SynthesisState) -> str:
    """How events name the thread: one seed, one task type."""
    return f"{state.seed.id}/{state.task_type.value}"


def stable_seed(*parts: object) -> int:
    """A reproducible 31-bit integer from strings (Python's `hash` is salted per process)."""
    return zlib.crc32("\x1f".join(str(part) for part in parts).encode("utf-8")) & 0x7FFFFFFF


class LLMAgent:
    """Base class of the built-in LLM agents; subclasses set the ClassVars of the `Agent` protocol."""

    name: ClassVar[str]
    slot: ClassVar[str]
    reads: ClassVar[frozenset[str]]
    writes: ClassVar[frozenset[str]]

    async def ask(
        self,
        state: SynthesisState,
        ctx: RunContext,
        messages: Sequence[dict[str, str]],
        schema: type[ReplyT],
        validate: Callable[[ReplyT], ValueT],
        *,
        stage: str,
        temperature: float,
        n: int = 1,
        **params: Any,
    ) -> list[ValueT]:
        """Ask until `validate` accepts at least one reply (all accepted ones are returned, in order);
        after `1 + max_reasks` attempts raise `GaveUp`. Never loops without bound. `params` are further
        sampling parameters for the client (e.g. `seed`)."""
        conversation = list(messages)
        attempts = 1 + ctx.settings.max_reasks
        last_error, last_type = "", "OutputRejected"
        for attempt in range(1, attempts + 1):
            try:
                replies = await ctx.llm.structured(
                    conversation, schema, agent=self.name, n=n, temperature=temperature, **params
                )
            except (OutputRejected, LLMError) as error:
                last_error, last_type = str(error) or type(error).__name__, type(error).__name__
                self._emit(ctx, state, "rejected", stage=stage, attempt=attempt, error=last_error)
                if isinstance(error, OutputRejected):  # the model produced it: tell the model
                    conversation = [*conversation, self._reask(last_error)]
                continue  # an LLMError is transport trouble: ask the same question again
            accepted: list[ValueT] = []
            rejections: list[str] = []
            for reply in replies[:n]:  # never trust the client (or a server) to honour n
                try:
                    accepted.append(validate(reply))
                except OutputRejected as error:
                    rejections.append(str(error))
            if accepted:
                self._emit(ctx, state, "output", stage=stage, attempt=attempt, accepted=len(accepted),
                           rejected=len(rejections))
                return accepted
            last_error = rejections[0] if rejections else "the model returned no reply"
            last_type = "OutputRejected"
            if len(rejections) > 1:
                last_error = f"all {len(rejections)} replies rejected; the first because: {last_error}"
            self._emit(ctx, state, "rejected", stage=stage, attempt=attempt, error=last_error)
            if replies:
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": replies[0].model_dump_json()},
                    self._reask(last_error),
                ]
        raise GaveUp(Failure(
            stage=stage, agent=self.name, error_type=last_type,
            message=f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}: {last_error}"[:2000],
        ))

    @staticmethod
    def _reask(error: str) -> dict[str, str]:
        return {"role": "user", "content": render("common/reask.j2", error=error)}

    def _emit(self, ctx: RunContext, state: SynthesisState, kind: str, **payload: Any) -> None:
        ctx.emit(Event(thread=thread_id(state), agent=self.name, kind=kind, payload=payload))

    def failed(self, stage: str, message: str) -> dict[str, Any]:
        """A partial update that records a failure of this agent without crashing the run."""
        return {"failures": [Failure(stage=stage, agent=self.name, message=message)]}
