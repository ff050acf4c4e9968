"""Run one thread (one seed, one task type) through the compiled graph: it never raises.

It returns a `ThreadResult`: finished with the model's outcome (`accepted`, `rejected`, `failed`), or
`unfinished` because the endpoint, the sandbox or the machine failed (`graphs.error_policy`). An exception that
escapes the graph without being infrastructure (a bug in a routing function, a recursion limit, a state that
does not validate, a `SystemExit`) finishes the thread as `failed`, with the error's type and message recorded.
Only cancellation (Ctrl-C, SIGTERM, a stopping batch) passes through (`graphs.error_policy.passes_through`). The
thread resumes from its last checkpoint: a thread that finished before its rows were written is not run again.

Two kinds of unfinished are bounded across runs by `settings.max_infra_runs`, counted from the earlier runs'
`unfinished.jsonl` lines (`graphs.writer`): the sandbox failing the thread, and the endpoint refusing its request
with a plain 4xx (`refused`) — the same request is refused on every run, so after the bound the thread is recorded
as failed, naming the status and the server's message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from graphs.context import Event, RunContext, SynthSettings
from graphs.error_policy import ErrorKind, classify, describe, passes_through
from graphs.state import Failure, SeedInput, SynthesisState, TaskType, thread_id
from graphs.synthesis import thread_config
from tools.errors import RequestRejected
from tools.llm.client import fresh_replies
from tools.llm.usage import thread_usage

ThreadStatus = Literal["accepted", "rejected", "failed", "unfinished"]


@dataclass(frozen=True)
class ThreadResult:
    """How one thread ended in this run. `state` is the finished state (None when unfinished); `cause` and
    `error` say why a thread is unfinished (or, for an escaped bug, what was recorded)."""

    thread_id: str
    seed: SeedInput
    task_type: TaskType
    status: ThreadStatus
    state: SynthesisState | None = None
    cause: ErrorKind | None = None
    error_type: str = ""
    message: str = ""
    exception: BaseException | None = None  # a fatal one, for the batch to raise
    usage: dict[str, Any] = field(default_factory=dict)  # this run's LLM usage for the thread (a UsageReport dump)

    @property
    def finished(self) -> bool:
        return self.status != "unfinished"


def initial_state(seed: SeedInput, task_type: TaskType, settings: SynthSettings) -> SynthesisState:
    target = settings.translation_targets.get(seed.language, "") if task_type is TaskType.TRANSLATION else ""
    return SynthesisState(seed=seed, task_type=task_type, target_language=target, max_attempts=settings.max_attempts)


def refused(error: BaseException) -> bool:
    """Whether the endpoint refused the request itself with a status that names no known cause (not the key, the
    model, the order of the turns or the context length): resending the same request is refused again."""
    return type(error) is RequestRejected


REFUSED_ERROR_TYPE = RequestRejected.__name__  # a `refused` thread's `error_type` in unfinished.jsonl


async def run_thread(app: Any, seed: SeedInput, task_type: TaskType, ctx: RunContext, *,
                     on_event: Callable[[Event], None] | None = None, sandbox_runs: int = 0, refused_runs: int = 0,
                     ask_anew: bool = False) -> ThreadResult:
    """Run or resume the thread to its end; never raises except `CancelledError`/`KeyboardInterrupt`.

    `sandbox_runs` (`refused_runs`): earlier runs that left this thread unfinished because of the sandbox (because
    the endpoint refused its request); when this run would be one more than `settings.max_infra_runs` allows,
    that failure is recorded as the thread's failure. `ask_anew`: the model is asked again rather than its cached
    replies replayed (`--retry-failed`: a failed thread would replay the replies it failed with)."""
    with thread_usage() as counter, fresh_replies(ask_anew):
        result = await _run(app, seed, task_type, ctx, on_event=on_event, sandbox_runs=sandbox_runs,
                            refused_runs=refused_runs)
    usage = counter.report()
    return replace(result, usage=usage.model_dump(mode="json")) if usage.agents else result


async def _run(app: Any, seed: SeedInput, task_type: TaskType, ctx: RunContext, *,
               on_event: Callable[[Event], None] | None, sandbox_runs: int, refused_runs: int) -> ThreadResult:
    tid = thread_id(seed.id, task_type)
    config = thread_config(tid)
    try:
        snapshot = await app.aget_state(config)
        if snapshot.values and not snapshot.next:
            final = snapshot.values  # finished before a crash, rows not yet written
        else:
            payload = None if snapshot.values else initial_state(seed, task_type, ctx.settings)
            final = None
            async for mode, chunk in app.astream(payload, config, context=ctx, stream_mode=["custom", "values"]):
                if mode == "values":
                    final = chunk
                elif on_event is not None and isinstance(chunk, Event):
                    on_event(chunk)
        state = SynthesisState.model_validate(final)
    except BaseException as error:  # the policy below decides; SystemExit included
        if passes_through(error):
            raise
        kind = classify(error)
        bound = ctx.settings.max_infra_runs
        if kind is ErrorKind.SANDBOX and sandbox_runs + 1 >= bound:
            note = (f"infrastructure failure: the sandbox failed this thread in {sandbox_runs + 1} runs "
                    f"(the bound is {bound}); last: {describe(error)}")
            return await _failed(app, config, seed, task_type, ctx, error, agent="sandbox", message=note)
        if kind is ErrorKind.ENDPOINT and refused(error) and refused_runs + 1 >= bound:
            status = getattr(error, "status", "4xx")
            note = (f"the endpoint refused this thread's request with HTTP {status} in {refused_runs + 1} runs "
                    f"(the bound is {bound}); last: {describe(error)}")
            return await _failed(app, config, seed, task_type, ctx, error, agent="endpoint", message=note)
        if kind is not ErrorKind.THREAD:
            return ThreadResult(tid, seed, task_type, "unfinished", cause=kind, error_type=type(error).__name__,
                                message=describe(error), exception=error)
        return await _failed(app, config, seed, task_type, ctx, error, agent="graph",
                             message=f"the thread stopped on {type(error).__name__}: {describe(error)}")
    status = state.status if state.status != "running" else "failed"
    return ThreadResult(tid, seed, task_type, status, state=state)


async def _failed(app: Any, config: RunnableConfig, seed: SeedInput, task_type: TaskType, ctx: RunContext,
                  error: BaseException, *, agent: str, message: str) -> ThreadResult:
    """The thread's recorded failure: its last checkpointed state (or its start) plus what went wrong."""
    state: SynthesisState | None = None
    stage = "graph"
    try:
        snapshot = await app.aget_state(config)
        if snapshot.next:
            stage = ",".join(snapshot.next)
        if snapshot.values:
            state = SynthesisState.model_validate(snapshot.values)
    except Exception:  # the checkpoint itself may be what broke: record the error all the same
        state = None
    state = state or initial_state(seed, task_type, ctx.settings)
    failure = Failure(stage=stage, agent=agent, error_type=type(error).__name__, message=message)
    state = state.model_copy(update={"failures": [*state.failures, failure], "status": "failed"})
    return ThreadResult(config["configurable"]["thread_id"], seed, task_type, "failed", state=state,
                        cause=classify(error), error_type=type(error).__name__, message=message)
