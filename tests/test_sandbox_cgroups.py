"""The per-slot cgroup of the sandbox (tools/sandbox/cgroups.py), attacked the way a check would attack it.

Each test plays the worker in a forked process (root, a child subreaper) and forks checks that drop to an
unprivileged uid, as worker.py does. CPU is asserted against what the burners measured themselves with
time.process_time, with generous lower bounds only; every wait is on a pipe, with a deadline only to turn
a hang into a failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import secrets
import select
import signal
import tempfile
import time
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tools.sandbox import cgroups
from tools.sandbox.cgroups import CheckAccounting

DEADLINE_S = 60.0  # only turns a hang into a failure
BURN_S = 0.2
PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 36, 4
CLONE_NEWNS, CLONE_NEWUSER = 0x20000, 0x10000000
MS_REC, MS_PRIVATE, MNT_DETACH = 16384, 1 << 18, 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
CONTROL_FILES = ("cgroup.procs", "tasks", "cgroup.threads", "cgroup.kill", "cgroup.freeze", "freezer.state",
                 "cgroup.subtree_control")
_libc = ctypes.CDLL(None, use_errno=True)


def _mounted(version: str) -> bool:
    """Whether this machine mounts the hierarchies the backend needs (only then may a test skip)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as lines:
        kinds = [line.partition(" - ")[2].split() for line in lines]
    if version == "cgroup2":
        return any(kind[0] == "cgroup2" for kind in kinds)
    options = [set(kind[2].split(",")) for kind in kinds if kind[0] == "cgroup"]
    return all(any(name in found for found in options) for name in ("cpuacct", "freezer"))


@pytest.fixture(params=["cgroup2", "cgroup1"])
def backend(request: pytest.FixtureRequest) -> str:
    if os.geteuid() != 0:
        pytest.skip("making cgroups needs root")
    if not _mounted(request.param):
        pytest.skip(f"no {request.param} hierarchy is mounted on this machine")
    return request.param


@pytest.fixture
def accounting(backend: str) -> Iterator[CheckAccounting]:
    errors: list[str] = []
    made = CheckAccounting.create("test", versions=(backend,), errors=errors)
    assert made is not None, errors  # mounted and root: failing to make one is a bug, not a skip
    yield made
    made.close()


@pytest.fixture
def uid() -> Iterator[int]:
    fresh = 1_000_000 + secrets.randbelow(1_000_000_000)  # an unprivileged uid shared with nobody
    yield fresh
    pid = os.fork()  # whatever a failed test left running under it, killed as the worker would
    if pid == 0:
        try:
            os.setuid(fresh)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


# --- plumbing: a worker in a fork, checks in its forks, reports over pipes --------------------------------

