"""CPU time and a reliable kill for a check's whole process tree, measured outside it (standard library only).

Each worker slot gets one cgroup. Everything a check starts lives in it and cannot leave (moving needs write
access to root-owned cgroup files), so the cgroup's CPU counter covers processes that detach, daemonise or
outlive the check, and one kill reaches them all. Two mechanisms, the first that works is used:

- cgroup2 (also on hybrid hosts, where /sys/fs/cgroup/unified has no controllers): `cpu.stat` usage_usec
  needs no controller, `cgroup.freeze` serves the kill, and the check's child is created inside the cgroup
  by clone3(CLONE_INTO_CGROUP). Moving a running process instead (a write to cgroup.procs) takes a global
  percpu rwsem for writing, which waits for an RCU grace period unless one ran recently: measured 1.5-5 ms
  median, 15 ms p90 per move when checks are 20 ms apart, 0.05-0.2 ms back to back.
- cgroup1: cpuacct.usage for CPU, the freezer for the kill; the child moves itself in (`join`).

Both kill alike: freeze, SIGKILL each member, thaw (frozen, nothing forks and no pid is reused in between),
then wait until the cgroup is empty.

Everything is reached through directory fds opened at creation, so it keeps working after the worker has
pivot_root'ed away from /sys. A worker holds an flock on its cgroup; `create` kills and removes any sibling
whose lock is free (its worker died), so a crash leaks nothing past the next worker start.

Without cgroups, `reap` is the fallback: a subreaper adds up wait4's rusage of every process it reaps.
"""

from __future__ import annotations

import _thread
import contextlib
import ctypes
import fcntl
import os
import resource
import select
import signal
import time
from collections.abc import Callable

PREFIX = "codemill-sandbox-"
WAIT_S = 2.0  # how long kill_all waits for killed members to exit (D-state is the only legitimate delay)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_CLONE_INTO_CGROUP = 0x200000000
_SYS_CLONE3 = 435  # the same number on every architecture Linux added it to after the syscall-table merge


class CgroupUnavailable(Exception):
    """This machine (or this process) cannot give a check its own cgroup."""


class Reaped:
    """What `reap` collected (a plain class: a NamedTuple's `count` field would shadow tuple.count)."""

    __slots__ = ("count", "cpu_s", "status", "usage")

    def __init__(self, status: int, usage: resource.struct_rusage, cpu_s: float, count: int) -> None:
        self.status = status  # wait status of the direct child
        self.usage = usage  # its rusage (itself plus the descendants it reaped)
        self.cpu_s = cpu_s  # user + system CPU of every process reaped here, the direct child included
        self.count = count  # how many processes were reaped, the direct child included


def reap(pid: int, block_all: bool = False) -> Reaped:
    """Reap `pid`, then every other child of the caller, adding up their rusage: the fallback CPU meter.

    Counted once each, every descendant whose parent waited for it (wait4 folds it into the parent's
    rusage) and every orphan reparented to the caller, which must be a PR_SET_CHILD_SUBREAPER (or pid 1).
    Not counted: descendants whose parent ignored SIGCHLD (the kernel discards their rusage), and those
    still running when this returns (they count towards whichever later call reaps them). `block_all`
    waits until the caller has no child left: only once everything has been killed."""
    _, status, usage = os.wait4(pid, 0)
    cpu, count = usage.ru_utime + usage.ru_stime, 1
    while True:
        try:
            other, _, more = os.wait4(-1, 0 if block_all else os.WNOHANG)
        except ChildProcessError:
            break
        if other == 0:
            break
        cpu, count = cpu + more.ru_utime + more.ru_stime, count + 1
    return Reaped(status, usage, cpu, count)


class _Dir:
    """One cgroup directory, held by fds: its parent's (to remove it) and its own (to open its files)."""

    __slots__ = ("fd", "name", "parent")

    def __init__(self, parent: int, name: str, make: bool) -> None:
        self.parent = os.dup(parent)  # non-inheritable, like every fd here
        self.name = name
        try:
            if make:
                os.mkdir(name, 0o755, dir_fd=parent)
            self.fd = os.open(name, _DIR, dir_fd=parent)
        except OSError:
            os.close(self.parent)
            raise

    def open(self, file: str, flags: int) -> int:
        return os.open(file, flags | os.O_CLOEXEC, dir_fd=self.fd)

    def read(self, file: str) -> bytes:
        fd = self.open(file, os.O_RDONLY)
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def remove(self) -> bool:
        try:
            os.rmdir(self.name, dir_fd=self.parent)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.parent)


