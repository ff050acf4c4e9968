"""Many tasks through one sandbox from one thread: `verify_all` keeps a window of `TaskRun`s in flight and
hands each finished record to a callback, in the caller's thread.

No event loop and no thread per task: a round's futures report through a queue, and the caller's thread
scores, plans the next round and writes. On a machine whose cores the sandbox keeps busy, the caller's
share of the CPU is what the whole command costs on top of the checks (an event loop cost 0.1–0.2 ms more
per task: BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import queue
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tools.errors import SandboxError
from tools.sandbox.pool import when_all_done
from tools.verification.task import TaskRun, VerifyResult

if TYPE_CHECKING:
    from concurrent.futures import Future

    from tools.sandbox import CheckResult, Sandbox

Round = tuple[TaskRun, "list[Future[CheckResult]]"]


def verify_all(sandbox: Sandbox, runs: Iterable[TaskRun], window: int,
               finished: Callable[[VerifyResult], None], started: Callable[[], None] | None = None) -> None:
    """Run every task, at most `window` at once; `finished(record)` as each ends (in this thread).
    `started()` once the first window is queued: what it does (e.g. load a display) overlaps the checks."""
    rounds: queue.SimpleQueue[Round] = queue.SimpleQueue()
    pending = iter(runs)
    active = 0

    def start(run: TaskRun) -> bool:
        """Queue the run's next sandbox round; False (and its record handed over) when it is done."""
        while (checks := run.next_checks()) is not None:
            if not checks:
                run.feed([])
                continue
            try:
                futures = sandbox.submit(checks)
            except SandboxError as error:
                run.failed(error)
                break
            when_all_done(futures, functools.partial(rounds.put, (run, futures)))
            return True
        assert run.result is not None
        finished(run.result)
        return False

    def refill() -> int:
        started = 0
        while active + started < window and (run := next(pending, None)) is not None:
            started += start(run)
        return started

    active += refill()
    if started is not None:
        started()
    while active:
        run, futures = rounds.get()
        active -= 1
        try:
            results = [future.result() for future in futures]
        except SandboxError as error:  # lost twice: the infrastructure's failure, recorded as such
            finished(run.failed(error))
        else:
            run.feed(results)
            active += start(run)
        active += refill()

