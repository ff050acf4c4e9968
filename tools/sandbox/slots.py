"""Worker processes and the dispatcher threads that feed them.

One `Slot` thread owns one worker process. It keeps up to `PIPELINE_DEPTH` small requests queued in the
worker's input pipe, so the worker starts the next check the moment the last one ends instead of
waiting for this thread to be scheduled. A worker that dies or hangs is replaced: the check it was
running is marked, the checks queued behind it go to the replacement.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from tools.errors import SandboxError
from tools.sandbox import protocol
from tools.sandbox.isolation import WorkerPlan, worker_env

if TYPE_CHECKING:  # not at run time: workers are launched before pydantic has loaded (see `isolation`)
    from tools.sandbox.models import CheckResult

HELLO_TIMEOUT_S = 60.0
GUARD_S = 15.0  # the worker enforces each timeout (after a set-up allowance); the parent only steps in if the
# worker itself hangs
PIPELINE_DEPTH = 4  # the worker forks the checks it finds waiting together (`worker.BATCH_MAX`)
PIPELINE_MAX_BYTES = 16 * 1024  # no more is queued ahead (pipes must never fill both ways)
OFFER_PIPE_BYTES = 256 * 1024  # the most a hint takes of a worker's request pipe (briefly: the worker shrinks it)
RETRIES_AFTER_LOSS = 1  # a check whose worker died or hung runs once more on a fresh one, then errors


class WorkerProcess:
    """One worker and its pipes: launched by the constructor, serving once `wait_ready` has returned."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.process = subprocess.Popen(plan.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=worker_env(), close_fds=True, start_new_session=True)
        assert self.process.stdin is not None and self.process.stdout is not None  # both are PIPEs
        self.requests_pipe, self.replies_pipe = self.process.stdin, self.process.stdout
        self.replies = protocol.FrameReader(self.replies_pipe.fileno())
        self.isolation: dict[str, str] = {}

    @classmethod
    def start(cls, plan: WorkerPlan) -> WorkerProcess:
        """Launch a worker and wait until it serves."""
        worker = cls(plan)
        worker.wait_ready()
        return worker

    def wait_ready(self) -> None:
        """Wait for the worker's hello (it has booted and sealed its root); kill it and raise SandboxError
        if it never comes."""
        try:
            hello = self.replies.read(time.monotonic() + HELLO_TIMEOUT_S)
        except (protocol.ChannelClosed, TimeoutError) as error:
            self.kill()
            raise SandboxError(f"sandbox worker failed to start ({' '.join(self.plan.command()[:4])} …): "
                               f"{error}") from error
        self.isolation = hello["hello"]

    @property
    def pid(self) -> int:
        """The worker's own pid (on the host). With a pid namespace `unshare` forks, and the worker is
        its only child; the process we started is then `unshare`, waiting."""
        if not self.plan.pidns:
            return self.process.pid
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return self.process.pid
        return int(children[0]) if children else self.process.pid

    def send(self, request: dict) -> None:
        protocol.write_frame(self.requests_pipe.fileno(), request)

    def offer(self, key: str, items: list) -> int:
        """Send `{key: items[:n]}` (a hint, e.g. sources to precompile) before the worker's first request,
        with n as large as its request pipe takes whole at once: grown toward OFFER_PIPE_BYTES for it where
        the system allows (the worker shrinks it back once read). The write never waits on a worker that does
        not read; returns n (0: nothing sent)."""
        fd = self.requests_pipe.fileno()
        data, count = protocol.frame_within(key, items, OFFER_PIPE_BYTES)
        try:
            if count and fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < len(data):
                with contextlib.suppress(OSError):  # EPERM: this user's pipe buffers are at their limit
                    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, len(data))
                room = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
                if room < len(data):
                    data, count = protocol.frame_within(key, items, room)
            if count:
                protocol.write_all(fd, data)  # the pipe is empty and holds it whole: no waiting
        except (OSError, protocol.ChannelClosed):  # (a dead worker shows at its first check)
            return 0
        return count

    def receive(self, deadline: float) -> dict:
        return self.replies.read(deadline)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.stop()

    def ask_to_stop(self) -> None:
        """Close its pipes: the worker then cleans up and exits (`stop` waits for it)."""
        for stream in (self.requests_pipe, self.replies_pipe):
            with contextlib.suppress(OSError):
                stream.close()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close its input (the worker then cleans up and exits); kill it if it does not."""
        self.ask_to_stop()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Job:
    """One request on its way through a slot: a Python check, or a JavaScript candidate with its tests
    (one future per test). A job whose worker was lost is retried once on a fresh worker."""

    __slots__ = ("futures", "lost", "request", "sent_at", "size", "timeout_s")

    def __init__(self, request: dict, timeout_s: float) -> None:
        self.request = request
        tests = request["tests"] if "tests" in request else [request["test"]]
        self.timeout_s = timeout_s * len(tests)
        self.futures: list[Future[CheckResult]] = [Future() for _ in tests]
        self.size = len(request["code"]) + sum(len(test) for test in tests)
        self.sent_at = 0.0
        self.lost = 0  # times its worker died or hung under it

    def start(self) -> bool:
        """Mark the futures running; False if every one was cancelled (the job is then dropped). One
        cancelled alone still runs with the others; its result is dropped."""
        return any([future.set_running_or_notify_cancel() for future in self.futures])

    def fail(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)

    def resolve(self, replies: list[dict], wall_s: float) -> None:
        from tools.sandbox.models import CheckResult  # (loaded by then: a check was built from its models)

        if len(replies) != len(self.futures):  # a worker bug, never the code's verdict; must not kill the slot
            self.fail(SandboxError(f"the sandbox worker answered {len(replies)} result(s) for {len(self.futures)}"))
            return
        for future, reply in zip(self.futures, replies, strict=True):
            reply.pop("child_wall_s", None)
            if future.done():
                continue
            try:
                future.set_result(CheckResult(**reply, wall_s=wall_s / len(replies)))
            except ValueError as error:  # a malformed reply must fail its check, not this thread
                future.set_exception(SandboxError(f"unreadable reply from the sandbox worker: {error}"))


class Slot(threading.Thread):
    """Feeds one worker from the shared job queue until it receives `None`."""

    def __init__(self, worker: WorkerProcess, jobs: queue.Queue[Job | None],
                 on_replace: Callable[[WorkerProcess, WorkerProcess], None], peers: int = 1) -> None:
        super().__init__(name=f"sandbox-slot-{worker.plan.uid}", daemon=True)
        self.worker = worker
        self.jobs = jobs
        self.peers = peers  # slots sharing `jobs`: each takes ahead only while the others would still find work
        self.on_replace = on_replace
        self.inflight: collections.deque[Job] = collections.deque()
        self.broken: SandboxError | None = None
        self.abandoned = False  # set by `abandon`: the worker is being killed, its checks are dropped

    def abandon(self) -> None:
        """Kill the worker now (the caller was interrupted): what it runs fails as cancelled, nothing is
        retried or replaced, and the thread ends at the next `None`."""
        self.abandoned = True
        self.worker.kill()

    def run(self) -> None:
        while True:
            if not self.inflight:
                job = self.jobs.get()
                if job is None:
                    return
                if self.broken is not None:  # no worker could be started: fail fast, never hang
                    if job.start():
                        job.fail(self.broken)
                    continue
                self._send(job)
                if not self.inflight:  # it was cancelled before it started
                    continue
            while self.inflight and len(self.inflight) < PIPELINE_DEPTH \
                    and sum(queued.size for queued in self.inflight) < PIPELINE_MAX_BYTES \
                    and self.jobs.qsize() >= self.peers * len(self.inflight):  # (a fair share, not a hoard)
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)  # stop after the work in hand
                    break
                if job.size >= PIPELINE_MAX_BYTES:
                    self._finish_inflight()
                self._send(job)
            if self.inflight:
                self._receive()

    def _finish_inflight(self) -> None:
        while self.inflight:
            self._receive()

    def _send(self, job: Job) -> None:
        if not job.start():
            return
        job.sent_at = time.perf_counter()
        self.inflight.append(job)
        with contextlib.suppress(protocol.ChannelClosed):  # a dead worker shows when we read
            self.worker.send(job.request)

    def _receive(self) -> None:
        job = self.inflight[0]
        deadline = time.monotonic() + job.timeout_s + GUARD_S
        try:
            reply = self.worker.receive(deadline)
        except (protocol.ChannelClosed, TimeoutError) as error:
            if self.abandoned:
                for lost in self.inflight:
                    lost.fail(SandboxError("the sandbox was closed during this check (interrupted)"))
                self.inflight.clear()
                return
            job.lost += 1
            self.inflight.popleft()
            self._replace()
            if job.lost <= RETRIES_AFTER_LOSS and self.broken is None:  # the infrastructure's fault, not
                self.inflight.appendleft(job)  # the code's: the check runs again, first, on the new worker
                job.sent_at = time.perf_counter()
                with contextlib.suppress(protocol.ChannelClosed):
                    self.worker.send(job.request)
                    for queued in list(self.inflight)[1:]:
                        self.worker.send(queued.request)
                return
            job.fail(SandboxError(f"sandbox worker lost twice during this check ({error}); not the code's "
                                  "verdict"))
            return
        self.inflight.popleft()
        finished = time.perf_counter()
        if self.inflight:  # the next one started when this one ended, not when it was queued
            self.inflight[0].sent_at = finished
        if "infra" in reply:
            job.fail(SandboxError(f"sandbox infrastructure: {reply['infra']}"))
        elif "results" in reply:
            job.resolve(reply["results"], finished - job.sent_at)
        else:
            job.resolve([reply], finished - job.sent_at)

    def _replace(self) -> None:
        old = self.worker
        old.kill()
        try:
            self.worker = WorkerProcess.start(old.plan)
        except SandboxError as error:
            self.broken = error
            for job in self.inflight:
                job.fail(error)
            self.inflight.clear()
            return
        self.on_replace(old, self.worker)
