"""What runs inside the forked child: confine the process, run one check, positively report completion.

Standard library only (imported by the worker). The child is a fork of a warm worker, so running Python
code costs little more than a bare fork; JavaScript execs Node from the confined child. What every
check shares is prepared in the worker (`prepare_worker`, `rlimits_for`): each page the child writes is
a copy-on-write fault, the main per-check cost left. The completion report carries a nonce that exists
only in the child's memory (inherited from the worker, never on a descriptor), and `pyguard` keeps that
memory out of the candidate's reach: `sys.exit`, `os._exit`, a crash or a forged report never look like
a pass.
"""

from __future__ import annotations

import builtins
import ctypes
import fcntl
import io
import json
import os
import resource
import sys
from types import CodeType
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
NODE_BASE_MB = 1024  # Node reserves ~730 MB of address space before running anything
NODE_EXTRA_THREADS = 8  # V8 and libuv threads count against RLIMIT_NPROC
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

# Resolved once in the worker and called with C values only: no argument conversion and no errno swapping,
# which cost the check copied pages (~35 for its two calls)
_prctl = ctypes.CDLL(None).prctl
_prctl.restype = ctypes.c_int
_PAGE = resource.getpagesize()
_LIMIT_KINDS = (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
                resource.RLIMIT_CORE, resource.RLIMIT_NPROC)
_HARD: dict[int, int] = {}  # the worker's hard limits, read once by prepare_worker


def prctl_args(option: int, value: int) -> tuple[ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                                                ctypes.c_ulong]:
    return ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)


def prctl(option: int, value: int) -> None:
    _prctl(*prctl_args(option, value))


_DEATH_SIGNAL, _NOT_DUMPABLE = prctl_args(PR_SET_PDEATHSIG, 9), prctl_args(PR_SET_DUMPABLE, 0)  # the child's two


def scrubbed_env(workdir: str) -> dict[str, str]:
    """The child's whole environment, built from nothing."""
    return {"PATH": SAFE_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "UV_THREADPOOL_SIZE": "2"}


def prepare_worker() -> int:
    """Called once in the worker before it serves checks: everything every check shares is set up here,
    so the forked child does (and copies on write) as little as possible. Returns the /dev/null fd."""
    os.environ.clear()  # every check then only sets its own HOME and TMPDIR
    os.environ.update(scrubbed_env("/nonexistent"))
    # Only the standard library from here on: the checks must not import the sandbox's own modules.
    sys.path[:] = [p for p in sys.path if p and not p.endswith(os.path.join("tools", "sandbox"))]
    for kind in _LIMIT_KINDS:
        _HARD[kind] = resource.getrlimit(kind)[1]
    prctl(PR_SET_NO_NEW_PRIVS, 1)  # inherited by every fork, irrevocable: setuid binaries stay powerless
    return os.open(os.devnull, os.O_RDONLY)


def address_space_now() -> int:
    """The calling process's address space in bytes (a forked child starts with exactly the same)."""
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        return int(os.read(fd, 256).split()[0]) * _PAGE
    finally:
        os.close(fd)


def _capped(kind: int, soft: int, hard: int | None = None) -> tuple[int, tuple[int, int]]:
    hard = soft if hard is None else hard
    current_hard = _HARD[kind]
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    return kind, (soft, hard)


def rlimits_for(request: dict, address_space: int) -> list[tuple[int, tuple[int, int]]]:
    """The (kind, (soft, hard)) limits of one check, computed in the worker before it forks.
    `address_space` is the worker's at fork time (Python checks get `memory_mb` on top of it)."""
    limits = request["limits"]
    javascript = request["language"] == "javascript"
    memory = limits["memory_mb"] * 1024 * 1024
    address_space = NODE_BASE_MB * 1024 * 1024 + memory if javascript else address_space + memory
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    return [_capped(resource.RLIMIT_AS, address_space), _capped(resource.RLIMIT_CPU, cpu, cpu + 1),
            _capped(resource.RLIMIT_FSIZE, limits["file_size_mb"] * 1024 * 1024),
            _capped(resource.RLIMIT_NOFILE, limits["max_open_files"]), _capped(resource.RLIMIT_CORE, 0),
            _capped(resource.RLIMIT_NPROC, limits["max_processes"] + (NODE_EXTRA_THREADS if javascript else 0))]


def confine(workdir: str, uid: int | None, stdin_fd: int, out_fd: int, err_fd: int, keep_fds: tuple[int, ...],
            rlimits: list[tuple[int, tuple[int, int]]], disable_sockets: bool, place: tuple[int, ...] = ()) -> None:
    """Everything between fork and running untrusted code; order matters (privileges drop last).
    `place`: descriptors moved to 3, 4, … and kept (for a program exec'd next), beside `keep_fds`."""
    os.setpgid(0, 0)
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    if place:
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1024) for fd in place]  # out of the way of 3, 4, …
        for target, fd in enumerate(high, start=3):
            os.dup2(fd, target)  # inheritable: it survives the exec
        keep_fds = tuple(sorted({*keep_fds, *range(3, 3 + len(place))}))
    low = 3
    for fd in keep_fds:  # (sorted) close everything else: protocol pipes, pidfds, the worker's files
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    os.chdir(workdir)
    setrlimit = resource.setrlimit
    for kind, pair in rlimits:
        setrlimit(kind, pair)
    if disable_sockets:  # before dropping privileges: the uid may not be able to read the stdlib
        _disable_sockets()
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    _prctl(*_DEATH_SIGNAL)  # must follow setuid, which clears it (NO_NEW_PRIVS: prepare_worker)
    _prctl(*_NOT_DUMPABLE)  # no process of the slot's uid may read this one's memory (/proc/PID/mem)


