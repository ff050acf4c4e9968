"""SQLite files several processes share, in WAL mode.

Switching a database to WAL is the one step SQLite refuses at once ("database is locked"), without waiting its
busy timeout, while another connection holds a write lock on it in rollback mode: two Ray actors opening a new
checkpoint file or reply cache together. Once the file is in WAL mode (it stays so), every other step waits its
busy timeout as usual. `enable_wal` waits this one out too.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

WAIT_S = 30.0  # as long as the busy timeout of the connections codemill opens


def enable_wal(db: sqlite3.Connection, wait_s: float = WAIT_S) -> None:
    """Put `db`'s file in WAL mode, trying again while another connection holds it locked, up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    pause = 0.002
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def wal_file(path: Path, wait_s: float = WAIT_S) -> None:
    """Create the database at `path` if need be and put it in WAL mode (see `enable_wal`)."""
    with contextlib.closing(sqlite3.connect(path, timeout=wait_s, isolation_level=None)) as db:
        enable_wal(db, wait_s)
