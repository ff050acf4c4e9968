"""The batch on a Ray cluster, driver side: graph-runner actors (`graphs.cluster_actor`) placed on the nodes, and
`RayScheduler`, the `graphs.scheduler.Scheduler` that hands them threads.

The driver is the queue. Each actor holds at most its number of thread slots; when one of its threads ends the
driver gives it the next item, so a fast node takes more work than a slow one (work stealing, without a static
split). The driver knows which items each actor holds: when an actor or its node is lost, those items go back at
the front of the queue for the others, at once, with no lease to expire (a `ray.util.queue.Queue` would lose the
items its dead consumers had taken, and is itself an actor on some node). Results come back one per thread, and
`graphs.batch.BatchRunner` writes them with the run's one `RunWriter`, as in a plain run.

`--concurrency C` is the limit per endpoint for the whole cluster: every actor's client balances over all
endpoints with a share of C (`endpoint_shares`), and the shares add up to C.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from graphs.cluster_actor import GraphRunner, NodeReport, RemoteResult, RunnerSpec
from graphs.context import Event
from graphs.state import SeedInput, TaskType, thread_id
from tools.errors import CodemillError, ConfigError
from tools.llm.usage import AgentUsage, UsageReport


class ClusterLost(CodemillError):
    """Every graph-runner actor was lost before the batch ended."""


def endpoint_shares(concurrency: int, workers: int) -> list[int]:
    """Each actor's requests in flight per endpoint: they add up to `concurrency` (C // N, the remainder to the
    first ones). There are never more actors than `concurrency`, so every share is at least 1."""
    if workers < 1 or workers > concurrency:
        raise ConfigError(f"{workers} Ray workers cannot share --concurrency {concurrency}: every worker needs at "
                          "least one request slot per endpoint (use --ray-workers N with N <= --concurrency)")
    return [concurrency // workers + (index < concurrency % workers) for index in range(workers)]


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` near-equal whole shares, each at least 1."""
    return [max(1, total // parts + (index < total % parts)) for index in range(parts)]


@dataclass(frozen=True)
class Node:
    node_id: str
    host: str
    cpus: int


def cpu_nodes(ray: Any) -> list[Node]:
    """The cluster's live nodes that have CPUs, largest first (ties by id, so placement is reproducible)."""
    nodes = [Node(str(node["NodeID"]), str(node.get("NodeManagerHostname", "")),
                  int(node.get("Resources", {}).get("CPU", 0))) for node in ray.nodes() if node.get("Alive")]
    return sorted((node for node in nodes if node.cpus > 0), key=lambda node: (-node.cpus, node.node_id))


def place(nodes: Sequence[Node], workers: int | None) -> list[Node]:
    """The node of each actor: one per node by default, else `workers` dealt round the nodes."""
    if not nodes:
        raise ConfigError("the Ray cluster has no node with CPUs to run graph runners on")
    count = len(nodes) if workers is None else workers
    if count < 1:
        raise ConfigError(f"--ray-workers must be 1 or more, not {count}")
    return [nodes[index % len(nodes)] for index in range(count)]


class RayCluster:
    """The graph-runner actors of one run: `start` places and opens them, `close` stops them (also on errors)."""

    def __init__(self, ray: Any, specs: Sequence[RunnerSpec], nodes: Sequence[Node], *, start_timeout_s: float,
                 slots: Sequence[int], max_slots: Sequence[int]) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray = ray
        self.nodes = list(nodes)
        self.start_timeout_s = start_timeout_s
        remote = ray.remote(GraphRunner)
        # One logical CPU each, for placement (the sandbox sizes itself from the node); no restarts: a lost actor's
        # threads go to the others, and an actor restarted elsewhere would not find its node's checkpoints anyway.
        self.actors = [remote.options(num_cpus=1, max_restarts=0, max_concurrency=10_000,
                                      scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False))
                       .remote(spec) for spec, node in zip(specs, nodes, strict=True)]
        self.scheduler = RayScheduler(ray, self.actors, slots, max_slots, [spec.llm.concurrency for spec in specs])
        self.reports: list[NodeReport] = []

    def start(self) -> list[NodeReport]:
        refs = [actor.start.remote() for actor in self.actors]
        ready, waiting = self.ray.wait(refs, num_returns=len(refs), timeout=self.start_timeout_s)
        if waiting:
            late = [str(self.nodes[refs.index(ref)].host or self.nodes[refs.index(ref)].node_id) for ref in waiting]
            raise ConfigError(f"{len(waiting)} Ray graph runners did not start within {self.start_timeout_s:.0f} s "
                              f"(nodes: {', '.join(late)}): no free CPU there, or codemill is not installed there")
        self.reports = list(self.ray.get(ready))
        self.reports.sort(key=lambda report: report.index)
        return self.reports

    def close(self) -> None:
        """Close every actor's sandbox and client (briefly), then end the actors."""
        live = [actor for index, actor in enumerate(self.actors) if index not in self.scheduler.lost]
        with contextlib.suppress(Exception):
            self.ray.wait([actor.close.remote() for actor in live], num_returns=len(live), timeout=30)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)