def _disable_sockets() -> None:
    """Fallback when no network namespace is available: refuse to create sockets from Python."""
    import _socket
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("network access is disabled in the sandbox")

    for module in (socket, _socket):
        for name in ("socket", "socketpair", "create_connection", "create_server", "fromfd"):
            if hasattr(module, name):
                setattr(module, name, refuse)


def run_python(code: CodeType | str, test: CodeType | str, report_fd: int, nonce: str, private_uid: bool,
               guards: tuple) -> None:
    """Run compiled code then test, report, and never return.

    `code` and `test` are code objects compiled by the worker (or source text, compiled here when the
    worker left that to the child). `guards` is `(arm, test_namespace)` from `pyguard`, made in the worker
    (`arm` arms the audit hook the worker installed, and returns the list its refusals go to). The report
    pipe first gets a ready mark, "R": from then on whatever happens is the candidate's doing; the parent
    measures time from that mark. The nonce lives only in this process's memory, which the armed audit hook
    keeps out of the candidate's reach.
    """
    # Bind all we need afterwards now (bound once in the worker: `_HARNESS`): the code may monkeypatch os,
    # time, json, builtins or this module. Nothing after the code ran looks up a builtin or a global, so a
    # patched builtins module cannot change the report (restoring builtins instead touched every builtin
    # object: ~90 copied pages).
    (write, kill, exit_, getpid, exec_, quote, describe, untraced, type_, str_, isinstance_, assertion, memory,
     system_exit, base_exception, os_error, flush, text_wrapper) = _HARNESS
    arm, test_namespace = guards
    # The streams as they are now (TextIOWrappers on fds 1 and 2), flushed with the unbound C method: the
    # code may replace sys.stdout or shadow a stream's `flush`.
    streams = (sys.stdout, sys.stderr)
    pid = getpid()
    refusals: list[str] = []
    status, error_type, message = "passed", None, ""
    write(report_fd, b"R")
    try:  # (nothing of the code's has run yet: plain builtins are safe here)
        if isinstance(code, str):
            code = compile(code, "<candidate>", "exec", dont_inherit=True)  # not this module's __future__
        if isinstance(test, str):
            test = compile(test, "<test>", "exec", dont_inherit=True)
    except BaseException as exc:
        status, error_type, message = "error", type_(exc).__name__, describe(exc, str_)
    else:
        namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
        refusals = arm()
        try:
            exec_(code, namespace)
            exec_(test, test_namespace(namespace))
        except assertion as exc:
            status, error_type = "failed", "AssertionError"
            message = describe(untraced(exc, None), str_)  # its traceback holds this frame: drop it first
        except memory:
            status, error_type, message = "memory", "MemoryError", "address-space limit reached"
        except system_exit as exc:
            status, error_type = "crashed", "SystemExit"
            untraced(exc, None)
            message = f"exited early (sys.exit({describe(exc.code, str_)})) before the tests finished"
        except base_exception as exc:
            status = "error"
            untraced(exc, None)
            try:
                error_type = type_(exc).__name__ if isinstance_(type_(exc).__name__, str_) else "Exception"
            except base_exception:
                error_type = "Exception"
            message = describe(exc, str_)
    if getpid() != pid:  # a fork made by the code ran off the end of the harness
        exit_(0)
    for stream in streams:
        try:  # (not contextlib: the code may have patched it)
            if isinstance_(stream, text_wrapper):
                flush(stream)
        except base_exception:
            pass
    refused = refusals[0] if refusals else None
    # Built by hand from pre-bound C functions: the code may have replaced json, str or isinstance.
    report = ('{"nonce": ' + quote(nonce) + ', "status": ' + quote(status) + ', "error_type": '
              + ("null" if error_type is None else quote(error_type)) + ', "message": ' + quote(message)
              + ', "refused": ' + ("null" if refused is None else quote(refused)) + "}")
    write(report_fd, report.encode("ascii"))
    if private_uid:
        try:  # noqa: SIM105 — not contextlib: the code may have patched it
            kill(-1, 9)  # every process of this slot's uid but us: what the code left running
        except os_error:
            pass
    exit_(0)


def _describe(value: object, str_: type[str], caught: type[BaseException] = BaseException) -> str:
    try:
        return str_(value)[:2000]
    except caught:  # bound at definition: the code may have replaced builtins.BaseException
        return "<unprintable>"


# What `run_python` needs once the code has run, bound here, in the worker: the child unpacks one tuple
# instead of looking each up (every object it touches is a page it copies).
_HARNESS: tuple[Any, ...] = (
    os.write, os.kill, os._exit, os.getpid, exec, json.encoder.encode_basestring_ascii, _describe,
    BaseException.with_traceback, type, str, isinstance, AssertionError, MemoryError, SystemExit,
    BaseException, OSError, io.TextIOWrapper.flush, io.TextIOWrapper)


def exec_node(argv: list[str]) -> None:
    """Replace this process with the JavaScript runner (`javascript.runner_argv`); its input and results
    are on fds 3 and 4."""
    os.execve(argv[0], ["node", *argv[1:]], dict(os.environ))
