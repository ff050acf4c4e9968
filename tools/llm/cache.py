"""Content-addressed cache of model replies in SQLite: a re-run or a resumed run replays, it does not re-ask.

The key is a SHA-256 of the request as the client built it — model name (not the endpoint), messages and
every sampling parameter including seed, n and the response format (and the per-request seed even when seeds
are not sent, so that retries still differ) — so identical requests to any server share a reply. Concurrent
identical requests are coalesced: one goes to the model, the others wait for its reply. The key is taken
before the request is fitted to the context, so a replay needs no server at all.

The file is in WAL mode (several processes may share it; readers never wait for the writer). Lookups run on
the caller's thread on their own connection: a primary-key read costs microseconds, less than handing it to a
worker thread. Stores go to one writer thread that commits whatever has queued up as one transaction, so a
burst of replies costs one commit, not one each; until committed, a reply is served from memory. `close()`
waits for every queued reply to be committed. A crash loses at most the replies of the last few
milliseconds (each commit is atomic, so the file is never half-written) and they are simply asked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.errors import ConfigError
from tools.sqlite_wal import WAIT_S, enable_wal


class CachedReply(BaseModel):
    """What a request returned: one text and finish reason per choice, the reply budget it was sent with, and
    the tokens it cost the first time. Replies are stored as they came, valid or not: validation runs again
    on every replay, so a reply that failed it is never replayed as a good one."""

    texts: list[str]
    finish_reasons: list[str | None] = Field(default_factory=list)
    max_tokens: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def cache_key(request: dict[str, Any]) -> str:
    """A stable hash of a request body (key order and whitespace do not matter)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ReplyCache:
    """The SQLite table `replies(key, reply)`: `get_or_compute` replays or asks; `store` puts a reply asked
    without looking (`tools.llm.client.fresh_replies`) in place of the one the key held."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(path)
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
            writer_db = _connect(path)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"cannot open the LLM cache {path}: {error}") from error
        self.path = path
        self._lock = threading.Lock()  # guards the reader connection and `_unwritten`
        self._pending: dict[str, asyncio.Future[CachedReply]] = {}
        self._unwritten: dict[str, CachedReply] = {}  # stored but not yet committed by the writer
        self._queue: queue.SimpleQueue[tuple[str, CachedReply] | None] = queue.SimpleQueue()
        self._write_error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, args=(writer_db,), name="llm-cache-writer",
                                        daemon=True)
        self._writer.start()

    def _read(self, key: str) -> CachedReply | None:
        with self._lock:
            unwritten = self._unwritten.get(key)
            if unwritten is not None:
                return unwritten
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return CachedReply.model_validate_json(row[0]) if row else None

    def store(self, key: str, reply: CachedReply) -> None:
        """Keep `reply` as the reply for `key`, replacing any other: served from memory at once, committed soon."""
        with self._lock:
            self._unwritten[key] = reply
        self._queue.put((key, reply))

    def _write_loop(self, db: sqlite3.Connection) -> None:
        """Commit queued replies in batches until `None` arrives; then close the writer connection."""
        try:
            stop = False
            while not stop:
                batch = [self._queue.get()]
                while True:  # everything that queued up meanwhile joins this transaction
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = None in batch
                rows = [(key, reply.model_dump_json()) for key, reply in filter(None, batch)]
                if not rows:
                    continue
                try:
                    db.execute("BEGIN")  # one transaction: all of the batch or none of it
                    db.executemany("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", rows)
                    db.execute("COMMIT")
                except sqlite3.Error as error:
                    if db.in_transaction:
                        db.rollback()
                    self._write_error = error  # reported by close(); the replies stay served from memory
                    continue
                with self._lock:
                    for key, reply in filter(None, batch):
                        if self._unwritten.get(key) is reply:
                            del self._unwritten[key]
        finally:
            db.close()

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[CachedReply]]
    ) -> tuple[CachedReply, bool]:
        """The cached reply for `key` (hit=True), or `compute()`'s reply, stored; failures are not stored."""
        pending = self._pending.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending), True
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and task is not None and not task.cancelling():
                    return await self.get_or_compute(key, compute)  # the first asker was cancelled, not us
                raise
        future: asyncio.Future[CachedReply] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            cached = self._read(key)
            if cached is not None:
                future.set_result(cached)
                return cached, True
            reply = await compute()
            self.store(key, reply)
            future.set_result(reply)
            return reply, False
        except BaseException as error:
            # Waiters see the same failure; the next request with this key tries again.
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            elif not future.done():
                future.set_exception(error)
                future.exception()  # mark retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._pending[key]

    def __len__(self) -> int:
        """Keys with a reply, committed or not (a key `store` replaced counts once)."""
        with self._lock:
            committed = int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])
            replaced = sum(self._db.execute("SELECT 1 FROM replies WHERE key = ?", (key,)).fetchone() is not None
                           for key in self._unwritten)
            return committed + len(self._unwritten) - replaced

    def close(self) -> None:
        """Commit every reply stored so far, then close the file; idempotent."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
            with self._lock:
                self._db.close()
            if self._write_error is not None:
                raise ConfigError(f"cannot write the LLM cache {self.path}: {self._write_error}")


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, timeout=WAIT_S, isolation_level=None)
    enable_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable at checkpoints, never corrupt
    return db