class RayScheduler:
    """Hands planned (seed, task type) items to the actors and awaits `on_result` for each thread's end.

    `attach` (called by the batch runner before `run`) gives it what the local `work` closes over: each
    thread's sandbox runs and refused-request runs so far, the threads `--retry-failed` runs again (their
    checkpoints forgotten, the model asked anew), and where live events go."""

    def __init__(self, ray: Any, actors: Sequence[Any], slots: Sequence[int], max_slots: Sequence[int],
                 shares: Sequence[int]) -> None:
        self.ray = ray
        self.actors = list(actors)
        self.slots, self.max_slots, self.shares = list(slots), list(max_slots), list(shares)
        self.sandbox_runs: dict[str, int] = {}
        self.refused_runs: dict[str, int] = {}
        self.retry: frozenset[str] = frozenset()
        self.on_event: Callable[[Event], None] | None = None
        self.lost: set[int] = set()  # actors lost during the run
        self.redone = 0  # threads handed again after their actor was lost
        self.peak = 0
        self._usage: dict[int, UsageReport] = {}
        self._in_flight: dict[int, int] = {}
        self._sequence: dict[int, int] = {}  # the `sequence` of the totals kept per actor

    def attach(self, *, sandbox_runs: dict[str, int], refused_runs: dict[str, int], retry: Iterable[str],
               on_event: Callable[[Event], None] | None) -> None:
        self.sandbox_runs, self.refused_runs = dict(sandbox_runs), dict(refused_runs)
        self.retry, self.on_event = frozenset(retry), on_event

    # -- what the progress display and the manifest read ------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def usage(self) -> UsageReport:
        return merge_usage(self._usage.values())

    # -- the run ----------------------------------------------------------------------------------------------
    async def run(self, items: Iterable[tuple[SeedInput, TaskType]], work: Callable[[Any], Awaitable[Any]],
                  on_result: Callable[[Any], Awaitable[None]], should_stop: Callable[[], bool]) -> None:
        """`work` is the local runner's and is not used: the actors run the threads."""
        if self.retry:
            forget = sorted(self.retry)
            await asyncio.gather(*(asyncio.wrap_future(actor.forget.remote(forget).future())
                                   for actor in self.actors))
        queue: deque[tuple[SeedInput, TaskType]] = deque(items)
        running: dict[asyncio.Future[Any], tuple[int, Any, tuple[SeedInput, TaskType]]] = {}
        held = [0] * len(self.actors)
        try:
            while True:
                for index, actor in enumerate(self.actors):
                    while queue and not should_stop() and index not in self.lost and held[index] < self._room(index):
                        item = queue.popleft()
                        ref = actor.run.remote(*item, **self._past(*item))
                        running[asyncio.wrap_future(ref.future())] = (index, ref, item)
                        held[index] += 1
                self.peak = max(self.peak, len(running))
                if not running:
                    if queue and not should_stop():
                        raise ClusterLost(f"every Ray graph runner was lost; {len(queue)} threads did not run: "
                                          "re-run the same command to resume")
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    index, _ref, item = running.pop(future)
                    held[index] -= 1
                    try:
                        remote: RemoteResult = future.result()
                    except self._lost_errors() as error:
                        self._lose(index, error)
                        queue.appendleft(item)
                        self.redone += 1
                        continue
                    except self.ray.exceptions.RayTaskError as error:  # `run` never raises: a bug, or no start
                        raise CodemillError(f"Ray graph runner {index} failed: {error}") from error
                    self._absorb(index, remote)
                    await on_result(remote.result)
        finally:
            for _index, ref, _item in running.values():
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref)
            for future in running:
                future.cancel()

    def _past(self, seed: SeedInput, task: TaskType) -> dict[str, Any]:
        """What earlier runs left of a thread, as `run_thread` takes it (see `attach`)."""
        tid = thread_id(seed.id, task)
        return {"sandbox_runs": self.sandbox_runs.get(tid, 0), "refused_runs": self.refused_runs.get(tid, 0),
                "ask_anew": tid in self.retry}

    def _room(self, index: int) -> int:
        """An actor's slots, more while its client has idle request slots (threads in the sandbox hold none)."""
        grow = self._in_flight.get(index, 0) < self.shares[index]
        return self.max_slots[index] if grow and index in self._usage else self.slots[index]

    def _lost_errors(self) -> tuple[type[BaseException], ...]:
        errors = self.ray.exceptions
        return (errors.RayActorError, errors.WorkerCrashedError, errors.NodeDiedError, errors.ObjectLostError,
                errors.LocalRayletDiedError)

    def _lose(self, index: int, error: BaseException) -> None:
        """Drop an actor for the rest of the run, and end it should it be only unreachable: its threads are
        handed again, and two runs of one thread must not write the same checkpoints."""
        self.lost.add(index)
        self._in_flight.pop(index, None)
        with contextlib.suppress(Exception):
            self.ray.kill(self.actors[index], no_restart=True)

    def _absorb(self, index: int, remote: RemoteResult) -> None:
        """Keep an actor's latest totals (two of its results finishing together may arrive in either order)."""
        if remote.sequence > self._sequence.get(index, -1):
            self._sequence[index] = remote.sequence
            self._usage[index], self._in_flight[index] = remote.usage, remote.in_flight
        if self.on_event is not None:
            for thread, agent, kind in remote.events:
                self.on_event(Event(thread=thread, agent=agent, kind=kind))


def merge_usage(reports: Iterable[UsageReport]) -> UsageReport:
    """The sum of several clients' usage, per agent."""
    total = UsageReport()
    for report in reports:
        for name, usage in report.agents.items():
            into = total.agents.setdefault(name, AgentUsage())
            for key in AgentUsage.model_fields:
                setattr(into, key, getattr(into, key) + getattr(usage, key))
        for counts, into_counts in ((report.prompt_only_requests, total.prompt_only_requests),
                                    (report.context, total.context)):
            for key, count in counts.items():
                into_counts[key] = into_counts.get(key, 0) + count
    return total
