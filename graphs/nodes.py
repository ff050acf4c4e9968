"""An agent call wrapped as a LangGraph node: the error policy and the plug-in contract, at run time.

- What the agent raises: infrastructure and fatal errors (`graphs.error_policy`) propagate, so the thread stays
  unfinished at its last checkpoint; anything else — a `CodemillError`, an agent's or plug-in's bug, a
  validation that overflowed — becomes a recorded `Failure` of that stage (type and message), and the graph
  routes on as it does when an agent gives up.
- What the agent returns: a mapping whose keys are all among the fields the agent declares in `writes` (for a
  generator's `sample`, `sample_writes`), each value valid for its state field. Anything else is a recorded
  failure naming the agent and the field, and none of that update is applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

from langgraph.runtime import Runtime
from pydantic import TypeAdapter

from graphs.context import RunContext
from graphs.error_policy import ErrorKind, classify, describe
from graphs.state import Failure, SynthesisState, Verdict
from tools.errors import CodemillError

AgentCall = Callable[[SynthesisState, RunContext], Awaitable[Any]]


def origin(agent: Any) -> str:
    """Where an agent comes from, for error messages: its distribution if known, else its module."""
    return getattr(agent, "distribution", None) or type(agent).__module__


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    annotation = SynthesisState.model_fields[name].annotation
    assert annotation is not None, f"state field {name} has no type"
    return TypeAdapter(annotation)


def checked_update(update: Any, declared: frozenset[str], stage: str, agent: Any) -> dict[str, Any]:
    """`update` with validated values if it keeps to the agent's contract, else an update holding only the
    `Failure` that says how it broke it."""
    name = getattr(agent, "name", type(agent).__name__)

    def broken(message: str) -> dict[str, Any]:
        failure = Failure(stage=stage, agent=name, error_type="ContractViolation",
                          message=f"agent {name!r} ({origin(agent)}) {message}; its update was discarded")
        return {"failures": [failure]}

    if not isinstance(update, Mapping):
        return broken(f"returned {type(update).__name__}, not a mapping of state fields")
    undeclared = sorted(str(key) for key in update if key not in declared)
    if undeclared:
        allowed = ", ".join(sorted(declared)) or "nothing"
        return broken(f"wrote {', '.join(repr(key) for key in undeclared)}, which it does not declare in "
                      f"`writes` (it declares {allowed})")
    checked: dict[str, Any] = {}
    for key, value in update.items():
        try:
            checked[key] = _field_adapter(key).validate_python(value)
        except Exception as error:
            return broken(f"wrote an invalid {key!r}: {describe(error, 300)}")
    return checked


def agent_node(stage: str, agent: Any, call: AgentCall, declared: frozenset[str], *, fresh_attempt: bool = False):
    """Wrap `call` (the agent, or its `sample`) as the node `stage`, with the error policy and the contract."""
    name = getattr(agent, "name", type(agent).__name__)

    async def node(state: SynthesisState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        try:
            result = await call(state, runtime.context)
        except Exception as error:
            if classify(error) is not ErrorKind.THREAD:
                raise  # the thread stays unfinished (or the batch stops); the runner decides which
            message = describe(error) if isinstance(error, CodemillError) else \
                f"{origin(agent)} raised {type(error).__name__}: {describe(error)}"
            update: dict[str, Any] = {"failures": [Failure(stage=stage, agent=name, message=message,
                                           error_type=type(error).__name__)]}
        else:
            update = checked_update(result, declared, stage, agent)
        if isinstance(update.get("verdict"), Verdict):  # keep every verdict: the report counts all reasons
            update["verdicts"] = [update["verdict"]]
        if fresh_attempt:  # the attempt bound must advance even when the agent forgets or fails
            update.setdefault("attempt", state.attempt + 1)
            update.setdefault("instance", None)
            update.setdefault("verdict", None)
        return update

    node.__name__ = stage
    return node