class CheckAccounting:
    """One slot's cgroup: made by the worker (root) before it seals its filesystem, used once per check.

    Per check: `before = cpu_ns()`; `pid = fork()` (the child starts inside, holding none of our fds);
    when the child is done or out of time, `kill_all()`; the check's CPU is `cpu_ns() - before`."""

    mechanism: str  # what is active, for the worker's hello
    paths: list[str]  # where its directories were made (unreachable once the worker has sealed its root)

    def __init__(self, dirs: list[_Dir]) -> None:
        self._dirs = dirs  # the first holds the lock and lists the members
        self._fds: list[int] = []  # every other fd we hold, closed in a forked child
        self._procs: list[int] = []  # cgroup.procs of each directory, for `join`
        self._identity: dict[int, tuple[int, int]] = {}  # fd -> (device, inode), to recognise ours in a child
        self._notifier: int | None = None  # an fd that signals POLLPRI when the cgroup empties, if any
        # Python's fork hooks (PyOS_BeforeFork/AfterFork_*) around clone3: they run the at-fork callbacks (e.g.
        # random's reseeding) and re-create locks another thread could hold. A single-threaded caller that
        # registers no callback may turn them off: through ctypes they cost each fork ~50 copied pages (0.2 ms).
        self.fork_hooks = True

    @classmethod
    def _made(cls, parents: list[str], label: str) -> CheckAccounting:
        self = cls(cls._make_dirs(parents, label))
        try:
            self._procs = [self._keep(d.open("cgroup.procs", os.O_WRONLY)) for d in self._dirs]
            self._adopted(self._dirs)
            self.paths = [_path_of(d) for d in self._dirs]
            for fd in self._all_fds():
                self._identity[fd] = _identity(fd)
            self._check()
        except BaseException:
            for d in reversed(self._dirs):  # nothing runs in it yet (a probe child has been reaped)
                d.remove()
            self._forget()
            raise
        return self

    def _keep(self, fd: int) -> int:
        self._fds.append(fd)
        return fd

    @classmethod
    def create(cls, label: str, versions: tuple[str, ...] = ("cgroup2", "cgroup1"),
               errors: list[str] | None = None) -> CheckAccounting | None:
        """The slot's cgroup under the caller's own, named after `label`; None where cgroups are unusable
        (each mechanism's reason is appended to `errors`). Removes what crashed workers left behind."""
        for version in versions:
            backends: dict[str, type[_Cgroup2] | type[_Cgroup1]] = {"cgroup2": _Cgroup2, "cgroup1": _Cgroup1}
            backend = backends[version]
            try:
                return backend.make(label)
            except Exception as error:  # whatever the reason, the worker falls back: it must not die of it
                if errors is not None:
                    errors.append(f"{version}: {error}")
        return None

    @classmethod
    def _make_dirs(cls, parents: list[str], label: str) -> list[_Dir]:
        """Sweep stale siblings, then make and lock our directory under each parent (same name)."""
        parent_fds = [os.open(path, _DIR) for path in parents]
        try:
            for name in os.listdir(parent_fds[0]):
                if name.startswith(PREFIX):
                    cls._sweep(parent_fds, name)
            tag = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40]
            for _ in range(3):  # a sweeper in another worker can take a directory between mkdir and flock
                name = f"{PREFIX}{tag}-{os.getpid()}-{os.urandom(4).hex()}"
                dirs = [_Dir(parent_fds[0], name, make=True)]
                try:
                    fcntl.flock(dirs[0].fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.stat("cgroup.procs", dir_fd=dirs[0].fd)  # still there: nobody swept it
                except OSError:
                    dirs[0].remove()
                    dirs[0].close()
                    continue
                try:
                    dirs += [_Dir(fd, name, make=True) for fd in parent_fds[1:]]
                except OSError:
                    for made in reversed(dirs):
                        made.remove()
                        made.close()
                    raise
                return dirs
            raise CgroupUnavailable("could not create and lock a cgroup directory")
        finally:
            for fd in parent_fds:
                os.close(fd)

    @classmethod
    def _sweep(cls, parent_fds: list[int], name: str) -> None:
        """Kill and remove a sibling whose worker is gone (its lock is free); leave live ones alone."""
        try:
            first = _Dir(parent_fds[0], name, make=False)
        except OSError:
            return
        try:
            fcntl.flock(first.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            first.close()
            return  # alive
        dirs = [first]
        for fd in parent_fds[1:]:
            with contextlib.suppress(OSError):
                dirs.append(_Dir(fd, name, make=False))
        stale = cls(dirs)
        try:
            stale._adopted(dirs)
            stale.close()
        except OSError:  # not one of ours after all, or half made: left alone, lock released
            stale._forget()

    def _adopted(self, dirs: list[_Dir]) -> None:
        """Open what kill_all and cpu_ns need (backend hook)."""

    def _check(self) -> None:
        """Prove that a child can be put in, and set `mechanism` (backend hook)."""

    def _probe_join(self) -> None:
        pid = os.fork()
        if pid == 0:
            try:
                self.join()
            finally:
                os._exit(0 if not self._dirs else 1)
        if os.waitpid(pid, 0)[1] != 0:
            raise CgroupUnavailable("a child could not move itself into the cgroup")

    def fork(self) -> int:
        """Like os.fork, except that the child starts inside the cgroup, with none of our fds open."""
        pid = os.fork()
        if pid == 0:
            self.join()
        return pid

    def child_fds(self) -> tuple[int, ...]:
        """The fds `join` writes to: a child that closes fds before joining must keep these."""
        return tuple(self._procs)

    def join(self) -> None:
        """In a forked child, as root and before anything else: move this process (and so everything it
        will start) into the cgroup, then close our fds here: an fd opened by root on cgroup.procs moves
        any process, so an unprivileged check must never hold one. Not needed after `fork`."""
        for fd in self._procs:
            os.write(fd, b"0")  # 0 is the writer itself, whatever pid namespace it is in
        self._forget(checked=True)

    def _all_fds(self) -> list[int]:
        return [*self._fds, *(fd for d in self._dirs for fd in (d.fd, d.parent))]

    def _forget(self, checked: bool = False) -> None:
        """Close all our fds (in the worker after removal, in a child at once: closing the locked fd there
        leaves the worker's lock in place). `checked`: only those still ours, by device and inode: the
        child may have closed them already, and reused the numbers."""
        for fd in self._all_fds():
            if not checked or _identity(fd) == self._identity.get(fd):
                os.close(fd)
        self._fds, self._dirs, self._procs = [], [], []

    def members(self) -> list[int]:
        """Pids of the live processes in the cgroup (as seen from our pid namespace; 0 for unseen ones)."""
        return [int(pid) for pid in self._dirs[0].read("cgroup.procs").split()]

    def cpu_ns(self) -> int:
        """User + system CPU of everything that ever ran in the cgroup, in nanoseconds."""
        raise NotImplementedError

    def kill_all(self, wait_s: float = WAIT_S) -> int:
        """SIGKILL every member and wait (up to `wait_s`) until none is left; how many there were."""
        deadline = time.monotonic() + wait_s
        killed: set[int] = set()
        while self._occupied() and time.monotonic() < deadline:
            self._freeze(True, deadline)  # (one stuck in uninterruptible sleep past the deadline is killed anyway)
            try:
                killed |= _kill(self.members())
            finally:
                self._freeze(False, deadline)
            self._wait_empty(deadline)
        return len(killed)

    def _occupied(self) -> bool:
        raise NotImplementedError

    def _freeze(self, frozen: bool, deadline: float) -> None:
        raise NotImplementedError

    def _wait_empty(self, deadline: float) -> None:
        _until(lambda: not self._occupied(), deadline, self._notifier)

    def _kill_for_good(self) -> None:
        self.kill_all()

    def close(self) -> None:
        """Kill what is left and remove the cgroup (a busy one is left to the next `create`'s sweep)."""
        if not self._dirs:
            return
        try:
            self._kill_for_good()
        finally:
            removed = True
            for d in reversed(self._dirs):  # the locked one last: it marks the others as ours
                removed = removed and d.remove()
            self._forget()


class _Cgroup2(CheckAccounting):
    @classmethod
    def make(cls, label: str) -> CheckAccounting:
        return cls._made([_own_dir("cgroup2", "")], label)

    def _check(self) -> None:
        self._clone3 = self._probe_clone3()
        if not self._clone3:
            self._probe_join()
        self._child_closes = tuple(self._all_fds())
        how = "clone3 into the cgroup" if self._clone3 else "each child moves itself in"
        self.mechanism = f"cgroup2 {self.paths[0]}: cpu.stat, cgroup.freeze; {how}"

    def _adopted(self, dirs: list[_Dir]) -> None:
        self._stat = self._keep(dirs[0].open("cpu.stat", os.O_RDONLY))
        self._events = self._notifier = self._keep(dirs[0].open("cgroup.events", os.O_RDONLY))
        self._freezer = self._keep(dirs[0].open("cgroup.freeze", os.O_WRONLY))
        self._kill = self._keep(dirs[0].open("cgroup.kill", os.O_WRONLY))

    def _probe_clone3(self) -> bool:
        """Whether this kernel creates children inside a cgroup (5.7+); checked once with a child that
        exits at once. False where clone3 is refused (old kernels, seccomp filters)."""
        self._clone_args = _CloneArgs(flags=_CLONE_INTO_CGROUP, exit_signal=signal.SIGCHLD, cgroup=self._dirs[0].fd)
        # The call's arguments as C values, made once: ctypes then converts nothing per call (each check's
        # fork copied ~15 pages fewer)
        self._clone_call = (ctypes.c_long(_SYS_CLONE3), ctypes.c_void_p(ctypes.addressof(self._clone_args)),
                            ctypes.c_size_t(ctypes.sizeof(self._clone_args)))
        pid = _syscall(*self._clone_call)
        if pid == 0:
            os._exit(0)
        if pid < 0:
            return False
        os.waitpid(pid, 0)
        return True

    def fork(self) -> int:
        if not self._clone3 or _thread._count() > 0:  # raw clone3 skips libc's fork handlers (malloc locks)
            return super().fork()
        # os.fork, with clone3 in its place; the GIL stays held throughout. All is bound in advance and the
        # child allocates nothing: each page it writes is a copy (a third of a bare fork's faults were building
        # the list of fds to close).
        hooks = self.fork_hooks
        if hooks:
            _before_fork()
        pid = _syscall(*self._clone_call)
        if pid == 0:
            if hooks:
                _after_fork_child()
            for fd in self._child_closes:
                _close(fd)
            return 0
        if hooks:
            _after_fork_parent()
        if pid < 0:  # (no errno without ctypes' errno swapping, which costs every call: os.fork says it)
            return super().fork()
        return pid

    def cpu_ns(self) -> int:
        stat = os.pread(self._stat, 4096, 0)  # "usage_usec N\n..." (seq files re-read from offset 0)
        return int(stat[stat.index(b"usage_usec ") + 11:].split(None, 1)[0]) * 1000

    def _occupied(self) -> bool:
        return b"populated 1" in os.pread(self._events, 256, 0)

    def _freeze(self, frozen: bool, deadline: float) -> None:
        os.write(self._freezer, b"1" if frozen else b"0")
        if frozen:
            _until(lambda: b"frozen 1" in os.pread(self._events, 256, 0), deadline, self._events)

    def _kill_for_good(self) -> None:
        """cgroup.kill, which also reaches members we cannot see, only here: on kernels with the kill_seq
        fix for fork races (6.14, stable backports; seen on 6.18) clone3 compares the target's kill counter
        with the *parent's* cgroup's, so after one cgroup.kill every child would be killed at birth."""
        if self._occupied():
            os.write(self._kill, b"1")
            self._wait_empty(time.monotonic() + WAIT_S)


class _Cgroup1(CheckAccounting):
    @classmethod
    def make(cls, label: str) -> CheckAccounting:
        cpuacct, freezer = _own_dir("cgroup", "cpuacct"), _own_dir("cgroup", "freezer")
        return cls._made([cpuacct] if cpuacct == freezer else [cpuacct, freezer], label)

    def _check(self) -> None:
        self._probe_join()
        self.mechanism = f"cgroup1 {', '.join(self.paths)}: cpuacct, freezer; each child moves itself in"

    def _adopted(self, dirs: list[_Dir]) -> None:
        self._usage = self._keep(dirs[0].open("cpuacct.usage", os.O_RDONLY))
        self._state = self._keep(dirs[-1].open("freezer.state", os.O_RDWR))

    def cpu_ns(self) -> int:
        return int(os.pread(self._usage, 64, 0))

    def _occupied(self) -> bool:
        return any(self.members())  # (the v1 cgroup has no notification when it empties)

    def _freeze(self, frozen: bool, deadline: float) -> None:
        os.write(self._state, b"FROZEN" if frozen else b"THAWED")
        if frozen:
            _until(lambda: os.pread(self._state, 64, 0).startswith(b"FROZEN"), deadline)



class _CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal",
                                                     "stack", "stack_size", "tls", "set_tid", "set_tid_size",
                                                     "cgroup")]


