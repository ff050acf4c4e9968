"""The one writer of a batch's OUTDIR: it holds the OUTDIR lock and writes the rows, the ledger and the log of
threads left unfinished, crash-safely.

- A finished thread's rows go to sft/dpo/matrix.jsonl, then its ledger row (`graphs.records.write_thread`):
  a thread counts as done only once its ledger row is on disk.
- An unfinished thread (endpoint or sandbox failure) gets a line in `unfinished.jsonl`: the sandbox failures
  and the requests the endpoint refused there bound how many runs may leave a thread unfinished
  (`sandbox_runs`, `refused_runs`).
- `supersede` (for `--retry-failed`) moves every row of the given threads out of the four output files into
  `superseded.jsonl`, so a thread re-run has one ledger row, never two; its ids stay the same.
- A full disk stops the batch with `DiskFull` (one line); the unfinished line being written is cut off, so no
  torn row stays behind. Any other failed write is an `OutdirWriteError`, also one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from graphs.error_policy import DiskFull, describe, disk_full, disk_full_message
from graphs.outdir_lock import OutdirLock
from graphs.records import (
    OUTPUT_FILES,
    LedgerRow,
    ModelStamp,
    ledger_row,
    open_writers,
    row_thread_id,
    write_thread,
)
from graphs.state import Failure, SynthesisState
from graphs.thread_runner import REFUSED_ERROR_TYPE, ThreadResult
from tools.errors import CodemillError
from tools.rows import JsonlWriter, append_line, read_jsonl, repair_torn_tail

UNFINISHED_FILE = "unfinished.jsonl"
SUPERSEDED_FILE = "superseded.jsonl"
T = TypeVar("T")


class OutdirWriteError(CodemillError):
    """OUTDIR could not be written (other than a full disk)."""


class RunWriter:
    """Open with the OUTDIR lock held; `close` when the batch ends (also on errors)."""

    def __init__(self, outdir: Path, stamp: ModelStamp | None = None) -> None:
        self.outdir = outdir
        self.stamp = stamp or ModelStamp()
        # One thread does the writes `arecord` asks for, in order, so that fsync never stalls the event loop
        # (which keeps the model's requests flowing); the order rows → ledger row is the same as inline.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codemill-writer")
        self._lock = OutdirLock(outdir)
        self._lock.acquire()
        self._writers: dict[str, JsonlWriter] = {}
        try:
            self._writers = self._guard(lambda: open_writers(outdir))
        except BaseException:
            self._lock.release()
            raise

    # -- what is on disk ---------------------------------------------------------------------------------------
    def finished(self) -> dict[str, str]:
        """Thread id -> status of every thread with a ledger row."""
        ledger = read_jsonl(self.outdir / OUTPUT_FILES["ledger"])
        return {str(row["thread_id"]): str(row.get("status")) for row in ledger
                if isinstance(row, dict) and "thread_id" in row}

    def sandbox_runs(self) -> dict[str, int]:
        """Thread id -> runs that left it unfinished because of the sandbox (since its last `supersede`)."""
        return self._unfinished_runs(lambda row: row.get("cause") == "sandbox")

    def refused_runs(self) -> dict[str, int]:
        """Thread id -> runs that left it unfinished because the endpoint refused its request
        (`graphs.thread_runner.refused`), since its last `supersede`."""
        return self._unfinished_runs(
            lambda row: row.get("cause") == "endpoint" and row.get("error_type") == REFUSED_ERROR_TYPE)

    def _unfinished_runs(self, counts: Callable[[dict], bool]) -> dict[str, int]:
        """Thread id -> lines of unfinished.jsonl that `counts`, after the thread's last reset line."""
        runs: dict[str, int] = {}
        for row in read_jsonl(self.outdir / UNFINISHED_FILE):
            if not isinstance(row, dict) or "thread_id" not in row:
                continue
            tid = str(row["thread_id"])
            if row.get("reset"):
                runs.pop(tid, None)
            elif counts(row):
                runs[tid] = runs.get(tid, 0) + 1
        return runs

    # -- writing -----------------------------------------------------------------------------------------------
    async def arecord(self, result: ThreadResult) -> LedgerRow | None:
        """`record`, on the writer's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._io, self.record, result)

    def record(self, result: ThreadResult) -> LedgerRow | None:
        """Write a finished thread's rows and ledger row (returned), or note an unfinished one."""
        if result.finished:
            assert result.state is not None
            state = result.state
            try:
                return self._guard(lambda: write_thread(state, self._writers, self.stamp, usage=result.usage))
            except (RecursionError, MemoryError, ValueError, TypeError) as error:
                unwritable = error
            return self._guard(lambda: self._unwritable(state, unwritable))
        line = json.dumps({"thread_id": result.thread_id, "cause": str(result.cause), "error_type": result.error_type,
                           "message": result.message, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        self._guard(lambda: append_line(self.outdir / UNFINISHED_FILE, line))
        return None

    def _unwritable(self, state: SynthesisState, error: BaseException) -> LedgerRow:
        """A finished thread whose rows cannot be serialized: its ledger row alone, as a failure saying why."""
        failure = Failure(stage="write", agent="writer", error_type=type(error).__name__,
                          message=f"the thread's rows could not be written: {describe(error)}")
        bare = SynthesisState(seed=state.seed, task_type=state.task_type, attempt=state.attempt,
                              max_attempts=state.max_attempts, failures=[failure], status="failed")
        ledger = ledger_row(bare, {"sft": 0, "dpo": 0, "matrix": 0}).model_copy(update=self.stamp.model_dump())
        self._writers["ledger"].write(ledger)
        return ledger

    def supersede(self, thread_ids: Iterable[str]) -> int:
        """Move every row of `thread_ids` out of the output files into superseded.jsonl; returns rows moved."""
        targets = set(thread_ids)
        if not targets:
            return 0
        self._close_writers()
        moved = self._guard(lambda: self._move_rows(targets))
        for tid in sorted(targets):
            line = json.dumps({"thread_id": tid, "reset": True})
            self._guard(partial(append_line, self.outdir / UNFINISHED_FILE, line, fsync=False))
        self._writers = self._guard(lambda: open_writers(self.outdir))
        return moved

    def _move_rows(self, targets: set[str]) -> int:
        moved = 0
        for name, file in OUTPUT_FILES.items():
            path = self.outdir / file
            if not path.exists():
                continue
            keep: list[str] = []
            gone: list[str] = []
            for row in read_jsonl(path):
                text = json.dumps(row, ensure_ascii=False)
                if isinstance(row, dict) and row_thread_id(name, row) in targets:
                    gone.append(json.dumps({"file": file, "row": row}, ensure_ascii=False))
                else:
                    keep.append(text)
            if not gone:
                continue
            for line in gone:  # first kept aside, then removed: a crash in between loses nothing
                append_line(self.outdir / SUPERSEDED_FILE, line, fsync=False)
            _replace(path, keep)
            moved += len(gone)
        return moved

    def close(self) -> None:
        try:
            self._io.shutdown(wait=True)  # a write under way (even of a cancelled batch) ends first
            self._close_writers()
        finally:
            self._lock.release()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- failures ----------------------------------------------------------------------------------------------
    def _close_writers(self) -> None:
        for writer in self._writers.values():
            with contextlib.suppress(OSError):
                writer.close()
        self._writers = {}

    def _guard(self, write: Callable[[], T]) -> T:
        try:
            return write()
        except OSError as error:
            if disk_full(error):
                self._close_writers()
                cut_torn_tails(self.outdir)
                raise DiskFull(disk_full_message(error)) from error
            raise OutdirWriteError(f"cannot write to {self.outdir}: {error}") from error


def _replace(path: Path, lines: list[str]) -> None:
    """Replace a file's content atomically (written beside it, fsynced, renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def cut_torn_tails(outdir: Path) -> None:
    """Cut the unfinished last line of every JSONL file of OUTDIR and its pool (truncating needs no space)."""
    for path in [*outdir.glob("*.jsonl"), *outdir.glob("pool/*.jsonl")]:
        with contextlib.suppress(OSError):
            repair_torn_tail(path)
