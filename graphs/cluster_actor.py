"""One graph runner of a Ray cluster: a worker process holding its own sandbox pool, LLM client, few-shot pool and
checkpointer, running the threads the driver hands it (`graphs.cluster`) and returning how each ended.

`graphs.cluster` wraps `GraphRunner` in `ray.remote` (Ray is imported here only to name the node). Where an
actor keeps its state depends on its node (`RunnerSpec.local`):
- on the driver's node, the run's own files: `OUTDIR/checkpoints.sqlite`, the reply cache the run uses, and
  `OUTDIR/pool` (SQLite in WAL mode and append-only JSONL: several processes may share them);
- on any other node, `node_dir` (on that node's disk, keyed by the OUTDIR): OUTDIR is on the driver's machine.
  A re-run that lands the same thread on the same node resumes its checkpoint and replays its cached replies (but
  a thread `--retry-failed` runs again asks the model anew, as in a plain run); on another node the thread starts
  again. Only the driver's ledger says a thread is done, so nothing is written twice either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs.context import Event, RunContext, SynthSettings
from graphs.pool import FewShotPool
from graphs.roster import AgentChoice, build_roster
from graphs.serde import state_serde_modules
from graphs.state import SeedInput, TaskType
from graphs.synthesis import compile_graph
from graphs.thread_runner import ThreadResult, run_thread
from tools.errors import CodemillError
from tools.llm import LLMClient, LLMSettings
from tools.llm.usage import UsageReport
from tools.sandbox import Sandbox
from tools.sandbox.models import Limits
from tools.sqlite_wal import wal_file


@dataclass(frozen=True)
class RunnerSpec:
    """Everything one actor needs, built by the driver (pickled to the actor)."""

    index: int
    outdir: Path  # on the driver's machine
    synth: SynthSettings
    llm: LLMSettings  # `concurrency` is this actor's share of every endpoint's limit
    agents: AgentChoice
    limits: Limits
    sandbox_workers: int
    local: bool  # on the driver's node: OUTDIR's checkpoints, cache and pool are this machine's files
    node_dir: Path  # where an actor on another node keeps them (the driver's OUTDIR key appended)


@dataclass(frozen=True)
class NodeReport:
    """Where an actor runs and what its sandbox achieved (for the manifest and the warning line)."""

    index: int
    node_id: str
    host: str
    pid: int
    sandbox_workers: int
    isolation: dict[str, str]
    host_readable: bool
    checkpoints: str
    cache: str


@dataclass(frozen=True)
class RemoteResult:
    """One thread's end as an actor reports it: the thread's result, the kinds of live events it emitted, and
    the actor's running totals (cumulative usage, requests in flight now) with their place in the actor's order
    (`sequence`: results of one actor may reach the driver out of order, and only the latest totals count)."""

    result: ThreadResult
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (thread, agent, kind); payloads stay here
    usage: UsageReport = field(default_factory=UsageReport)
    in_flight: int = 0
    sequence: int = 0


def state_paths(spec: RunnerSpec) -> tuple[Path, Path | None, Path]:
    """(checkpoints file, reply cache file or None, few-shot pool directory) of this actor."""
    if spec.local:
        return spec.outdir / "checkpoints.sqlite", spec.llm.cache_path, spec.outdir / "pool"
    base = spec.node_dir.expanduser()
    # SQLite in WAL mode cannot be shared between machines: each node keeps its own cache, whatever the path given
    cache = base / "llm-cache.sqlite" if spec.llm.cache_enabled and spec.llm.cache_path is not None else None
    return base / "checkpoints.sqlite", cache, base / "pool"


def portable(result: ThreadResult) -> ThreadResult:
    """`result` with an exception that survives pickling (a fatal one is raised again by the driver)."""
    error = result.exception
    if error is None:
        return result
    try:
        pickle.loads(pickle.dumps(error))
        return result
    except Exception:  # an exception holding a lock, a socket, a local class: keep its type name and message
        return replace(result, exception=CodemillError(f"{type(error).__name__}: {result.message or error}"))


class GraphRunner:
    """Built on its node; `start` opens its checkpointer and sandbox, `run` runs one thread to its end."""

    def __init__(self, spec: RunnerSpec) -> None:
        self.spec = spec
        self.checkpoints, cache, self.pool_dir = state_paths(spec)
        self.llm_settings = spec.llm.model_copy(update={"cache_path": cache})
        self._exit = contextlib.AsyncExitStack()
        self.app: Any = None
        self.ctx: RunContext | None = None
        self.llm: LLMClient | None = None
        self.sandbox: Sandbox | None = None
        self.saver: AsyncSqliteSaver | None = None
        self._results = 0  # results returned so far: each one's `sequence`

    async def start(self) -> NodeReport:
        """Open the sandbox pool, the LLM client, the checkpointer and the graph."""
        self.checkpoints.parent.mkdir(parents=True, exist_ok=True)
        self.pool_dir.mkdir(parents=True, exist_ok=True)
        sandbox = Sandbox(workers=self.spec.sandbox_workers, limits=self.spec.limits)
        self._exit.callback(sandbox.close)
        self.sandbox = sandbox
        self.llm = await self._exit.enter_async_context(LLMClient(self.llm_settings))
        await asyncio.to_thread(wal_file, self.checkpoints)  # the saver's own switch fails if another actor's races it
        saver = await self._exit.enter_async_context(AsyncSqliteSaver.from_conn_string(str(self.checkpoints)))
        saver.serde = JsonPlusSerializer(allowed_msgpack_modules=list(state_serde_modules()))
        self.saver = saver
        self.app = compile_graph(build_roster(self.spec.agents), checkpointer=saver)
        self.ctx = RunContext(settings=self.spec.synth, llm=self.llm, sandbox=sandbox,
                              pool=FewShotPool(self.pool_dir))
        return self.report()

    async def forget(self, thread_ids: list[str]) -> int:
        """Delete the checkpoints of threads `--retry-failed` runs again (the driver already did in OUTDIR's)."""
        if self.spec.local or self.saver is None:
            return 0
        for tid in thread_ids:
            await self.saver.adelete_thread(tid)
        return len(thread_ids)

    def report(self) -> NodeReport:
        sandbox = self.sandbox
        return NodeReport(
            index=self.spec.index, node_id=_node_id(), host=socket.gethostname(), pid=os.getpid(),
            sandbox_workers=self.spec.sandbox_workers, isolation=dict(sandbox.isolation) if sandbox else {},
            host_readable=bool(sandbox and sandbox.host_readable), checkpoints=str(self.checkpoints),
            cache=str(self.llm_settings.cache_path or "off"))

    async def run(self, seed: SeedInput, task_type: TaskType, *, sandbox_runs: int, refused_runs: int,
                  ask_anew: bool) -> RemoteResult:
        """Run or resume one thread; never raises (but cancellation). The keywords are `run_thread`'s."""
        if self.app is None or self.ctx is None or self.llm is None:
            raise CodemillError("the graph runner was not started")
        seen: Counter[tuple[str, str, str]] = Counter()

        def on_event(event: Event) -> None:
            seen[(event.thread, event.agent, event.kind)] += 1

        result = await run_thread(self.app, seed, task_type, self.ctx, on_event=on_event, sandbox_runs=sandbox_runs,
                                  refused_runs=refused_runs, ask_anew=ask_anew)
        events = [key for key, count in seen.items() for _ in range(count)]
        self._results += 1
        return RemoteResult(portable(result), events, self.llm.usage(), self.llm.in_flight, self._results)

    async def close(self) -> None:
        await self._exit.aclose()


def _node_id() -> str:
    """The Ray node this process runs on ('' outside Ray)."""
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id()) if ray.is_initialized() else ""
    except ImportError:
        return ""