def in_worker(body: Callable[[], Any]) -> Any:
    """Run `body` in a forked worker (root, child subreaper) and return its JSON-able result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            os.write(w, json.dumps({"result": body()}).encode() + b"\n")
            code = 0
        except BaseException:
            os.write(w, json.dumps({"error": traceback.format_exc()}).encode() + b"\n")
        finally:
            os._exit(code)
    os.close(w)
    try:  # one line, not end of file: processes the worker leaves behind hold the pipe too
        reply = json.loads(read_lines(r, 1)[0])
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert "error" not in reply, reply["error"]
    return reply["result"]


def read_lines(fd: int, count: int) -> list[str]:
    """`count` lines from a pipe that checks write to (and may keep open)."""
    data, deadline = b"", time.monotonic() + DEADLINE_S
    while data.count(b"\n") < count:
        assert select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0], data
        chunk = os.read(fd, 65536)
        assert chunk, f"pipe closed after {data!r}"
        data += chunk
    return data.decode().splitlines()


def start_check(accounting: CheckAccounting, uid: int, body: Callable[[], None], how: str = "fork",
                keep: tuple[int, ...] = ()) -> int:
    """Fork a check as the worker does: into the cgroup, then down to `uid`; `body` runs there."""
    if how == "fork":
        pid = accounting.fork()
    else:
        pid = os.fork()
        if pid == 0:
            if how == "join after closing":  # the child keeps only what join needs, as child.confine would
                low = 3
                for fd in sorted((*accounting.child_fds(), *keep)):
                    os.closerange(low, fd)
                    low = fd + 1
                os.closerange(low, 65536)
            accounting.join()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            body()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    return pid


def spawn(body: Callable[[], None], detach: bool = False) -> None:
    """Start `body` in a new process; detached: new session, double fork, its parent gone at once."""
    if os.fork() == 0:
        try:
            if detach:
                os.setsid()
                if os.fork() != 0:
                    os._exit(0)
            body()
        finally:
            os._exit(0)


def burner(report_fd: int, seconds: float = BURN_S) -> Callable[[], None]:
    def burn() -> None:
        start = time.process_time()
        while time.process_time() - start < seconds:
            pass
        os.write(report_fd, f"{time.process_time()}\n".encode())  # this process's own CPU, measured inside
    return burn


def pauser(report_fd: int) -> Callable[[], None]:
    def pause() -> None:
        os.write(report_fd, f"{os.getpid()}\n".encode())
        while True:
            signal.pause()
    return pause


class CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal",
                                                     "stack", "stack_size", "tls", "set_tid", "set_tid_size",
                                                     "cgroup")]


def clone_into(directory: str) -> str:
    """Try to start a child in another cgroup2 directory (clone3 CLONE_INTO_CGROUP), as an escape would."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        return error.strerror
    args = CloneArgs(flags=0x200000000, exit_signal=signal.SIGCHLD, cgroup=fd)
    pid = _libc.syscall(435, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        os._exit(0)
    number = ctypes.get_errno()
    os.close(fd)
    if pid > 0:
        os.waitpid(pid, 0)
        return "cloned"
    return os.strerror(number)


def read_text(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def processes_of(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status", encoding="ascii") as status:
                    lines = status.read().splitlines()
            except (FileNotFoundError, ProcessLookupError):
                continue
            real_uid = int(next(line for line in lines if line.startswith("Uid:")).split()[1])
            state = next(line for line in lines if line.startswith("State:")).split()[1]
            if real_uid == uid and state not in ("Z", "X"):
                found.append(int(name))
    return found


# --- CPU of the whole tree -------------------------------------------------------------------------------

def test_cpu_of_grandchildren_that_detach_outlive_the_child_or_hide_from_wait4_is_counted(
        accounting: CheckAccounting, uid: int) -> None:
    r, w = os.pipe()

    def check() -> None:
        spawn(burner(w), detach=True)  # a daemon: own session, reparented to the worker, outlives the child
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # its children are auto-reaped: wait4 never sees them
        spawn(burner(w))
        with contextlib.suppress(ChildProcessError):
            os.wait()  # (fails with ECHILD once the auto-reaped child is gone)

    def worker() -> dict:
        before = accounting.cpu_ns()
        pid = start_check(accounting, uid, check)
        burned = sum(float(line) for line in read_lines(r, 2))
        reaped = cgroups.reap(pid, block_all=False)
        accounting.kill_all()  # waits until every member has exited
        return {"burned": burned, "cgroup": (accounting.cpu_ns() - before) / 1e9,
                "child": reaped.usage.ru_utime + reaped.usage.ru_stime}

    seen = in_worker(worker)
    os.close(r)
    os.close(w)
    assert seen["burned"] >= 2 * BURN_S
    assert seen["cgroup"] >= 0.5 * seen["burned"], seen
    assert seen["child"] < 0.5 * seen["burned"], seen  # the attack is real: the child's rusage misses it


def test_reap_fallback_counts_orphans_but_not_auto_reaped_children(uid: int) -> None:
    """Without cgroups the subreaper adds up wait4 of everything it reaps: orphans are counted, children
    of a parent that ignores SIGCHLD are not (which is why cgroups come first)."""
    r, w = os.pipe()

    def run(ignore_sigchld: bool) -> dict:
        def check() -> None:
            if ignore_sigchld:
                signal.signal(signal.SIGCHLD, signal.SIG_IGN)
                spawn(burner(w))
            else:
                spawn(burner(w), detach=True)
                spawn(burner(w))  # a child it reaps itself: folded into its own rusage
            with contextlib.suppress(ChildProcessError):
                while True:
                    os.wait()

        pid = os.fork()
        if pid == 0:
            try:
                os.setgid(uid)
                os.setuid(uid)
                check()
            finally:
                os._exit(0)
        burned = sum(float(line) for line in read_lines(r, 1 if ignore_sigchld else 2))
        reaped = cgroups.reap(pid, block_all=True)  # nothing else is running: returns once all are reaped
        return {"burned": burned, "counted": reaped.cpu_s, "reaped": reaped.count}

    counted = in_worker(lambda: run(ignore_sigchld=False))
    hidden = in_worker(lambda: run(ignore_sigchld=True))
    os.close(r)
    os.close(w)
    assert counted["counted"] >= 0.5 * counted["burned"] and counted["reaped"] >= 2, counted
    assert hidden["counted"] < 0.5 * hidden["burned"], hidden


# --- the kill ------------------------------------------------------------------------------------------

def test_kill_all_reaches_detached_and_forking_processes(accounting: CheckAccounting, uid: int) -> None:
    r, w = os.pipe()

    sleeper = pauser(w)

    def chaser() -> None:  # never the same pid for long: forks, and the parent exits
        os.write(w, f"{os.getpid()}\n".encode())
        while True:
            try:
                if os.fork() != 0:
                    os._exit(0)
            except OSError:
                pass

    def check() -> None:
        resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
        spawn(sleeper, detach=True)
        spawn(chaser, detach=True)
        os.setpgid(0, 0)
        spawn(sleeper)
        sleeper()

    def worker() -> dict:
        pid = start_check(accounting, uid, check)
        pids = [int(line) for line in read_lines(r, 4)]
        killed = accounting.kill_all()
        status = cgroups.reap(pid, block_all=True).status
        seen = {"killed": killed, "members": accounting.members(), "alive": [p for p in pids if alive(p)],
                "uid_processes": processes_of(uid), "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0}
        # The next check runs normally: the cgroup was not left frozen.
        cgroups.reap(start_check(accounting, uid, lambda: os.write(w, b"next\n")))
        seen["next"] = read_lines(r, 1)
        return seen

    seen = in_worker(worker)
    os.close(r)
    os.close(w)
    assert seen["killed"] >= 4, seen
    assert seen == {"killed": seen["killed"], "members": [], "alive": [], "uid_processes": [],
                    "signal": signal.SIGKILL, "next": ["next"]}


# --- no way out --------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["fork", "join", "join after closing"])
def test_an_unprivileged_member_cannot_leave_or_hold_a_cgroup_fd(accounting: CheckAccounting, uid: int,
                                                                    how: str) -> None:
    r, w = os.pipe()
    go_r, go_w = os.pipe()

    def attempts() -> list[list]:
        own = [line.split(":", 2)[2] for line in read_text("/proc/self/cgroup").splitlines()]
        targets = []
        for mount in os.listdir("/sys/fs/cgroup"):
            root = os.path.join("/sys/fs/cgroup", mount)
            mine = next((os.path.join(root, path.lstrip("/")) for path in own
                         if cgroups.PREFIX in path and os.path.isdir(os.path.join(root, path.lstrip("/")))), None)
            for directory in filter(None, (root, mine and os.path.dirname(mine), mine)):
                targets += [os.path.join(directory, name) for name in CONTROL_FILES
                            if os.path.exists(os.path.join(directory, name))]
        outcomes = []
        for target in targets:
            moves = target.endswith(("procs", "tasks", "threads"))
            payloads = (b"0", str(os.getpid()).encode()) if moves else (b"THAWED" if "freezer" in target else b"1",)
            for payload in payloads:
                try:
                    fd = os.open(target, os.O_WRONLY)
                    try:
                        os.write(fd, payload)
                    finally:
                        os.close(fd)
                    outcomes.append([target, payload.decode(), "written"])
                except OSError as error:
                    outcomes.append([target, payload.decode(), error.strerror])
        for directory in {os.path.dirname(target) for target in targets if "cgroup.kill" in target or
                          os.path.dirname(target) == "/sys/fs/cgroup/unified"}:  # cgroup2 directories
            outcomes.append([directory, "clone3 into", clone_into(directory)])
        for target in targets:
            if cgroups.PREFIX in target:
                try:
                    os.mkdir(os.path.join(os.path.dirname(target), "escape"))
                    outcomes.append([target, "mkdir", "made"])
                except OSError as error:
                    outcomes.append([target, "mkdir", error.strerror])
        return outcomes

    def check() -> None:
        fds = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        tried = attempts()
        # In a user namespace we are root, with every capability, but only over what it maps: not root's files.
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # (setuid made /proc/self root's; any process may undo that)
        if _libc.unshare(CLONE_NEWUSER) == 0:
            for name, line in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {uid} 1")):
                with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
                    handle.write(line)
            assert os.getuid() == 0
            tried += [[target, payload, f"userns: {outcome}"] for target, payload, outcome in attempts()]
        os.write(w, (json.dumps({"fds": fds, "tried": tried, "pid": os.getpid()}) + "\n").encode())
        os.read(go_r, 1)  # stay alive until the worker has looked at the members

    def worker() -> dict:
        pid = start_check(accounting, uid, check, how, keep=(w, go_r))
        report = json.loads(read_lines(r, 1)[0])
        report["members"] = accounting.members()
        report["cgroup_line"] = read_text(f"/proc/{pid}/cgroup")
        os.write(go_w, b"x")
        cgroups.reap(pid, block_all=False)
        accounting.kill_all()
        return report

    report = in_worker(worker)
    for fd in (r, w, go_r, go_w):
        os.close(fd)
    assert report["tried"], "nothing was attempted: the test lost sight of the cgroup files"
    assert any("procs" in target and cgroups.PREFIX not in target for target, _, _ in report["tried"])
    assert any(attempt == "clone3 into" for _, attempt, _ in report["tried"])
    denied = ("Permission denied", "Operation not permitted")
    assert [attempt for attempt in report["tried"] if attempt[2].removeprefix("userns: ") not in denied] == []
    assert any(outcome.startswith("userns: ") for _, _, outcome in report["tried"]), "no user namespace tried"
    assert report["pid"] in report["members"]
    assert cgroups.PREFIX in report["cgroup_line"]
    assert [path for path in report["fds"] if path.startswith("/sys/fs/cgroup")] == []


# --- after pivot_root, after a crash, without cgroups -------------------------------------------------------

def test_works_after_the_worker_pivot_roots_away_from_sys(backend: str, uid: int) -> None:
    new_root = tempfile.mkdtemp(prefix="cgroups-test-root-")
    r, w = os.pipe()

    def worker() -> dict:
        accounting = CheckAccounting.create("pivot", versions=(backend,))
        assert accounting is not None
        paths = accounting.paths
        _seal(new_root)
        sealed = not os.path.exists("/sys/fs/cgroup") and not os.path.exists("/proc/self")
        before = accounting.cpu_ns()
        pid = start_check(accounting, uid, lambda: spawn(burner(w), detach=True))
        burned = float(read_lines(r, 1)[0])
        cgroups.reap(pid, block_all=False)
        accounting.kill_all()
        used = (accounting.cpu_ns() - before) / 1e9
        accounting.close()
        return {"paths": paths, "sealed": sealed, "burned": burned, "cgroup": used}

    try:
        seen = in_worker(worker)
    finally:
        os.rmdir(new_root)
        os.close(r)
        os.close(w)
    assert seen["sealed"]
    assert seen["cgroup"] >= 0.5 * seen["burned"], seen
    assert seen["paths"] and not any(os.path.exists(path) for path in seen["paths"]), seen


def _seal(new_root: str) -> None:
    """What the worker does: a private mount namespace whose root is an empty tmpfs (no /sys, no /proc)."""
    def check(result: int) -> None:
        if result != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))

    check(_libc.unshare(CLONE_NEWNS))
    check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None))
    check(_libc.mount(b"tmpfs", new_root.encode(), b"tmpfs", 0, b"size=1m"))
    os.mkdir(os.path.join(new_root, "old"))
    if os.uname().machine in SYS_PIVOT_ROOT:
        check(_libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], new_root.encode(),
                            os.path.join(new_root, "old").encode()))
        os.chdir("/")
        check(_libc.umount2(b"/old", MNT_DETACH))
    else:
        os.chroot(new_root)
        os.chdir("/")


