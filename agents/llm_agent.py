"""The helper every LLM agent shares, and the one re-ask loop with the one budget: ask for structured output,
validate it, re-ask with what was wrong at most `max_reasks` times, then give up with a recorded `Failure`.

Validation has two layers: the reply schema (checked by the client, which raises `OutputRejected` carrying
the invalid reply) and the agent's own semantic checks (a callable that raises `OutputRejected` with a
message precise enough for the model to act on, e.g. "solution does not parse: line 3: invalid syntax"). A
check that overflows on deep content (`RecursionError`, `MemoryError`) rejects the reply like any other.
Each re-ask adds two turns, the rejected reply (shortened) as the model's and the reason as the user's, so
roles always alternate. So an invalid reply costs at most `max_reasks + 1` requests.

Everything else is not re-asked here: `ContextLengthExceeded` (this prompt does not fit the model) is a
recorded failure of the stage at once; endpoint errors (`EndpointError`: unreachable, key, model, transient
failures the transport already retried) propagate, since they are not the model's outcome — the thread
stays unfinished and the next run retries it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from agents.base import AgentError
from graphs.context import Event, RunContext
from graphs.state import Failure, SynthesisState
from tools.errors import ContextLengthExceeded, OutputRejected
from tools.llm.conversation import reask_turns
from tools.prompting import render

ReplyT = TypeVar("ReplyT", bound=BaseModel)
ValueT = TypeVar("ValueT")


class GaveUp(AgentError):
    """The agent exhausted its re-asks; `failure` is what goes into the state."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


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
        after `1 + max_reasks` requests raise `GaveUp`. `params` are further sampling parameters for the
        client (e.g. `seed`)."""
        conversation = list(messages)
        attempts = 1 + ctx.settings.max_reasks
        last_error = ""
        for attempt in range(1, attempts + 1):
            try:
                replies = await ctx.llm.structured(
                    conversation, schema, agent=self.name, n=n, temperature=temperature, **params
                )
            except OutputRejected as error:  # no reply matched the schema: tell the model
                last_error, shown = str(error) or "the reply was rejected", error.reply
            except ContextLengthExceeded as error:  # resending cannot help: the stage fails now
                self._emit(ctx, state, "rejected", stage=stage, attempt=attempt, error=str(error))
                raise GaveUp(Failure(stage=stage, agent=self.name, error_type=type(error).__name__,
                                     message=f"the prompt does not fit the model: {error}"[:2000])) from error
            else:
                accepted, rejections = self._check(replies[:n], validate)  # never trust a server to honour n
                if accepted:
                    self._emit(ctx, state, "output", stage=stage, attempt=attempt, accepted=len(accepted),
                               rejected=len(rejections))
                    return accepted
                last_error = rejections[0] if rejections else "the model returned no reply"
                if len(rejections) > 1:
                    last_error = f"all {len(rejections)} replies rejected; the first because: {last_error}"
                shown = replies[0].model_dump_json() if replies else None
            self._emit(ctx, state, "rejected", stage=stage, attempt=attempt, error=last_error)
            if attempt < attempts:
                conversation = [*conversation, *reask_turns(shown, render("common/reask.j2", error=last_error))]
        raise GaveUp(Failure(
            stage=stage, agent=self.name, error_type="OutputRejected",
            message=f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}: {last_error}"[:2000],
        ))

    @staticmethod
    def _check(replies: Sequence[ReplyT], validate: Callable[[ReplyT], ValueT]) -> tuple[list[ValueT], list[str]]:
        """The replies `validate` accepts, and why it rejected the others."""
        accepted: list[ValueT] = []
        rejections: list[str] = []
        for reply in replies:
            try:
                accepted.append(validate(reply))
            except OutputRejected as error:
                rejections.append(str(error))
            except RecursionError:
                rejections.append("the reply is nested too deeply to check (e.g. thousands of nested operators); "
                                  "write plain, flat code")
            except MemoryError:
                rejections.append("the reply is too large to check")
        return accepted, rejections

    def _emit(self, ctx: RunContext, state: SynthesisState, kind: str, **payload: Any) -> None:
        ctx.emit(Event(thread=state.thread_id, agent=self.name, kind=kind, payload=payload))

    def failed(self, stage: str, message: str) -> dict[str, Any]:
        """A partial update that records a failure of this agent without crashing the run."""
        return {"failures": [Failure(stage=stage, agent=self.name, message=message)]}
