"""An agent call wrapped as a LangGraph node: the error policy and the plug-in contract, at run time.

- What the agent is given: a deep copy of the state. Changing it changes nothing: the agent acts on the graph
  only through the update it returns.
- What the agent raises: infrastructure and fatal errors (`graphs.error_policy`) propagate, so the thread stays
  unfinished at its last checkpoint; anything else — a `CodemillError`, an agent's or plug-in's bug, a
  validation that overflowed, a `SystemExit`, a cancellation nobody asked for — becomes a recorded `Failure` of
  that stage (type and message), and the graph routes on as it does when an agent gives up. Only Ctrl-C and the
  cancellation of the thread itself pass through (`graphs.error_policy.passes_through`).
- What the agent returns: a mapping whose keys are all among the fields the agent declares in `writes` (for a
  generator's `sample`, `sample_writes`), each value valid for its state field. The mapping is read once, through
  `items()`, and that one reading is both checked and applied; the values the state keeps are rebuilt from it, so
  the agent holds no reference into the state afterwards. Anything else is a recorded failure naming the agent
  and the field, and none of that update is applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

from langgraph.runtime import Runtime
from pydantic import TypeAdapter

from graphs.context import RunContext
from graphs.error_policy import ErrorKind, classify, describe, passes_through
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


def _fresh(name: str, value: Any) -> Any:
    """`value` validated for the state field `name`, rebuilt as new objects of the field's own types: no
    reference the agent kept (nor a subclass it made up) reaches the state."""
    adapter = _field_adapter(name)
    return adapter.validate_python(adapter.dump_python(adapter.validate_python(value), warnings=False))


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
    try:  # one reading, both checked and applied: a mapping cannot show one set of keys and apply another
        pairs = [(key, value) for key, value in update.items()]
    except Exception as error:
        return broken(f"returned a {type(update).__name__} whose items could not be read "
                      f"({type(error).__name__}: {describe(error, 300)})")
    odd = sorted({type(key).__name__ for key, _ in pairs if type(key) is not str})
    if odd:
        return broken(f"wrote keys of type {', '.join(odd)}; state fields are named by plain strings")
    keys = Counter(key for key, _ in pairs)
    repeated = sorted(key for key, count in keys.items() if count > 1)
    if repeated:
        return broken(f"wrote {', '.join(repr(key) for key in repeated)} more than once")
    undeclared = sorted(key for key in keys if key not in declared)
    if undeclared:
        allowed = ", ".join(sorted(declared)) or "nothing"
        return broken(f"wrote {', '.join(repr(key) for key in undeclared)}, which it does not declare in "
                      f"`writes` (it declares {allowed})")
    checked: dict[str, Any] = {}
    for key, value in pairs:
        try:
            checked[key] = _fresh(key, value)
        except Exception as error:
            return broken(f"wrote an invalid {key!r}: {describe(error, 300)}")
    return checked


def _raised(error: BaseException, stage: str, agent: Any) -> dict[str, Any]:
    """The update recording what the agent raised (a thread's failure), or `error` again when it is not one."""
    if passes_through(error) or classify(error) is not ErrorKind.THREAD:
        raise error  # the thread stays unfinished (or the batch stops); the runner decides which
    name = getattr(agent, "name", type(agent).__name__)
    message = describe(error) if isinstance(error, CodemillError) else \
        f"{origin(agent)} raised {type(error).__name__}: {describe(error)}"
    return {"failures": [Failure(stage=stage, agent=name, message=message, error_type=type(error).__name__)]}


def agent_node(stage: str, agent: Any, call: AgentCall, declared: frozenset[str], *, fresh_attempt: bool = False):
    """Wrap `call` (the agent, or its `sample`) as the node `stage`, with the error policy and the contract."""

    async def node(state: SynthesisState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        try:
            result = await call(state.model_copy(deep=True), runtime.context)
            update = checked_update(result, declared, stage, agent)
        except BaseException as error:  # SystemExit too: a plug-in's exit ends its thread, not the batch
            update = _raised(error, stage, agent)
        if isinstance(update.get("verdict"), Verdict):  # keep every verdict: the report counts all reasons
            update["verdicts"] = [update["verdict"]]
        if fresh_attempt:  # the attempt bound must advance even when the agent forgets or fails
            update.setdefault("attempt", state.attempt + 1)
            update.setdefault("instance", None)
            update.setdefault("verdict", None)
        return update

    node.__name__ = stage
    return node
