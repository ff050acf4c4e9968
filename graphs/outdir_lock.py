"""One writer per OUTDIR: an exclusive lock on `OUTDIR/.lock` for as long as a run (or a chat `/save`) writes.

The lock is the kernel's (`flock`), so it dies with its process: a killed run never leaves a stale lock. The
file says who holds it (pid, host, start time, command), so a second process stops with one line naming the
holder. Within one process the lock is re-entrant (the `synth` command holds it, and the batch it starts takes
it again). The file is removed on release; an acquirer checks that the file it locked is still the one at the
path, so removal never lets two holders in.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from tools.errors import ConfigError

LOCK_NAME = ".lock"
_held: dict[Path, tuple[int, int]] = {}  # resolved OUTDIR -> (file descriptor, holders in this process)


class OutdirBusy(ConfigError):
    """Another process writes to this OUTDIR."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return (f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started_at')} "
                f"({info.get('command', '?')})")
    except (OSError, ValueError, AttributeError):
        return "another process (its lock file is unreadable)"


class OutdirLock:
    """`with OutdirLock(outdir):` — creates OUTDIR if needed; raises `OutdirBusy` if another process holds it."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir

    @property
    def path(self) -> Path:
        return self.outdir / LOCK_NAME

    def acquire(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        key = self.outdir.resolve()
        if key in _held:
            fd, count = _held[key]
            _held[key] = (fd, count + 1)
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutdirBusy(f"{self.outdir} is in use by {_holder(self.path)}; wait for that run to end or "
                                 "stop it, or choose another --out") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder we waited for removed the file: lock the new one
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv[:3])}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds all the same, only its note of who holds it is missing
        _held[key] = (fd, 1)

    def release(self) -> None:
        key = self.outdir.resolve()
        if key not in _held:
            return
        fd, count = _held[key]
        if count > 1:
            _held[key] = (fd, count - 1)
            return
        del _held[key]
        try:
            os.unlink(self.path)  # while still locked: whoever opens the path next makes a new file
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> OutdirLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