_libc_gil = ctypes.PyDLL(None)  # PyDLL: the GIL stays held across the call, as in os.fork
_libc_gil.syscall.restype = ctypes.c_long  # (no argtypes: it is called with C values only)
_pythonapi = ctypes.pythonapi
for _name in ("PyOS_BeforeFork", "PyOS_AfterFork_Child", "PyOS_AfterFork_Parent"):
    getattr(_pythonapi, _name).restype = None
_before_fork, _after_fork_child, _after_fork_parent = (_pythonapi.PyOS_BeforeFork, _pythonapi.PyOS_AfterFork_Child,
                                                       _pythonapi.PyOS_AfterFork_Parent)
_syscall, _close = _libc_gil.syscall, os.close


def _kill(pids: list[int]) -> set[int]:
    """SIGKILL each pid but 0 (a process in a pid namespace we cannot see into); those that were there."""
    killed = set()
    for pid in pids:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
    return killed


def _until(done: Callable[[], bool], deadline: float, notifier: int | None = None) -> bool:
    """Until `done()`, re-checked at growing intervals, and at once when `notifier` signals POLLPRI
    (cgroup.events does, though from a kernel worker that a busy machine schedules late)."""
    poller = select.poll()
    if notifier is not None:
        poller.register(notifier, select.POLLPRI)
    delay = 0.0001
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        poller.poll(min(left, delay) * 1000)  # (with nothing registered, a plain sleep)
        delay = min(delay * 2, 0.01)
    return True


