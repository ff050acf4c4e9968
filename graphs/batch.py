"""Run the synthesis graph over many seeds: resumable, crash-safe, one failing thread never stopping the others.

The batch runner composes four parts, each in its own module:
- the plan (`graphs.plan`): each seed's task type, fixed for the life of OUTDIR;
- the thread runner (`graphs.thread_runner`): one thread to its end, returning accepted / rejected / failed /
  unfinished, never raising;
- the scheduler (`graphs.scheduler`): how many threads run at once;
- the writer (`graphs.writer`): the OUTDIR lock, rows, ledger, the log of unfinished threads.
The circuit breaker (`graphs.breaker`) stops a run whose threads keep failing for an outside reason. Threads are
checkpointed in `OUTDIR/checkpoints.sqlite`, one per (seed, task type), and resume where they stopped. Threads that
`--retry-failed` runs again ask the model anew (`tools.llm.client.fresh_replies`): replaying the cached replies
would only repeat the failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs.breaker import CircuitBreaker
from graphs.context import Event, RunContext
from graphs.error_policy import DiskFull, disk_full, disk_full_message
from graphs.plan import choose_task_type, plan_threads
from graphs.records import FUNNEL, LedgerRow, ModelStamp
from graphs.scheduler import BoundedScheduler, Scheduler
from graphs.serde import state_serde_modules
from graphs.slots import Roster
from graphs.state import SeedInput, SynthesisState, TaskType, thread_id
from graphs.synthesis import compile_graph
from graphs.thread_runner import ThreadResult, initial_state, run_thread
from graphs.writer import RunWriter

__all__ = ["BatchRunner", "BatchStats", "choose_task_type", "initial_state"]


@dataclass
class BatchStats:
    """Live counts of this run, for progress displays and the manifest."""

    funnel: dict[str, Counter] = field(default_factory=lambda: {stage: Counter() for stage in FUNNEL})
    status: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    unfinished: Counter = field(default_factory=Counter)  # threads left unfinished, by cause (endpoint, sandbox)
    skipped: int = 0  # threads already finished by an earlier run
    planned: int = 0  # threads in the plan (finished earlier, or to run now)
    retried: int = 0  # failed threads re-run by --retry-failed
    kept_task_types: int = 0  # seeds keeping a recorded task type that the current mix would not draw
    events: Counter = field(default_factory=Counter)  # live agent events seen, by kind (e.g. rejected = re-asks)

    def record(self, state: SynthesisState, stages: Sequence[str], rows: dict[str, int]) -> None:
        task = state.task_type.value
        self.funnel["seeds"][task] += 1
        for stage in stages:
            self.funnel[stage][task] += 1
        self.status[state.status] += 1
        self.rows.update(rows)
        for failure in state.failures:
            self.failures[failure.stage] += 1

    @property
    def finished(self) -> int:
        return sum(self.status.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "funnel": {stage: dict(counts) for stage, counts in self.funnel.items()},
            "status": dict(self.status), "rows": dict(self.rows), "failures": dict(self.failures),
            "skipped": self.skipped, "planned": self.planned, "unfinished": dict(self.unfinished),
            "retried": self.retried, "kept_task_types": self.kept_task_types,
        }


class BatchRunner:
    """Drives many threads through one compiled graph and writes their rows as they finish.

    `concurrency` is the number of threads in flight (the `--threads`); `retry_failed` re-runs threads that
    finished as failed, superseding their rows. `run` raises `EndpointsFailing`/`SandboxFailing` when the
    circuit breaker trips, `DiskFull` on a full disk, a `ConfigError` a thread met; rows written stay written.
    """

    def __init__(
        self, roster: Roster, ctx: RunContext, outdir: Path, *, concurrency: int = 8,
        max_consecutive_llm_failures: int | None = None, on_thread: Callable[[SynthesisState], None] | None = None,
        on_event: Callable[[Event], None] | None = None, retry_failed: bool = False,
        scheduler: Scheduler | None = None, stamp: ModelStamp | None = None,
    ) -> None:
        self.roster, self.ctx, self.outdir = roster, ctx, outdir
        self.scheduler = scheduler or BoundedScheduler(concurrency)
        settings = ctx.settings
        self.breaker = CircuitBreaker(max_consecutive_llm_failures or settings.max_endpoint_failures,
                                      settings.max_sandbox_failures)
        self.on_thread, self.on_event = on_thread, on_event
        self.retry_failed = retry_failed
        self.stamp = stamp
        self.stats = BatchStats()

    def plan(self, seeds: Sequence[SeedInput]) -> list[tuple[SeedInput, TaskType]]:
        """Each seed with its task type as a fresh OUTDIR would draw it (a run keeps recorded ones)."""
        return [(seed, choose_task_type(seed, self.ctx.settings)) for seed in seeds]

    async def run(self, seeds: Sequence[SeedInput]) -> BatchStats:
        writer = RunWriter(self.outdir, self.stamp)
        try:
            await self._run(seeds, writer)
        except OSError as error:  # the checkpoints or the plan, outside the writer's own guard
            if disk_full(error):
                raise DiskFull(disk_full_message(error)) from error
            raise
        finally:
            writer.close()
        return self.stats

    async def _run(self, seeds: Sequence[SeedInput], writer: RunWriter) -> None:
        plan, self.stats.kept_task_types = plan_threads(self.outdir, seeds, self.ctx.settings)
        finished = writer.finished()
        planned = {thread_id(seed.id, task) for seed, task in plan}
        retry = {tid for tid, status in finished.items() if status == "failed" and tid in planned} \
            if self.retry_failed else set()
        todo = [(seed, task) for seed, task in plan if thread_id(seed.id, task) not in finished.keys() - retry]
        self.stats.planned, self.stats.skipped, self.stats.retried = len(plan), len(plan) - len(todo), len(retry)
        serde = JsonPlusSerializer(allowed_msgpack_modules=list(state_serde_modules()))
        async with AsyncSqliteSaver.from_conn_string(str(self.outdir / "checkpoints.sqlite")) as saver:
            saver.serde = serde
            for tid in sorted(retry):  # checkpoints first: a crash before the rows move leaves the old outcome
                await saver.adelete_thread(tid)
            writer.supersede(retry)
            # Counted after `supersede`: a retried thread starts again, and so does its count of unfinished runs.
            sandbox_runs, refused = writer.sandbox_runs(), writer.refused_runs()
            app = compile_graph(self.roster, checkpointer=saver)

            async def work(item: tuple[SeedInput, TaskType]) -> ThreadResult:
                seed, task = item
                tid = thread_id(seed.id, task)
                return await run_thread(app, seed, task, self.ctx, on_event=self._event,
                                        sandbox_runs=sandbox_runs.get(tid, 0), refused_runs=refused.get(tid, 0),
                                        ask_anew=tid in retry)

            attach = getattr(self.scheduler, "attach", None)
            if attach is not None:  # threads run elsewhere (graphs.cluster): what `work` closes over, sent there
                attach(sandbox_runs=sandbox_runs, refused_runs=refused, retry=retry, on_event=self._event)
            await self.scheduler.run(todo, work, lambda result: self._finished(result, writer), lambda: False)

    def _event(self, event: Event) -> None:
        self.stats.events[event.kind] += 1
        if self.on_event is not None:
            self.on_event(event)

    async def _finished(self, result: ThreadResult, writer: RunWriter) -> None:
        """One thread's end: write it, count it, and stop the batch if it must stop."""
        if result.exception is not None and result.cause == "fatal":
            error = result.exception
            if disk_full(error) and not isinstance(error, DiskFull):
                raise DiskFull(disk_full_message(error)) from error
            raise error
        ledger: LedgerRow | None = await writer.arecord(result)
        if ledger is not None and result.state is not None:
            self.stats.record(result.state, ledger.stages, ledger.rows)
            if self.on_thread is not None:
                self.on_thread(result.state)
        else:
            self.stats.unfinished[str(result.cause)] += 1
        self.breaker.observe(result)
