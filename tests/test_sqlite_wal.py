"""Switching a shared SQLite file to WAL waits for a rival process instead of failing the thread that tried."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tools.sqlite_wal import enable_wal, wal_file


def rival_writing(path: Path) -> sqlite3.Connection:
    """A second process's connection in the middle of setting up the new file: a write lock in rollback mode."""
    rival = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    rival.execute("BEGIN IMMEDIATE")
    return rival


def test_the_switch_waits_for_the_rival_where_sqlite_alone_fails_at_once(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    rival = rival_writing(path)
    db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        db.execute("PRAGMA journal_mode=WAL")  # SQLite's own answer, without waiting its busy timeout
    released = threading.Timer(0.05, rival.execute, args=("COMMIT",))
    released.start()
    enable_wal(db)
    released.join()
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_rival_that_never_lets_go_is_the_error_after_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    rival_writing(path)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        wal_file(path, wait_s=0.05)


def test_a_new_file_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    wal_file(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
