"""Run one thread (one seed, one task type) through the compiled graph: it never raises.

It returns a `ThreadResult`: finished with the model's outcome (`accepted`, `rejected`, `failed`), or
`unfinished` because the endpoint, the sandbox or the machine failed (`graphs.error_policy`). An exception that
escapes the graph without being infrastructure (a bug in a routing function, a recursion limit, a state that
does not validate) finishes the thread as `failed`, with the error's type and message recorded. Only
cancellation (Ctrl-C, SIGTERM, a stopping batch) passes through. The thread resumes from its last checkpoint:
a thread that finished before its rows were written is not run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from graphs.context import Event, RunContext, SynthSettings
from graphs.error_policy import ErrorKind, classify, describe
from graphs.state import Failure, SeedInput, SynthesisState, TaskType, thread_id
from graphs.synthesis import thread_config
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


async def run_thread(app: Any, seed: SeedInput, task_type: TaskType, ctx: RunContext, *,
                     on_event: Callable[[Event], None] | None = None, sandbox_runs: int = 0) -> ThreadResult:
    """Run or resume the thread to its end; never raises except `CancelledError`/`KeyboardInterrupt`.

    `sandbox_runs`: earlier runs that left this thread unfinished because of the sandbox; when this run would be
    one more than `settings.max_infra_runs` allows, a sandbox failure is recorded as the thread's failure."""
    with thread_usage() as counter:
        result = await _run(app, seed, task_type, ctx, on_event=on_event, sandbox_runs=sandbox_runs)
    usage = counter.report()
    return replace(result, usage=usage.model_dump(mode="json")) if usage.agents else result


async def _run(app: Any, seed: SeedInput, task_type: TaskType, ctx: RunContext, *,
               on_event: Callable[[Event], None] | None, sandbox_runs: int) -> ThreadResult:
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
    except Exception as error:  # the policy below decides; cancellation is a BaseException and passes
        kind = classify(error)
        if kind is ErrorKind.SANDBOX and sandbox_runs + 1 >= ctx.settings.max_infra_runs:
            note = (f"infrastructure failure: the sandbox failed this thread in {sandbox_runs + 1} runs "
                    f"(the bound is {ctx.settings.max_infra_runs}); last: {describe(error)}")
            return await _failed(app, config, seed, task_type, ctx, error, agent="sandbox", message=note)
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
