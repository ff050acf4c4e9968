"""A sandbox worker: a warm fork server that runs one check at a time in a confined child.

Started by `Sandbox` (usually inside `unshare --net --mount`), it speaks `protocol` frames on fds 0/1:
a hello with the isolation it achieved, then one result per request. Standard library only, so the
warm image stays small and a fork stays cheap. Run as a script: `python -E -s worker.py CONFIG_JSON`.

Per-check cost is mostly page faults: after each fork every page either process writes is copied (the
child) or re-faulted (the worker). So the warm-up does once what CPython would otherwise do in every
child (the first `compile()` builds all AST node types), `gc.freeze()` keeps the collector off the
shared heap, and the per-check path stays short (see `benchmarks/executor_speed.py --micro`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import sys
import time

if __package__:
    from . import child, mounts, protocol
    from .javascript import RUNNER_JS
else:  # run as a script by the Sandbox
    import child  # type: ignore[no-redef]
    import mounts  # type: ignore[no-redef]
    import protocol  # type: ignore[no-redef]
    from javascript import RUNNER_JS  # type: ignore[no-redef]

PR_SET_CHILD_SUBREAPER = 36
# What benchmark and generated code import most; small, so a fork stays cheap (no unittest, no numpy).
# Not `random` (nor tempfile, which imports it): once imported, it reseeds itself from Python code after
# every fork (~40 copied pages, more than a whole bare fork costs); the few checks that use it import it.
WARM_MODULES = ("math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
                "typing", "hashlib", "fractions", "datetime", "copy", "operator", "array", "cmath")
READ_CHUNK = 65536
REPORT_CAP = 1 << 20  # a genuine completion report is a few hundred bytes (its message is capped)
_exit = os._exit


class Worker:
    def __init__(self, config: dict) -> None:
        self.uid: int | None = config.get("uid")
        self.node: str = config.get("node", "/usr/bin/node")
        self.netns: bool = config.get("netns", False)
        self.mounted = mounts.mount_private_tmpfs() if config.get("mountns") else []
        self.base = os.path.join("/tmp", f"codemill-sandbox-{os.urandom(8).hex()}")
        os.mkdir(self.base, 0o700)
        self.exposed: list[str] = []
        if self.mounted and self.uid is not None:  # the checks' uid must be able to import the stdlib
            runtime = [sys.prefix, sys.base_prefix, *sys.path[1:], os.path.dirname(os.path.realpath(self.node))]
            self.exposed = mounts.expose(runtime, self.base)
        os.chmod(self.base, 0o711)  # children may traverse to their own dir, not list the others
        self.runner = os.path.join(self.base, "runner.js")
        with open(self.runner, "w", encoding="utf-8") as handle:
            handle.write(RUNNER_JS)
        os.chmod(self.runner, 0o644)
        self.counter = 0
        # Sticky, world-writable mounts holding only root's entries: a check can add entries, never
        # remove ours, so an unchanged entry count means nothing was left there.
        self.tmpfs_entries = mounts.entry_counts(self.mounted)
        self.stdin_fd = -1  # /dev/null for the checks, opened by child.prepare_worker
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come back to us for reaping

    def isolation(self) -> dict[str, str]:
        user = f"uid {self.uid}" if self.uid is not None else f"unchanged (uid {os.getuid()}, not root)"
        if self.mounted:
            filesystem = (f"private work dir, private tmpfs on {', '.join(self.mounted)}, uid cannot write"
                          " elsewhere" + (f"; re-exposed {', '.join(self.exposed)}" if self.exposed else ""))
        elif self.uid is not None:
            filesystem = "private work dir; unprivileged uid (shared /tmp still writable)"
        else:
            filesystem = "private work dir only"
        return {"network": "netns" if self.netns else "sockets-disabled", "user": user,
                "filesystem": filesystem, "process": "fork per check, own process group, rlimits",
                "pid": str(os.getpid())}

    def run_check(self, request: dict) -> dict:
        self.counter += 1
        workdir = os.path.join(self.base, f"check-{self.counter}")
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        try:
            return self._supervise(request, workdir)
        finally:
            try:
                os.rmdir(workdir)  # the common case: the check left nothing behind
            except OSError:
                shutil.rmtree(workdir, ignore_errors=True)
            if self.mounted and (self.tmpfs_entries is None
                                 or self.tmpfs_entries != [os.stat(m).st_size for m in self.mounted]):
                mounts.clean_private_tmpfs(self.mounted, keep=self.base)
            self._reap_orphans()

    def _supervise(self, request: dict, workdir: str) -> dict:
        limits = request["limits"]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        report_r, report_w = os.pipe()
        nonce_r, nonce_w = os.pipe()
        # Everything the supervision loop needs is allocated before the fork: while the child lives,
        # each page the worker writes is copied (copy-on-write), so the post-fork path stays lean.
        streams = {out_r: bytearray(), err_r: bytearray(), report_r: bytearray()}
        deadline = time.monotonic() + limits["timeout_s"]
        cap = limits["output_bytes"]
        os.environ["HOME"] = os.environ["TMPDIR"] = workdir  # set here, the child inherits it for free
        rlimits = child.rlimits_for(request, child.address_space_now())
        keep = (report_w, nonce_r) if report_w < nonce_r else (nonce_r, report_w)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                child.confine(workdir, self.uid, self.stdin_fd, out_w, err_w, keep, rlimits, not self.netns)
                if request["language"] == "javascript":
                    child.exec_node(dict(request, node=self.node), self.runner, report_w, nonce_r)
                else:
                    child.run_python(request, report_w, nonce_r, private_uid=self.uid is not None)
            except BaseException as error:  # the harness itself failed (user code errors never get here)
                with contextlib.suppress(BaseException):
                    os.write(2, f"sandbox harness: {type(error).__name__}: {error}\n".encode())
            finally:
                _exit(127)  # pre-bound: the code may have replaced os._exit
        started = deadline - limits["timeout_s"]
        # Plain try/except, not contextlib.suppress, on the path that runs while the child lives:
        # every page the worker writes then is a copy.
        try:  # noqa: SIM105
            os.setpgid(pid, pid)
        except OSError:  # the child may have done it already (or be gone)
            pass
        for fd in (out_w, err_w, report_w, nonce_r):
            os.close(fd)
        nonce = os.urandom(16).hex()
        try:  # noqa: SIM105
            os.write(nonce_w, nonce.encode("ascii"))
        except BrokenPipeError:  # a child that died at once is judged below
            pass
        os.close(nonce_w)
        pidfd = os.pidfd_open(pid)
        watched = [out_r, err_r, report_r, pidfd]
        outcome = None
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                outcome = "timeout"
                break
            ready = select.select(watched, [], [], wait)[0]
            if pidfd in ready:
                break
            for fd in ready:
                chunk = os.read(fd, READ_CHUNK)
                if chunk:
                    streams[fd] += chunk
                else:
                    watched.remove(fd)
            if len(streams[out_r]) + len(streams[err_r]) > cap:
                outcome = "output_limit"
                break
            if len(streams[report_r]) > REPORT_CAP:
                outcome = "bad_report"
                break
        reported = (_drain(report_r, streams[report_r], REPORT_CAP) if report_r in watched
                    else bool(streams[report_r]))
        self._kill_all(pid, by_uid=outcome is not None or not reported)
        _, wait_status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - started
        os.close(pidfd)
        for fd in (out_r, err_r, report_r):  # whatever was written before the end, without blocking
            if fd in watched:  # (not at end of file yet)
                _drain(fd, streams[fd], REPORT_CAP if fd == report_r else cap + READ_CHUNK)
            os.close(fd)
        if outcome is None and len(streams[out_r]) + len(streams[err_r]) > limits["output_bytes"]:
            outcome = "output_limit"  # written just before exiting, after the loop's last look
        result = self._verdict(outcome, wait_status, bytes(streams[report_r]), nonce, limits, wall)
        result.update(
            stdout=bytes(streams[out_r][:cap]).decode("utf-8", "replace"),
            stderr=bytes(streams[err_r][:max(0, cap - len(streams[out_r]))]).decode("utf-8", "replace"),
            cpu_s=usage.ru_utime + usage.ru_stime, peak_memory_kb=usage.ru_maxrss, child_wall_s=wall)
        if result["status"] == "crashed" and b"heap out of memory" in streams[err_r]:
            result.update(status="memory", message="JavaScript heap out of memory")
        return result

    def _verdict(self, outcome: str | None, wait_status: int, report: bytes, nonce: str, limits: dict,
                 wall: float) -> dict:
        if outcome == "timeout":
            return {"status": "timeout", "error_type": "Timeout",
                    "message": f"wall-clock limit of {limits['timeout_s']} s reached", "exec_s": wall}
        if outcome == "output_limit":
            return {"status": "output_limit", "error_type": "OutputLimit",
                    "message": f"wrote more than {limits['output_bytes']} bytes", "exec_s": wall}
        if outcome == "bad_report" or len(report) > REPORT_CAP:
            return {"status": "crashed", "error_type": "BadReport", "exec_s": wall,
                    "message": f"wrote more than {REPORT_CAP} bytes to the completion-report pipe"}
        try:
            reported = protocol.loads(report.decode("ascii")) if report else None
        except ValueError:
            reported = None
        if isinstance(reported, dict) and reported.get("nonce") == nonce:
            return {key: reported.get(key) for key in ("status", "error_type", "message", "exec_s")}
        if os.WIFSIGNALED(wait_status):
            number = os.WTERMSIG(wait_status)
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            if number == signal.SIGXCPU:
                return {"status": "timeout", "error_type": name,
                        "message": f"CPU-time limit of {limits['cpu_s']} s reached", "exec_s": wall}
            return {"status": "crashed", "error_type": name, "message": f"killed by {name}", "exec_s": wall}
        code = os.WEXITSTATUS(wait_status)
        return {"status": "crashed", "error_type": "EarlyExit", "exec_s": wall,
                "message": f"exited with code {code} without reporting completion"}

    def _kill_all(self, pid: int, by_uid: bool) -> None:
        """Kill the check's process group; then, unless the child did it itself after reporting,
        everything its uid still runs (processes that escaped the group with setsid)."""
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        if self.uid is None or not by_uid:
            return
        reaper = os.fork()
        if reaper == 0:
            try:
                os.setuid(self.uid)
                os.kill(-1, signal.SIGKILL)  # all processes of this uid except the reaper itself
            finally:
                os._exit(0)
        os.waitpid(reaper, 0)

    @staticmethod
    def _reap_orphans() -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


def _drain(fd: int, into: bytearray, limit: int) -> bool:
    """Read what is already in a pipe without blocking, up to `limit` bytes; True if it holds anything."""
    os.set_blocking(fd, False)
    try:
        while len(into) <= limit and (chunk := os.read(fd, READ_CHUNK)):
            into += chunk
    except BlockingIOError:
        pass
    return bool(into)


def main() -> None:
    config = json.loads(sys.argv[1])
    for name in WARM_MODULES:  # pre-imported once, shared copy-on-write by every check
        __import__(name)
    # The first compile() in a process builds ~120 AST node types (CPython's lazy `_ast` state): do it
    # once here, not in every check (it was a third of a trivial check's CPU).
    compile("pass", "<warm-up>", "exec")
    worker = Worker(config)
    worker.stdin_fd = child.prepare_worker()
    protocol.write_frame(1, {"hello": worker.isolation()})
    import gc

    gc.freeze()  # keep the warm heap out of the collector so forks share its pages
    requests = protocol.FrameReader(0)
    while True:
        try:
            request = requests.read()
        except protocol.ChannelClosed:
            break
        try:
            reply = worker.run_check(request)
        except Exception as error:  # report, stay alive: one bad check must not cost the worker
            reply = {"status": "crashed", "error_type": "SandboxError", "message": f"worker: {error!r}"}
        protocol.write_frame(1, reply)
    shutil.rmtree(worker.base, ignore_errors=True)


if __name__ == "__main__":
    main()
