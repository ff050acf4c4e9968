"""Content-addressed cache of model replies in SQLite: a re-run or a resumed run replays, it does not re-ask.

The key is a SHA-256 of the request as the model sees it — model name (not the endpoint), messages and every
sampling parameter including seed, n and the response format — so identical requests to any server share a
reply. Concurrent identical requests are coalesced: one goes to the model, the others wait for its reply.
SQLite runs in a worker thread behind a lock (WAL mode, so several processes may share the file).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.errors import ConfigError


class CachedReply(BaseModel):
    """What a request returned: one text per choice, and the tokens it cost the first time."""

    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0


def cache_key(request: dict[str, Any]) -> str:
    """A stable hash of a request body (key order and whitespace do not matter)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ReplyCache:
    """The SQLite table `replies(key, reply)`; `get_or_compute` is the only entry point the client needs."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"cannot open the LLM cache {path}: {error}") from error
        self.path = path
        self._lock = threading.Lock()
        self._pending: dict[str, asyncio.Future[CachedReply]] = {}

    def _read(self, key: str) -> CachedReply | None:
        with self._lock:
            row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return CachedReply.model_validate_json(row[0]) if row else None

    def _write(self, key: str, reply: CachedReply) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)",
                             (key, reply.model_dump_json()))

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
            cached = await asyncio.to_thread(self._read, key)
            if cached is not None:
                future.set_result(cached)
                return cached, True
            reply = await compute()
            await asyncio.to_thread(self._write, key, reply)
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
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