def test_a_crashed_workers_cgroup_is_killed_and_removed_by_the_next_create(
        backend: str, accounting: CheckAccounting, uid: int) -> None:
    r, w = os.pipe()

    def crashing_worker() -> dict:
        mine = CheckAccounting.create("crash", versions=(backend,))
        assert mine is not None
        start_check(mine, uid, lambda: spawn(pauser(w), detach=True))
        return {"paths": mine.paths, "daemon": int(read_lines(r, 1)[0])}

    left = in_worker(crashing_worker)  # the worker exits without close(): as if it had crashed
    os.close(w)
    os.close(r)
    assert all(os.path.isdir(path) for path in left["paths"])
    procs = os.path.join(left["paths"][0], "cgroup.procs")
    opened = {}
    for pid in map(int, read_text(procs).split()):
        with contextlib.suppress(ProcessLookupError):
            opened[pid] = os.pidfd_open(pid)
    members = [int(pid) for pid in read_text(procs).split()]  # still listed now: the pidfd is a member's
    pidfds = [fd for pid, fd in opened.items() if pid in members]
    assert left["daemon"] in members and alive(left["daemon"])
    again = CheckAccounting.create("again", versions=(backend,))
    assert again is not None
    try:
        assert not any(os.path.exists(path) for path in left["paths"])
        assert all(select.select([fd], [], [], DEADLINE_S)[0] for fd in pidfds)  # readable: it has exited
        assert processes_of(uid) == []
        assert all(os.path.isdir(path) for path in accounting.paths)  # a live sibling is left alone
        assert accounting.members() == [] and accounting.kill_all() == 0
    finally:
        again.close()
        for fd in opened.values():
            os.close(fd)


