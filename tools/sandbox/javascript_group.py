"""JavaScript in the worker: one confined Node process runs one candidate against its tests in turn.

A fresh `node` costs ~40 ms of CPU, twenty times a forked Python check, so a candidate's tests share one
runner (`javascript.RUNNER_JS`), each in a fresh `vm` context. The runner reads its one input frame from
fd 3 (nonce, code, tests) and writes one JSON line per test to fd 4. This side measures each test from
outside (wall time between results, the slot's CPU account), and when the runner dies, hangs or floods
its output during test k, marks test k alone and starts a fresh runner for the tests after it.
Standard library only, like the worker.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:  # (mypy checks the package imports)
    from . import child, javascript
else:  # run as a script by the Sandbox
    import child
    import javascript

READ_CHUNK = 65536
STARTUP_ALLOWANCE_S = 2.0  # Node's own start-up, before the first test's clock starts
GUARD_S = 3.0  # the runner's vm timeout fires first (hostile code may add up to 1.5 s reading what it threw);
# this only catches a runner that stopped answering
RESULT_LINE_CAP = 64 * 1024  # a genuine result line is a few hundred bytes (its message is capped)


def run(worker: Any, request: dict) -> list[dict] | dict:
    """Results for every test of the request, in order; a runner is restarted after each test it lost.
    A dict instead (`{"infra": ...}`) when the harness itself failed: nothing is the candidate's doing."""
    results: list[dict] = []
    while len(results) < len(request["tests"]):
        first = len(results)
        session = worker.in_workdir(lambda workdir, first=first: _session(worker, request, workdir, first))
        if isinstance(session, dict):
            return session
        results += session
    return results


def _session(worker: Any, request: dict, workdir: str, first: int) -> list[dict] | dict:
    limits = request["limits"]
    tests = request["tests"][first:]
    cap = limits["output_bytes"]
    nonce = os.urandom(16).hex()
    frame = javascript.encode_frame(nonce, request["code"], tests, max(1, int(limits["timeout_s"] * 1000)))
    in_r, in_w = os.pipe()
    results_r, results_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    # The CPU limit is the process's: a runner takes every test, each bounded by its own vm timeout.
    rlimits = child.rlimits_for(dict(request, limits=dict(limits, cpu_s=limits["cpu_s"] * len(tests) + 2)), 0)
    cpu_mark = worker.accounting.cpu_ns() if worker.accounting is not None else 0
    argv = javascript.runner_argv(worker.node, worker.runner, limits["memory_mb"])
    pid = worker.fork()
    if pid == 0:
        try:
            child.confine(workdir, worker.uid, worker.stdin_fd, out_w, err_w, (), rlimits, not worker.netns,
                          place=(in_r, results_w))
            child.exec_node(argv)
        except BaseException as error:  # the harness failed; say so on stderr
            try:
                os.write(2, f"sandbox harness: {type(error).__name__}: {error}\n".encode())
            finally:
                os._exit(127)
    for fd in (in_r, results_w, out_w, err_w):
        os.close(fd)
    os.set_blocking(in_w, False)
    pidfd = os.pidfd_open(pid)
    session = _Session(worker, tests, cap, nonce, limits["timeout_s"], cpu_mark)
    try:
        session.follow(pidfd, in_w, frame, results_r, out_r, err_r)
    finally:
        worker.kill_all(pid, by_uid=True)
        _, wait_status, usage = os.wait4(pid, 0)
        worker.reap_orphans()
        for fd in (pidfd, in_w, results_r, out_r, err_r):
            try:  # noqa: SIM105
                os.close(fd)
            except OSError:
                pass
    return session.finish(wait_status, usage.ru_maxrss)