def _own_dir(fstype: str, controller: str) -> str:
    """The directory of the caller's own cgroup in the hierarchy mounted as `fstype` with `controller`."""
    own = None
    with open("/proc/self/cgroup", encoding="ascii") as lines:
        for line in lines:
            number, controllers, path = line.rstrip("\n").split(":", 2)
            unified = number == "0" and controllers == ""
            if unified if fstype == "cgroup2" else controller in controllers.split(","):
                own = path
    if own is None:
        raise CgroupUnavailable(f"this process is in no {controller or fstype} cgroup")
    reason = f"no {controller or fstype} hierarchy mounted"
    with open("/proc/self/mountinfo", encoding="utf-8") as lines:
        for line in lines:
            fields, _, tail = line.partition(" - ")
            kind, _, options = tail.split()[:3]
            root, mountpoint = (_unescape(field) for field in fields.split()[3:5])
            if kind != fstype or (controller and controller not in options.split(",")):
                continue
            relative = os.path.relpath(own, root)
            if relative == "." or not relative.startswith(".."):
                path = os.path.normpath(os.path.join(mountpoint, relative))
                if os.path.isdir(path) and os.access(path, os.W_OK):
                    return path
                reason = f"{path} is not {'writable' if os.path.isdir(path) else 'reachable'}"
    raise CgroupUnavailable(reason)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def _identity(fd: int) -> tuple[int, int]:
    try:
        stat = os.fstat(fd)
    except OSError:
        return (-1, -1)
    return (stat.st_dev, stat.st_ino)


def _path_of(d: _Dir) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{d.fd}")
    except OSError:
        return d.name

