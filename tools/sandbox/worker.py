"""A sandbox worker: a warm fork server that runs one check at a time in a confined child.

Started by `Sandbox` (usually inside `unshare --net --mount`), it speaks `protocol` frames on fds 0/1:
a hello with the isolation it achieved, then one result per request. Standard library only, so the
warm image stays small and a fork stays cheap. Started by `start_worker.py`:
`python -E -S start_worker.py CONFIG_JSON`.

Per-check cost is mostly page faults: after each fork every page either process writes is copied (the
child) or re-faulted (the worker). So the warm-up does once what CPython would otherwise do in every
child (the first `compile()` builds all AST node types), `gc.freeze()` keeps the collector off the
shared heap, checks that arrive together are forked together (`run_batch`: the worker's own writes then
fault once per batch, not once per check), and the per-check path stays short (see
`benchmarks/executor_speed.py --micro`).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import resource
import select
import signal
import sys
import time
from collections.abc import Callable, Generator
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:  # (mypy checks the package imports)
    from . import cgroups, child, javascript_group, mounts, protocol, pyguard, rootfs
    from .javascript import RUNNER_JS
else:  # run as a script by the Sandbox
    import cgroups
    import child
    import javascript_group
    import mounts
    import protocol
    import pyguard
    import rootfs
    from javascript import RUNNER_JS

PR_SET_CHILD_SUBREAPER = 36
# What benchmark and generated code import most; small, so a fork stays cheap (no unittest, no numpy).
# Not `random` (nor tempfile, which imports it): once imported, it reseeds itself from Python code after
# every fork (~40 copied pages, more than a whole bare fork costs); the few checks that use it import it.
# Nor hashlib or shutil (zlib, bz2, lzma): every shared library adds mappings that each fork copies and each
# exit tears down (with both, a bare fork cost ~35% more); the rare check that needs one imports it.
WARM_MODULES = ("math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
                "typing", "fractions", "datetime", "copy", "operator", "array", "cmath")
READ_CHUNK = 65536
REPORT_CAP = 1 << 20  # a genuine completion report is a few hundred bytes (its message is capped)
COMPILE_IN_WORKER_MAX = 256 * 1024  # a larger candidate is compiled by the child, on its own budget
# cgroup2 first: its children are cloned straight into the cgroup (cgroup1 costs every check a move).
ACCOUNTING_VERSIONS = ("cgroup2", "cgroup1")
CODE_CACHE_SIZE = 1024  # compiled sources kept: a test is compiled once for all N candidates
DEFAULT_PIPE_BYTES = 16 * resource.getpagesize()  # Linux's default pipe capacity (PIPE_DEF_BUFFERS pages)
SETUP_ALLOWANCE_S = 5.0  # fork to ready mark, not charged to the check's timeout
# Python checks that arrive together are forked together, back to back, then run one at a time: a fork
# write-protects every page of the worker, and each page it then writes costs a fault (a copy while a child
# shares it), ~230 per check; forked in a row, the worker's supervision of the whole batch faults about once.
BATCH_MAX = 4  # (each waiting check holds its own cgroup: the slot gets this many)
_exit = os._exit


class Forked:
    """A Python check of a batch: prepared, then forked and waiting for its turn. `fds` are its pipes
    (stdout, stderr, report, go: read and write ends; -1 once closed), `run` what its child runs."""

    __slots__ = ("accounting", "fds", "limits", "nonce", "pid", "run", "waiting", "workdir")

    def __init__(self, workdir: str, nonce: str, limits: dict, accounting: cgroups.CheckAccounting | None,
                 fds: list[int], run: tuple) -> None:
        self.workdir, self.nonce, self.limits, self.accounting, self.fds, self.run = (workdir, nonce, limits,
                                                                                    accounting, fds, run)
        self.pid = 0
        self.waiting = True


class Worker:
    def __init__(self, config: dict) -> None:
        self.uid: int | None = config.get("uid")
        self.node: str = config.get("node", "/usr/bin/node")
        self.netns: bool = config.get("netns", False)
        # The slot's cgroup first: it is reached through fds that stay valid once the root is sealed.
        self.accounting = (cgroups.CheckAccounting.create(f"slot-{self.uid}", versions=ACCOUNTING_VERSIONS)
                           if self.uid is not None else None)
        # One cgroup per check of a batch (the first is the slot's, which JavaScript runners use too)
        self.batch_accounting: list[cgroups.CheckAccounting | None] = [self.accounting]
        if self.accounting is not None:
            for number in range(1, BATCH_MAX):
                extra = cgroups.CheckAccounting.create(f"slot-{self.uid}-{number}", versions=ACCOUNTING_VERSIONS)
                if extra is None:
                    break
                self.batch_accounting.append(extra)
        else:
            self.batch_accounting *= BATCH_MAX
        for accounting in self.batch_accounting:  # single-threaded, and nothing imported here registers an
            if accounting is not None:  # at-fork callback (no random, threading or logging: see WARM_MODULES)
                accounting.fork_hooks = False
        name = f"codemill-sandbox-{os.urandom(8).hex()}"
        self.sealed = None
        if config.get("mountns") and self.uid is not None:
            try:
                paths = [p for p in sys.path if p and not p.endswith(os.path.join("tools", "sandbox"))]
                self.sealed = rootfs.seal(name, paths, config.get("allowed_packages", []), self.node)
                self.filesystem = self.sealed.description
            except rootfs.SealError as error:
                self.filesystem = rootfs.host_readable(error)
        else:
            self.filesystem = rootfs.host_readable("no mount namespace" if self.uid is not None
                                                   else "not root")
        self.exposed: list[str] = []
        if self.sealed is not None:
            self.base, self.mounted = self.sealed.base_dir, list(self.sealed.writable)
        else:  # the host stays readable; still, nothing the check writes outside its dir is seen by the host
            self.mounted = mounts.mount_private_tmpfs() if config.get("mountns") else []
            self.base = os.path.join("/tmp", name)
            os.mkdir(self.base, 0o700)
            if self.mounted and self.uid is not None:  # the checks' uid must be able to import the stdlib
                runtime = [sys.prefix, sys.base_prefix, *sys.path[1:],
                           os.path.dirname(os.path.realpath(self.node))]
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
        self.code_cache: dict[tuple[str, str], CodeType] = {}
        self.honesty_check = pyguard.make_honesty_check()
        self.guards = (pyguard.install_audit_hook(pyguard.frame_readers()), pyguard.make_test_namespace())
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans come back to us for reaping

    def fork(self) -> int:
        """os.fork, except that with cgroup accounting the child starts inside the slot's cgroup."""
        return self.accounting.fork() if self.accounting is not None else os.fork()

    def isolation(self) -> dict[str, str]:
        user = f"uid {self.uid}" if self.uid is not None else f"unchanged (uid {os.getuid()}, not root)"
        filesystem = self.filesystem
        if self.sealed is None and self.mounted:
            filesystem += f"; private tmpfs on {', '.join(self.mounted)}"
        timing = (f"CPU of the whole process tree ({self.accounting.mechanism})" if self.accounting is not None
                  else "CPU of the check and every descendant it reaps (subreaper)")
        return {"network": "netns" if self.netns else "sockets-disabled", "user": user,
                "filesystem": filesystem, "process": "fork per check, own process group, rlimits",
                "timing": timing, "pid": str(os.getpid())}

    def run_check(self, request: dict) -> dict:
        """One request: a Python check, or a JavaScript candidate with its tests (`{"results": [...]}`)."""
        return next(self.run_batch([request]))

    def run_batch(self, requests: list[dict]) -> Generator[dict, None, None]:
        """The replies to `requests`, in order, each as soon as it is known. The leading Python checks are
        forked first, back to back (`BATCH_MAX`), each waiting for its turn; the rest run one by one."""
        forked: list[Forked | dict] = []
        try:
            for request in requests[:len(self.batch_accounting)]:
                if request["language"] != "python":
                    break
                compiled = self.compiled(request)  # a dict: it did not compile, no process needed to say so
                forked.append(compiled if isinstance(compiled, dict)
                              else self._prepare(request, *compiled, self.batch_accounting[len(forked)]))
            go_writers = tuple(check.fds[7] for check in forked if isinstance(check, Forked))
            for check in forked:  # in a row: nothing written in between, nothing copied
                if isinstance(check, Forked):
                    self._fork(check, go_writers)
            for check in forked:
                if isinstance(check, Forked):
                    self._forked(check)
            for index, request in enumerate(requests):
                if index < len(forked):
                    check = forked[index]
                    yield check if isinstance(check, dict) else self._supervise(check)
                elif request["language"] == "javascript":
                    results = javascript_group.run(self, request)
                    yield results if isinstance(results, dict) else {"results": results}
                else:
                    yield from self.run_batch([request])
        finally:  # (closed early: the parent is gone) checks still waiting for their turn are dropped
            for check in forked:
                if isinstance(check, Forked) and check.waiting:
                    self._drop(check)

    def in_workdir(self, supervise: Callable[[str], Any]) -> Any:
        """Run `supervise(workdir)` in a fresh private work dir; clean up everything the check left."""
        workdir = self.new_workdir()
        try:
            return supervise(workdir)
        finally:
            self.clean_up(workdir)

    def new_workdir(self) -> str:
        """A fresh private work dir for one check."""
        self.counter += 1
        workdir = os.path.join(self.base, f"check-{self.counter}")
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        return workdir

    def clean_up(self, workdir: str) -> None:
        """Remove a finished check's work dir, and whatever it left in the private tmpfs mounts."""
        try:
            os.rmdir(workdir)  # the common case: the check left nothing behind
        except OSError:
            _rmtree(workdir)
        if self.mounted and (self.tmpfs_entries is None
                             or self.tmpfs_entries != [os.stat(m).st_size for m in self.mounted]):
            mounts.clean_private_tmpfs(self.mounted, keep=self.base)

    def compiled(self, request: dict) -> tuple[CodeType | str, CodeType | str] | dict:
        """(code, test) compiled here once and shared by every fork (the test with its honesty checks), or
        the error result when either does not compile. Very large sources are left to the child."""
        try:
            code = self._compile(request["code"], "<candidate>", compile)
            test = self._compile(request["test"], "<test>", self.compile_test)
        except Exception as error:  # SyntaxError, or RecursionError/MemoryError on absurd nesting
            return {"status": "error", "error_type": type(error).__name__, "message": str(error)[:2000],
                    "exec_s": 0.0, "cpu_s": 0.0}
        return code, test

    def _compile(self, source: str, filename: str, how: Callable[..., CodeType]) -> CodeType | str:
        if how is compile and len(source) > COMPILE_IN_WORKER_MAX:
            return source
        key = (filename, source)
        code = self.code_cache.get(key)
        if code is None:
            if len(self.code_cache) >= CODE_CACHE_SIZE:
                self.code_cache.clear()
            code = self.code_cache[key] = how(source, filename, "exec", dont_inherit=True)
        return code

    def precompile(self, sources: object, requests: protocol.FrameReader) -> int:
        """Compile sources the next checks will run (`[[kind, text], ...]`, kind "code" or "test") into the
        cache, until a request arrives; how many were compiled. A hint, answered with nothing: a malformed
        entry is passed over, and a source that does not compile is left for its check to report."""
        compilers: dict[str, tuple[str, Callable[..., CodeType]]] = {  # as `compiled` does
            "code": ("<candidate>", compile), "test": ("<test>", self.compile_test)}
        done = 0
        for entry in sources if isinstance(sources, list) else ():
            if requests.waiting():  # a check is asking: it comes first
                break
            try:
                kind, source = entry
                self._compile(source, *compilers[kind])
            except Exception:  # a malformed entry; SyntaxError or absurd nesting, which its check meets again
                continue
            done += 1
        return done

    def compile_test(self, source: str, filename: str, mode: str, dont_inherit: bool = True) -> CodeType:
        return pyguard.compile_test(source, self.honesty_check, filename)

    def _prepare(self, request: dict, code: CodeType | str, test: CodeType | str,
                 accounting: cgroups.CheckAccounting | None) -> Forked:
        """What one Python check needs, up to its fork (`_fork`): a fresh work dir, pipes, limits, a nonce."""
        workdir = self.new_workdir()
        fds: list[int] = []
        try:
            for _ in range(4):
                fds += os.pipe()
            rlimits = child.rlimits_for(request, child.address_space_now())
        except BaseException:
            for fd in fds:
                os.close(fd)
            self.clean_up(workdir)
            raise
        nonce = os.urandom(16).hex()  # the child inherits it in memory; it never crosses a descriptor
        return Forked(workdir, nonce, request["limits"], accounting, fds, (code, test, rlimits))

    def _fork(self, check: Forked, go_writers: tuple[int, ...]) -> None:
        """Fork the check (inside its cgroup); the child waits for its turn (`_supervise`) before anything
        else, and never returns. `go_writers`: the batch's go pipes, which only the worker may hold."""
        os.environ["HOME"] = os.environ["TMPDIR"] = check.workdir  # set here, the child inherits it for free
        pid = check.accounting.fork() if check.accounting is not None else os.fork()
        if pid:
            check.pid = pid
            return
        try:
            for fd in go_writers:  # so that the worker's end alone keeps this check waiting: its exit is an EOF
                os.close(fd)
            _, out_w, _, err_w, _, report_w, go_r, _ = check.fds
            code, test, rlimits = check.run
            if os.read(go_r, 1) == b"g":  # its turn (EOF: the worker is gone, or dropped it)
                child.confine(check.workdir, self.uid, self.stdin_fd, out_w, err_w, (report_w,), rlimits,
                              not self.netns)
                child.run_python(code, test, report_w, check.nonce, self.uid is not None, self.guards)
        except BaseException as error:  # the harness itself failed (user code errors never get here)
            with contextlib.suppress(BaseException):
                os.write(2, f"sandbox harness: {type(error).__name__}: {error}\n".encode())
        finally:
            _exit(127)  # pre-bound: the code may have replaced os._exit

    def _forked(self, check: Forked) -> None:
        """The worker's side of a fork: the check gets its own process group; its pipe ends are its own."""
        try:  # noqa: SIM105 — plain try on the path that runs while the child lives (copied pages)
            os.setpgid(check.pid, check.pid)
        except OSError:  # the child may have done it already (or be gone)
            pass
        _, out_w, _, err_w, _, report_w, go_r, _ = check.fds
        for fd in (out_w, err_w, report_w, go_r):
            os.close(fd)
        check.fds = [check.fds[0], -1, check.fds[2], -1, check.fds[4], -1, -1, check.fds[7]]
        check.run = ()

    def _drop(self, check: Forked) -> None:
        """A check that will never get its turn: its child (if forked: still root, waiting, nothing of the
        code's run yet) is killed and reaped, its pipes closed, its work dir removed."""
        check.waiting = False
        if check.pid:
            with contextlib.suppress(OSError):
                os.kill(check.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(check.pid, 0)
        for fd in check.fds:
            if fd >= 0:
                os.close(fd)
        self.clean_up(check.workdir)

    def _supervise(self, check: Forked) -> dict:
        """Give a forked check its turn and watch it to the end: its result; its work dir cleaned up."""
        try:
            return self._watch(check)
        finally:
            self.clean_up(check.workdir)

    def _watch(self, check: Forked) -> dict:
        pid, nonce, limits, accounting = check.pid, check.nonce, check.limits, check.accounting
        out_r, _, err_r, _, report_r, _, _, go_w = check.fds
        # Everything the supervision loop needs is allocated before the check runs: while the child lives,
        # each page the worker writes is copied (copy-on-write), so the path stays lean.
        streams = {out_r: bytearray(), err_r: bytearray(), report_r: bytearray()}
        cap = limits["output_bytes"]
        cpu_before = accounting.cpu_ns() if accounting is not None else 0
        # The check's clock starts at its ready mark; until then (set-up: on a loaded machine a cgroup
        # move can wait for an RCU grace period) a separate allowance applies.
        started = time.monotonic()
        deadline = started + SETUP_ALLOWANCE_S + limits["timeout_s"]
        check.waiting = False
        try:  # noqa: SIM105 — plain try on the path that runs while the child lives (copied pages)
            os.write(go_w, b"g")
        except OSError:  # it died waiting (killed from outside): its end is told below, from its exit status
            pass
        os.close(go_w)
        pidfd = os.pidfd_open(pid)
        watched = [out_r, err_r, report_r, pidfd]
        outcome, ready_at, reported_at = None, 0.0, 0.0
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                outcome = "timeout"
                break
            ready = select.select(watched, [], [], wait)[0]
            for fd in ready:
                if fd == pidfd:
                    continue
                chunk = os.read(fd, READ_CHUNK)
                if chunk:
                    if fd == report_r:  # the ready mark, then the report: the check's span, seen from here
                        if ready_at:
                            reported_at = time.monotonic()
                        else:
                            ready_at = time.monotonic()
                            reported_at = ready_at if len(chunk) > 1 else 0.0
                            deadline = ready_at + limits["timeout_s"]
                    streams[fd] += chunk
                else:
                    watched.remove(fd)
            if len(streams[out_r]) + len(streams[err_r]) > cap:
                outcome = "output_limit"
                break
            if len(streams[report_r]) > REPORT_CAP:
                outcome = "bad_report"
                break
            if pidfd in ready:
                break
        finished = time.monotonic()
        if report_r in watched:
            _drain(report_r, streams[report_r], REPORT_CAP)
        reported = len(streams[report_r]) > 1  # more than the ready mark: the harness's own kill(-1) ran
        self.kill_all(pid, by_uid=outcome is not None or not reported, accounting=accounting)
        _, wait_status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - started
        os.close(pidfd)
        for fd in (out_r, err_r, report_r):  # whatever was written before the end, without blocking
            if fd in watched:  # (not at end of file yet)
                _drain(fd, streams[fd], REPORT_CAP if fd == report_r else cap + READ_CHUNK)
            os.close(fd)
        cpu_s = self.reap_orphans() + usage.ru_utime + usage.ru_stime
        if accounting is not None:
            cpu_s = (accounting.cpu_ns() - cpu_before) / 1e9
        if outcome is None and len(streams[out_r]) + len(streams[err_r]) > limits["output_bytes"]:
            outcome = "output_limit"  # written just before exiting, after the loop's last look
        report = bytes(streams[report_r])
        ran = report.startswith(b"R")  # the ready mark: from here on, what happened is the code's doing
        result = self._verdict(outcome, wait_status, report[1:] if ran else report, nonce, limits)
        if not ran:  # the candidate never ran: the harness failed
            stderr = bytes(streams[err_r][-500:]).decode("utf-8", "replace")
            return {"infra": f"the check's harness failed before running the code ({result['message']}) "
                             f"{stderr.strip()}".strip()}
        result.update(
            stdout=bytes(streams[out_r][:cap]).decode("utf-8", "replace"),
            stderr=bytes(streams[err_r][:max(0, cap - len(streams[out_r]))]).decode("utf-8", "replace"),
            exec_s=((reported_at or finished) - ready_at) if ready_at else 0.0, cpu_s=cpu_s,
            peak_memory_kb=usage.ru_maxrss,
            child_wall_s=wall)
        return result

    def _verdict(self, outcome: str | None, wait_status: int, report: bytes, nonce: str, limits: dict) -> dict:
        if outcome == "timeout":
            return {"status": "timeout", "error_type": "Timeout",
                    "message": f"wall-clock limit of {limits['timeout_s']} s reached"}
        if outcome == "output_limit":
            return {"status": "output_limit", "error_type": "OutputLimit",
                    "message": f"wrote more than {limits['output_bytes']} bytes"}
        if outcome == "bad_report" or len(report) > REPORT_CAP:
            return {"status": "crashed", "error_type": "BadReport",
                    "message": f"wrote more than {REPORT_CAP} bytes to the completion-report pipe"}
        try:
            reported = protocol.loads(report.decode("ascii")) if report else None
        except (ValueError, RecursionError):  # garbage the code wrote into the pipe
            reported = None
        if isinstance(reported, dict) and reported.get("nonce") == nonce:
            return {"status": reported.get("status"), "error_type": reported.get("error_type"),
                    "message": reported.get("message"), "refused": reported.get("refused")}
        if os.WIFSIGNALED(wait_status):
            number = os.WTERMSIG(wait_status)
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            if number == signal.SIGXCPU:
                return {"status": "timeout", "error_type": name,
                        "message": f"CPU-time limit of {limits['cpu_s']} s reached"}
            return {"status": "crashed", "error_type": name, "message": f"killed by {name}"}
        code = os.WEXITSTATUS(wait_status)
        return {"status": "crashed", "error_type": "EarlyExit",
                "message": f"exited with code {code} without reporting completion"}

    def kill_all(self, pid: int, by_uid: bool, accounting: cgroups.CheckAccounting | None = None) -> None:
        """Kill the check's process group; then, unless the child did it itself after reporting,
        everything its uid still runs (processes that escaped the group with setsid), and everything
        in the check's cgroup (nothing leaves it; default: the slot's)."""
        try:  # noqa: SIM105 — not contextlib: an object per check, and each page the worker writes is a copy
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        accounting = accounting or self.accounting
        if accounting is not None:  # always: it also waits until every member is gone (CPU complete)
            accounting.kill_all()
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
    def reap_orphans() -> float:
        """Reap every orphan the subreaper inherited; the CPU seconds they used (none of it is lost)."""
        spent = 0.0
        while True:
            try:
                pid, _, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return spent
            if pid == 0:
                return spent
            spent += usage.ru_utime + usage.ru_stime


def _rmtree(path: str) -> None:
    """shutil.rmtree, imported only when a check left files behind (see WARM_MODULES)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


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
    sys.path += config.get("site_dirs", [])  # plain directories: started with -S, no .pth file runs here
    for name in WARM_MODULES:  # pre-imported once, shared copy-on-write by every check
        __import__(name)
    # The first compile() in a process builds ~120 AST node types (CPython's lazy `_ast` state): do it
    # once here, not in every check (it was a third of a trivial check's CPU).
    compile("pass", "<warm-up>", "exec")
    worker = Worker(config)
    worker.stdin_fd = child.prepare_worker()
    try:
        protocol.write_frame(1, {"hello": worker.isolation()})
        serve(worker)
    except protocol.ChannelClosed:  # the parent is gone (killed, or stopped mid-check): clean up quietly
        pass
    try:  # the common case: only the runner is left (shutil's import costs the exit ~10 ms)
        os.remove(worker.runner)
        os.rmdir(worker.base)
    except OSError:
        _rmtree(worker.base)
    for accounting in worker.batch_accounting:
        if accounting is not None:
            accounting.close()


def serve(worker: Worker) -> None:
    """Answer requests until the parent closes the channel (ChannelClosed when it is gone mid-reply)."""
    import gc

    gc.freeze()  # keep the warm heap out of the collector so forks share its pages
    requests = protocol.FrameReader(0)
    while True:
        try:
            request = requests.read()
        except protocol.ChannelClosed:
            return
        if "precompile" in request:  # sent once, before the first check: compile while idle, answer nothing
            with contextlib.suppress(OSError):  # the pool grew this pipe for the hint: back to the default size
                fcntl.fcntl(0, fcntl.F_SETPIPE_SZ, DEFAULT_PIPE_BYTES)
            worker.precompile(request["precompile"], requests)
            gc.freeze()  # the new code joins the shared heap the collector leaves alone
            continue
        batch = [request]
        while len(batch) < BATCH_MAX and requests.waiting():  # the pool sends a few ahead (`PIPELINE_DEPTH`)
            batch.append(requests.read())
        answer(worker, batch)


def answer(worker: Worker, batch: list[dict]) -> None:
    """Write one reply per request of `batch`, in order. When the worker fails on one (report it, stay alive:
    one bad check must not cost the worker), the requests after it start a new batch."""
    answered = 0
    while answered < len(batch):
        replies = worker.run_batch(batch[answered:])
        try:
            for reply in replies:
                protocol.write_frame(1, reply)
                answered += 1
        except protocol.ChannelClosed:
            raise
        except Exception as error:
            protocol.write_frame(1, {"infra": f"sandbox worker: {type(error).__name__}: {error}"[:2000]})
            answered += 1
        finally:
            replies.close()  # (drops the checks still waiting for their turn, if it ended early)