def test_create_says_why_when_no_hierarchy_is_reachable() -> None:
    if os.geteuid() != 0:
        pytest.skip("making cgroups needs root")

    def worker() -> dict:
        _libc.unshare(CLONE_NEWNS)
        _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        assert _libc.mount(b"tmpfs", b"/sys/fs/cgroup", b"tmpfs", 0, b"size=1m") == 0  # hides every hierarchy
        errors: list[str] = []
        return {"made": CheckAccounting.create("hidden", errors=errors) is not None, "errors": errors}

    seen = in_worker(worker)
    assert seen["made"] is False
    assert [error.split(":")[0] for error in seen["errors"]] == ["cgroup2", "cgroup1"], seen


# --- the raw clone3 leaves Python as os.fork would ---------------------------------------------------------

def clone3_child_report(uid: int, fork_hooks: bool) -> dict:
    """What a check forked by clone3 (with or without Python's fork hooks) sees of itself: its pid, a
    thread's, its native thread id, a shell's, a grandchild's exit status and a random draw."""
    if os.geteuid() != 0 or not _mounted("cgroup2"):
        pytest.skip("needs root and a cgroup2 hierarchy")
    import random
    import subprocess
    import threading

    r, w = os.pipe()

    def check() -> None:
        results: list[int] = []
        thread = threading.Thread(target=lambda: results.append(os.getpid()))
        thread.start()
        thread.join()
        shell = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
        grandchild = os.fork()
        if grandchild == 0:
            os._exit(7)
        _, status = os.waitpid(grandchild, 0)
        os.write(w, (json.dumps({"pid": os.getpid(), "thread": results, "native": threading.get_native_id(),
                                 "sh": int(shell.stdout), "status": os.WEXITSTATUS(status),
                                 "random": random.random()}) + "\n").encode())

    def worker() -> dict:
        accounting = CheckAccounting.create("python", versions=("cgroup2",))
        assert accounting is not None
        accounting.fork_hooks = fork_hooks
        if threading.active_count() == 1:  # (true here, but CPython's count of threads survives in_worker's fork:
            cgroups._thread = types.SimpleNamespace(_count=lambda: 0)  # without this, os.fork would be used)
        try:
            assert "clone3" in accounting.mechanism, accounting.mechanism  # kernels since 5.7 can
            pid = start_check(accounting, uid, check)
            seen = json.loads(read_lines(r, 1)[0])
            seen.update(forked=pid, mine=random.random(), exit=os.waitpid(pid, 0)[1])
            return seen
        finally:
            accounting.close()

    try:
        return in_worker(worker)
    finally:
        os.close(r)
        os.close(w)


def test_a_child_made_by_clone3_runs_python_normally(uid: int) -> None:
    seen = clone3_child_report(uid, fork_hooks=True)
    assert seen["exit"] == 0
    assert seen["pid"] == seen["forked"] and seen["thread"] == [seen["pid"]] and seen["native"] == seen["pid"]
    assert seen["sh"] != seen["pid"] and seen["status"] == 7
    assert seen["random"] != seen["mine"]  # random reseeded in the child: the at-fork hooks ran


def test_without_fork_hooks_a_clone3_child_still_runs_python_normally(uid: int) -> None:
    """The worker turns the hooks off (it is single-threaded and registers no at-fork callback): threads,
    subprocesses and forks still work in the child, and the callbacks are the one thing skipped."""
    seen = clone3_child_report(uid, fork_hooks=False)
    assert seen["exit"] == 0
    assert seen["pid"] == seen["forked"] and seen["thread"] == [seen["pid"]]
    assert seen["sh"] != seen["pid"] and seen["status"] == 7
    assert seen["random"] == seen["mine"]  # the at-fork callback (random's reseeding) did not run: hence the rule
