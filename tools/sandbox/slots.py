"""Worker processes and the dispatcher threads that feed them.

One `Slot` thread owns one worker process. It keeps up to `PIPELINE_DEPTH` small requests queued in the
worker's input pipe, so the worker starts the next check the moment the last one ends instead of
waiting for this thread to be scheduled. A worker that dies or hangs is replaced: the check it was
running is marked, the checks queued behind it go to the replacement.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from tools.errors import SandboxError
from tools.sandbox import protocol
from tools.sandbox.isolation import WorkerPlan, worker_env
from tools.sandbox.models import CheckResult, Status

HELLO_TIMEOUT_S = 30.0
GUARD_S = 10.0  # the worker enforces each timeout; the parent only steps in if the worker itself hangs
PIPELINE_DEPTH = 2
PIPELINE_MAX_BYTES = 16 * 1024  # larger requests are not queued ahead (pipes must never fill both ways)


class WorkerProcess:
    """One running worker and its pipes."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.process = subprocess.Popen(plan.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=worker_env(), close_fds=True, start_new_session=True)
        self.replies = protocol.FrameReader(self.process.stdout.fileno())
        try:
            hello = self.replies.read(time.monotonic() + HELLO_TIMEOUT_S)
        except (protocol.ChannelClosed, TimeoutError) as error:
            self.kill()
            raise SandboxError(f"sandbox worker failed to start ({' '.join(plan.command()[:4])} …): {error}") \
                from error
        self.isolation: dict[str, str] = hello["hello"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, request: dict) -> None:
        protocol.write_frame(self.process.stdin.fileno(), request)

    def receive(self, deadline: float) -> dict:
        return self.replies.read(deadline)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.stop()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close its input (the worker then cleans up and exits); kill it if it does not."""
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Job:
    """A check on its way through a slot."""

    __slots__ = ("future", "request", "sent_at", "size", "timeout_s")

    def __init__(self, request: dict, timeout_s: float) -> None:
        self.request = request
        self.timeout_s = timeout_s
        self.future: Future[CheckResult] = Future()
        self.size = len(request["code"]) + len(request["test"])
        self.sent_at = 0.0


class Slot(threading.Thread):
    """Feeds one worker from the shared job queue until it receives `None`."""

    def __init__(self, plan: WorkerPlan, jobs: queue.Queue[Job | None],
                 on_replace: Callable[[WorkerProcess, WorkerProcess], None]) -> None:
        super().__init__(name=f"sandbox-slot-{plan.uid}", daemon=True)
        self.worker = WorkerProcess(plan)
        self.jobs = jobs
        self.on_replace = on_replace
        self.inflight: collections.deque[Job] = collections.deque()
        self.broken: SandboxError | None = None

    def run(self) -> None:
        while True:
            if not self.inflight:
                job = self.jobs.get()
                if job is None:
                    return
                if self.broken is not None:  # no worker could be started: fail fast, never hang
                    if job.future.set_running_or_notify_cancel():
                        job.future.set_exception(self.broken)
                    continue
                self._send(job)
                if not self.inflight:  # it was cancelled before it started
                    continue
            while self.inflight and len(self.inflight) < PIPELINE_DEPTH \
                    and self.inflight[-1].size < PIPELINE_MAX_BYTES:
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
        if not job.future.set_running_or_notify_cancel():
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
            status = Status.TIMEOUT if isinstance(error, TimeoutError) else Status.CRASHED
            reply = {"status": status, "error_type": "WorkerLost",
                     "message": f"sandbox worker lost during the check ({error}); replaced"}
            self.inflight.popleft()
            self._replace()
        else:
            self.inflight.popleft()
        finished = time.perf_counter()
        if self.inflight:  # the next one started when this one ended, not when it was queued
            self.inflight[0].sent_at = finished
        reply.pop("child_wall_s", None)
        try:
            job.future.set_result(CheckResult(**reply, wall_s=finished - job.sent_at))
        except ValueError as error:  # a malformed reply must fail its check, not this thread
            job.future.set_exception(SandboxError(f"unreadable reply from the sandbox worker: {error}"))

    def _replace(self) -> None:
        old = self.worker
        old.kill()
        try:
            self.worker = WorkerProcess(old.plan)
        except SandboxError as error:
            self.broken = error
            for job in self.inflight:
                job.future.set_exception(error)
            self.inflight.clear()
            return
        self.on_replace(old, self.worker)
        for job in self.inflight:  # never started: hand them to the new worker
            with contextlib.suppress(protocol.ChannelClosed):
                self.worker.send(job.request)
