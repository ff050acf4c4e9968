"""JSON Lines rows on disk: stable ids, reading, appending, and repairing a torn last line.

A run that is killed mid-write leaves at most one unfinished last line. Readers skip it; writers either cut
it off (`repair_torn_tail`, for rows that are rewritten on resume) or close it off before appending
(`append_line`, for append-only logs). Rows with a stable `id` are written once however often a run resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def stable_id(*parts: str, length: int = 16) -> str:
    """A short content hash of the parts; the same parts always give the same id."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def read_jsonl(path: Path) -> Iterator[Any]:
    """The parsed values of a JSONL file's complete lines; a torn last line and unparseable lines are skipped,
    undecodable bytes are replaced. A missing file has no rows."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def ends_with_newline(path: Path) -> bool:
    """Whether a non-empty file's last byte ends a line (an empty or missing file ends nothing)."""
    try:
        with path.open("rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"
    except FileNotFoundError:
        return False


def repair_torn_tail(path: Path) -> None:
    """Cut an unfinished last line (a kill mid-write), so that the file holds only complete lines."""
    if not path.exists() or path.stat().st_size == 0 or ends_with_newline(path):
        return
    data = path.read_bytes()
    with path.open("r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)


def append_line(path: Path, line: str, *, fsync: bool = True) -> None:
    """Append one line (flushed, fsynced); after a torn last line it starts a new line instead of gluing on,
    so the torn one stays unparseable and `read_jsonl` skips it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        prefix = b"\n" if handle.tell() > 0 and not ends_with_newline(path) else b""
        handle.write(prefix + line.encode("utf-8") + b"\n")
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())


class JsonlWriter:
    """Append rows with unique ids; flushed and fsynced per row; repairs a torn tail on open."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(path)
        self.ids: set[str] = {str(row.get("id")) for row in read_jsonl(path)}
        self._handle = path.open("a", encoding="utf-8")

    def write(self, row: BaseModel | dict[str, Any]) -> bool:
        """Append `row` unless its id is already there; returns whether it was written."""
        record = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
        row_id = str(record["id"])
        if row_id in self.ids:
            return False
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())
        self.ids.add(row_id)
        return True

    def __len__(self) -> int:
        return len(self.ids)

    def close(self) -> None:
        self._handle.close()
