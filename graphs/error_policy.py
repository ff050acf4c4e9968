"""What an exception raised inside a thread means for the batch: the one place that decides.

- `ENDPOINT`: the model's endpoint failed (`tools.errors.EndpointError` and its subclasses, and any other
  `LLMError` except `ContextLengthExceeded`, which is a model outcome). The thread stays unfinished; the next
  run retries it (a request refused with a plain 4xx, only for a bounded number of runs:
  `graphs.thread_runner.refused`); the batch's circuit breaker counts it.
- `SANDBOX`: the sandbox lost a check (`SandboxError` out of the executor). The thread stays unfinished for a
  bounded number of runs, then it is recorded as an infrastructure failure.
- `FATAL`: nothing will go right until an operator acts (`ConfigError`, a full disk). The batch stops.
- `THREAD`: anything else — an agent's or plug-in's bug, a validation that overflowed (`RecursionError`,
  `MemoryError`), a graph error: that thread's recorded failure; the batch goes on.
Ctrl-C and the cancellation of the thread's own task are none of these: they pass through (`passes_through`).
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
from enum import StrEnum

from tools.errors import CodemillError, ConfigError, ContextLengthExceeded, LLMError, SandboxError

MESSAGE_LIMIT = 500  # characters of an error message kept in a record (a RecursionError's can be huge)
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class ErrorKind(StrEnum):
    ENDPOINT = "endpoint"
    SANDBOX = "sandbox"
    FATAL = "fatal"
    THREAD = "thread"


class DiskFull(CodemillError):
    """The disk holding OUTDIR (or the reply cache, or the checkpoints) is full."""


def disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return True
        if isinstance(current, OSError) and current.errno in _DISK_FULL_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error) and "disk is full" in str(current).lower():
            return True
        if isinstance(current, ConfigError) and "disk is full" in str(current).lower():
            return True  # the reply cache reports a failed write as a ConfigError carrying SQLite's words
        current = current.__cause__ or current.__context__
    return False


def classify(error: BaseException) -> ErrorKind:
    """What `error` means for its thread and for the batch (see the module docstring)."""
    if disk_full(error) or isinstance(error, ConfigError):
        return ErrorKind.FATAL
    if isinstance(error, SandboxError):
        return ErrorKind.SANDBOX
    if isinstance(error, LLMError) and not isinstance(error, ContextLengthExceeded):
        return ErrorKind.ENDPOINT
    return ErrorKind.THREAD


def passes_through(error: BaseException) -> bool:
    """Whether `error` is not a thread's to record: Ctrl-C, a generator being closed, or the cancellation of the
    running task itself (the batch stopping). A `CancelledError` that nobody asked of this task (a plug-in raising
    it, a future someone else cancelled) is a failure like any other."""
    if isinstance(error, KeyboardInterrupt | GeneratorExit):
        return True
    if isinstance(error, asyncio.CancelledError):
        task = asyncio.current_task()
        return task is None or task.cancelling() > 0
    return False


def describe(error: BaseException, limit: int = MESSAGE_LIMIT) -> str:
    """The error's message on one line, shortened; never raises (a hostile `__str__` included)."""
    try:
        text = " ".join(str(error).split())
    except Exception:  # a broken __str__ must not hide the error it describes
        text = ""
    text = text or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def disk_full_message(error: BaseException) -> str:
    return (f"the disk is full ({describe(error, 200)}): finished rows are kept and no row is torn; free some "
            "space and re-run the same command to resume")
