"""Which thread runs when (the Ray issue replaces only this module).

A scheduler takes the planned items, a `work` coroutine that never raises (`graphs.thread_runner.run_thread`),
and `on_result`, a coroutine awaited once per finished piece of work, one at a time (the batch writes its rows
there). It
starts no new work once `should_stop()` says so. If `on_result` raises (a full disk, the circuit breaker), the
work in flight is cancelled and the error propagates; so does cancellation of the scheduler itself.

`BoundedScheduler` keeps `concurrency` threads running. Given `grow_while` (e.g. "the model has idle request
slots"), it starts more, up to `max_concurrency`, while that holds: threads that wait for the sandbox hold no
request, so a fixed number of threads would leave the model idle whenever execution is the slower stage.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
GROW_CHECK_S = 0.05  # how often `grow_while` is asked when no thread finishes


def threads_for(concurrency: int, endpoints: int, threads_per_request: float = 2.0) -> int:
    """Threads that keep `concurrency` requests in flight on each of `endpoints`: a thread has at most one or two
    requests in flight and spends part of its life in the sandbox, so there are more threads than request slots
    (the LLM client's semaphores keep the requests themselves within the cap)."""
    return max(1, math.ceil(concurrency * max(endpoints, 1) * threads_per_request))


class Scheduler(Protocol):
    async def run(self, items: Iterable[Any], work: Callable[[Any], Awaitable[Any]],
                  on_result: Callable[[Any], Awaitable[None]], should_stop: Callable[[], bool]) -> None: ...


class BoundedScheduler:
    """At least `concurrency` pieces of work at once (while there are items), on this event loop; more, up to
    `max_concurrency`, while `grow_while()` is true."""

    def __init__(self, concurrency: int, *, grow_while: Callable[[], bool] | None = None,
                 max_concurrency: int | None = None) -> None:
        self.concurrency = max(1, concurrency)
        self.grow_while = grow_while
        self.max_concurrency = max(self.concurrency, max_concurrency or self.concurrency)
        # Growth is gradual (an eighth of `concurrency` per check): a thread needs a moment to send its first
        # request, and starting hundreds at once would stall the event loop that sends them.
        self.grow_step = max(1, self.concurrency // 8)
        self.peak = 0  # the most pieces of work that ran at once

    def _room(self, running: int, grown: int) -> bool:
        if running < self.concurrency:
            return True
        return (self.grow_while is not None and running < self.max_concurrency and grown < self.grow_step
                and self.grow_while())

    async def run(self, items: Iterable[ItemT], work: Callable[[ItemT], Awaitable[ResultT]],
                  on_result: Callable[[ResultT], Awaitable[None]], should_stop: Callable[[], bool]) -> None:
        pending: Iterator[ItemT] = iter(items)
        running: set[asyncio.Task[ResultT]] = set()
        exhausted = False
        growing = self.grow_while is not None and self.max_concurrency > self.concurrency
        try:
            while True:
                grown = 0
                while not exhausted and not should_stop() and self._room(len(running), grown):
                    grown += len(running) >= self.concurrency
                    try:
                        item = next(pending)
                    except StopIteration:
                        exhausted = True
                        break
                    running.add(asyncio.ensure_future(work(item)))
                self.peak = max(self.peak, len(running))
                if not running:
                    return
                wait_s = GROW_CHECK_S if growing and not exhausted else None
                done, _ = await asyncio.wait(running, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    running.discard(task)
                    await on_result(task.result())
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