class _Session:
    """What one runner did: results so far, the output of the test running now, why it stopped."""

    def __init__(self, worker: Any, tests: list[str], cap: int, nonce: str, timeout_s: float, cpu_mark: int):
        self.worker, self.tests, self.cap, self.nonce, self.timeout_s = worker, tests, cap, nonce, timeout_s
        self.results: list[dict] = []
        self.out, self.err = bytearray(), bytearray()
        self.lines = bytearray()
        self.stopped: dict | None = None  # the verdict for the test running when the session was cut short
        self.done = False
        self.mark = time.monotonic()
        self.cpu_mark = cpu_mark
        self.deadline = self.mark + timeout_s + GUARD_S + STARTUP_ALLOWANCE_S

    def follow(self, pidfd: int, in_w: int, frame: bytes, results_r: int, out_r: int, err_r: int) -> None:
        pending = memoryview(frame)
        readers = [results_r, out_r, err_r, pidfd]
        while not self.done and self.stopped is None:
            wait = self.deadline - time.monotonic()
            if wait <= 0:
                self.stopped = {"status": "timeout", "error_type": "Timeout",
                                "message": f"wall-clock limit of {self.timeout_s} s reached"}
                return
            writers = [in_w] if pending else []
            readable, writable, _ = select.select(readers, writers, [], wait)
            if writable:
                try:
                    pending = pending[os.write(in_w, pending):]
                except BlockingIOError:
                    pass
                except BrokenPipeError:  # the runner is gone: its exit is judged below
                    pending = pending[:0]
            for fd in readable:
                if fd == pidfd:
                    continue
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    readers.remove(fd)
                elif fd == results_r:
                    self._take_lines(chunk)
                else:
                    (self.out if fd == out_r else self.err).extend(chunk)
            if len(self.out) + len(self.err) > self.cap:
                self.stopped = {"status": "output_limit", "error_type": "OutputLimit",
                                "message": f"wrote more than {self.cap} bytes"}
                return
            if pidfd in readable:
                for fd in (results_r, out_r, err_r):  # what it wrote before exiting
                    if fd in readers:
                        _drain(fd, self._take_lines if fd == results_r else (self.out if fd == out_r
                                                                              else self.err).extend)
                return

    def _take_lines(self, chunk: bytes) -> None:
        self.lines.extend(chunk)
        while not self.done and self.stopped is None and b"\n" in self.lines:
            line, _, rest = bytes(self.lines).partition(b"\n")
            self.lines = bytearray(rest)
            self._take(line)
        if len(self.lines) > RESULT_LINE_CAP:
            self.stopped = {"status": "crashed", "error_type": "BadReport",
                            "message": "the runner wrote an oversized result line"}

    def _take(self, line: bytes) -> None:
        verified = javascript.parse_result_line(line, self.nonce)
        if verified is None:
            self.stopped = {"status": "crashed", "error_type": "BadReport",
                            "message": "the runner's result line was not genuine"}
            return
        if verified.done:
            self.done = len(self.results) == len(self.tests)
            if not self.done:
                self.stopped = {"status": "crashed", "error_type": "BadReport",
                                "message": "the runner finished without a result for every test"}
            return
        if verified.position != len(self.results):
            self.stopped = {"status": "crashed", "error_type": "BadReport",
                            "message": "the runner's result lines were out of order"}
            return
        status, error_type, text = verified.status, verified.error_type, verified.message
        now = time.monotonic()
        cpu = self.worker.accounting.cpu_ns() if self.worker.accounting is not None else self.cpu_mark
        self.results.append({
            "status": status, "error_type": error_type, "message": text[:2000], "refused": None,
            "exec_s": now - self.mark, "cpu_s": (cpu - self.cpu_mark) / 1e9,
            "stdout": bytes(self.out[:self.cap]).decode("utf-8", "replace"),
            "stderr": bytes(self.err[:max(0, self.cap - len(self.out))]).decode("utf-8", "replace")})
        self.out, self.err = bytearray(), bytearray()
        self.mark, self.cpu_mark = now, cpu
        self.deadline = now + self.timeout_s + GUARD_S

    def finish(self, wait_status: int, peak_memory_kb: int) -> list[dict] | dict:
        """The results of this session: every test answered, then the one it was cut short on."""
        for result in self.results:
            result["peak_memory_kb"] = peak_memory_kb
        if self.done:
            return self.results
        verdict = self.stopped or self._death(wait_status)
        if verdict is None:
            return {"infra": "the JavaScript runner failed before running the code: "
                             + bytes(self.err[-500:]).decode("utf-8", "replace").strip()}
        cpu = self.worker.accounting.cpu_ns() if self.worker.accounting is not None else self.cpu_mark
        verdict.update(refused=None, exec_s=time.monotonic() - self.mark, cpu_s=(cpu - self.cpu_mark) / 1e9,
                       peak_memory_kb=peak_memory_kb,
                       stdout=bytes(self.out[:self.cap]).decode("utf-8", "replace"),
                       stderr=bytes(self.err[:max(0, self.cap - len(self.out))]).decode("utf-8", "replace"))
        return [*self.results, verdict]

    def _death(self, wait_status: int) -> dict | None:
        """The verdict for a runner that exited before answering every test; None: the harness failed."""
        if b"heap out of memory" in self.err or b"Allocation failed" in self.err:
            return {"status": "memory", "error_type": "MemoryError", "message": "JavaScript heap out of memory"}
        if os.WIFSIGNALED(wait_status):
            number = os.WTERMSIG(wait_status)
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            if number == signal.SIGXCPU:
                return {"status": "timeout", "error_type": name, "message": "CPU-time limit reached"}
            return {"status": "crashed", "error_type": name, "message": f"killed by {name}"}
        code = os.WEXITSTATUS(wait_status)
        if code == 127 and not self.results:
            return None
        return {"status": "crashed", "error_type": "EarlyExit",
                "message": f"the runner exited with code {code} during this test"}


def _drain(fd: int, take: Any) -> None:
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, READ_CHUNK):
            take(chunk)
    except BlockingIOError:
        pass
