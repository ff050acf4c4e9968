"""`Sandbox`: a pool of warm fork-server workers that runs checks in parallel, one confined child each.

Each worker is a separate process (inside its own network and mount namespaces when possible); a
dispatcher thread per worker hands it checks, so all cores stay busy while the caller's thread (or event
loop) only collects results. A worker that dies or hangs is replaced and only its check is marked.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

from tools.errors import SandboxError
from tools.sandbox.isolation import plan_slots
from tools.sandbox.slots import Job, Slot, WorkerProcess

if TYPE_CHECKING:  # not at run time: a command launches the workers before pydantic has loaded
    from tools.sandbox.models import Check, CheckResult, Language, Limits

JS_GROUP_MAX = 64  # tests one Node runner takes in a row (a group's guard timeout grows with it)


class Sandbox:
    """Run untrusted checks (code + test) in confined, disposable processes; see `tools/sandbox/`."""

    def __init__(self, *, workers: int | None = None, limits: Limits | None = None,
                 allowed_packages: Sequence[str] = (), precompile: Iterable[tuple[str, str]] = ()) -> None:
        """`allowed_packages`: top-level packages beyond the standard library the checks may import (the
        sealed filesystem shows them nothing else). `precompile`: Python sources the first checks will run,
        as ("code", candidate) or ("test", test), read while the workers boot; each worker compiles them
        until its first check arrives (a hint: what it misses is compiled when a check needs it)."""
        self.workers = workers or os.cpu_count() or 1
        if self.workers < 1:
            raise SandboxError("a sandbox needs at least one worker")
        try:
            plans = plan_slots(self.workers, allowed_packages=list(allowed_packages))
        except ValueError as error:
            raise SandboxError(str(error)) from error
        self._limits = limits
        self.replaced_workers = 0  # how many workers died or hung and were replaced
        self._closed = True  # until the workers are up
        self._lock = threading.Lock()
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._slots: list[Slot] = []
        launched: list[WorkerProcess] = []
        try:
            for plan in plans:  # they boot in parallel
                launched.append(WorkerProcess(plan))
            hint = [[entry[0], entry[1]] for entry in precompile  # read while they boot; malformed ones dropped
                    if isinstance(entry, tuple | list) and len(entry) == 2 and entry[0] in ("code", "test")
                    and isinstance(entry[1], str)]
            for worker in launched:
                worker.wait_ready()
            if hint:  # before any check: the slots, which own the pipes, have not started yet
                for worker in launched:
                    worker.offer("precompile", hint)
        except BaseException:
            for worker in launched:
                worker.kill()
            raise
        self._slots = [Slot(worker, self._jobs, on_replace=self._count_replacement, peers=len(launched))
                       for worker in launched]
        for slot in self._slots:
            slot.start()
        self._closed = False

    @property
    def limits(self) -> Limits:
        """The limits of a check that brings none (`Limits()` unless given)."""
        if self._limits is None:
            from tools.sandbox.models import Limits  # here: a sandbox starts before pydantic loads

            self._limits = Limits()
        return self._limits

    def _count_replacement(self, old: WorkerProcess, new: WorkerProcess) -> None:
        with self._lock:
            self.replaced_workers += 1

    @property
    def host_readable(self) -> bool:
        """True when the checks could not be given a sealed filesystem (no root, no mount namespace)."""
        return self.isolation.get("filesystem", "").startswith("host readable")

    @property
    def isolation(self) -> dict[str, str]:
        """Which protections are active (network, user, filesystem, process, timing)."""
        info = dict(self._slots[0].worker.isolation) if self._slots else {}
        info.pop("pid", None)
        info["workers"] = f"{self.workers} warm fork servers"
        return info

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (they change when a worker is replaced)."""
        return [slot.worker.pid for slot in self._slots]

    @property
    def slot_uids(self) -> list[int]:
        """The unprivileged uid of each worker slot (empty when privileges cannot be dropped)."""
        return sorted(slot.worker.plan.uid for slot in self._slots if slot.worker.plan.uid is not None)

    def run(self, checks: Sequence[Check], *,
            on_result: Callable[[int, CheckResult], None] | None = None) -> list[CheckResult]:
        """Run all checks on all workers; results in input order, `on_result(i, r)` as each finishes."""
        futures = self.submit(checks)
        if on_result is None:  # sleep until the last result: one wake-up instead of one per check
            _wait_all(futures)
            return [future.result() for future in futures]
        finished: queue.SimpleQueue[Future[CheckResult]] = queue.SimpleQueue()
        position = {future: index for index, future in enumerate(futures)}
        for future in futures:
            future.add_done_callback(finished.put)
        results: dict[int, CheckResult] = {}
        for _ in futures:
            done = finished.get()
            index = position[done]
            results[index] = done.result()
            on_result(index, results[index])
        return [results[index] for index in range(len(futures))]

    async def arun(self, checks: Sequence[Check]) -> list[CheckResult]:
        """Like `run`, awaitable; the event loop stays free while checks execute."""
        import asyncio  # here, not at the top: a command starts the sandbox before its heavier imports

        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in self.submit(checks))))

    def run_one(self, check: Check) -> CheckResult:
        return self.run([check])[0]

    def matrix(self, candidates: Sequence[str], tests: Sequence[str], *, language: Language = "python",
               limits: Limits | None = None) -> list[list[CheckResult]]:
        """The N×M pass matrix: row i holds candidate i against every test."""
        from tools.sandbox.models import Check

        checks = [Check(code=code, test=test, language=language, limits=limits)
                  for code in candidates for test in tests]
        flat = self.run(checks)
        width = len(tests)
        return [flat[row * width:(row + 1) * width] for row in range(len(candidates))]

    def submit(self, checks: Sequence[Check]) -> list[Future[CheckResult]]:
        """Queue the checks and return at once: one future per check, in input order (a driver that
        handles many tasks reacts to their futures instead of blocking or awaiting per task)."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        jobs = [Job(request, timeout_s) for request, timeout_s in self._requests(checks)]
        for job in jobs:
            self._jobs.put(job)
        return [future for job in jobs for future in job.futures]

    def _requests(self, checks: Sequence[Check]) -> list[tuple[dict, float]]:
        """One request per Python check; consecutive JavaScript checks of the same code and limits share
        one (one Node runner for a candidate's tests), up to `JS_GROUP_MAX` tests."""
        requests: list[tuple[dict, float]] = []
        last: Check | None = None
        for check in checks:
            limits = check.limits or self.limits
            if check.language == "javascript":
                if (last is not None and last.language == "javascript" and last.code == check.code
                        and (last.limits or self.limits) == limits and len(requests[-1][0]["tests"]) < JS_GROUP_MAX):
                    requests[-1][0]["tests"].append(check.test)
                else:
                    requests.append(({"language": "javascript", "code": check.code, "tests": [check.test],
                                      "limits": _limits(limits)}, limits.timeout_s))
            else:
                requests.append(({"language": check.language, "code": check.code, "test": check.test,
                                  "limits": _limits(limits)}, limits.timeout_s))
            last = check
        return requests

    def close(self, *, cancel: bool = False) -> None:
        """Finish the checks already submitted, then stop the workers (each removes its files). `cancel`
        (an interrupted caller: leaving the `with` block by an exception): queued checks fail as cancelled
        instead of running, and the running ones are killed."""
        if self._closed:
            return
        self._closed = True
        if cancel:
            self._fail_queued("the sandbox was closed before this check ran (interrupted)")
            for slot in self._slots:
                slot.abandon()
        for _ in self._slots:
            self._jobs.put(None)
        for slot in self._slots:
            slot.join()
        self._fail_queued("the sandbox was closed before this check ran")
        for slot in self._slots:  # all clean up at once
            slot.worker.ask_to_stop()
        for slot in self._slots:
            slot.worker.stop()

    def _fail_queued(self, why: str) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.start():
                job.fail(SandboxError(why))

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self.close(cancel=exc_type is not None)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


def _limits(limits: Limits) -> dict:
    return dict(limits.model_dump(), cpu_s=limits.cpu_s or limits.timeout_s + 1)


def _wait_all(futures: Sequence[Future[CheckResult]]) -> None:
    """Block until every future is done; the slot threads count down, only the last one wakes us."""
    all_done = threading.Event()
    when_all_done(futures, all_done.set)
    all_done.wait()


def when_all_done(futures: Sequence[Future[CheckResult]], then: Callable[[], object]) -> None:
    """Call `then()` once, from whichever thread completes the last future (at once if there are none)."""
    if not futures:
        then()
        return
    remaining = [len(futures)]
    lock = threading.Lock()

    def count_down(_: Future[CheckResult]) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            then()

    for future in futures:
        future.add_done_callback(count_down)
