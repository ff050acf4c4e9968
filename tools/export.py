"""Rows that `synth` writes, and an append-only JSONL writer that survives crashes without duplicates.

Every row has a stable `id` derived from the seed and the task, so a resumed or repeated run finds the
rows it already wrote and never writes a second copy.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field


def stable_id(*parts: str, length: int = 16) -> str:
    """A short content hash of the parts; the same parts always give the same id."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


class Provenance(BaseModel):
    """Where a row came from."""

    seed_id: str
    path: str | None = None
    lines: list[int] | None = None
    repo: str | None = None
    language: str = "python"
    license: str | None = None


class SFTRow(BaseModel):
    """An instruction example: chat `messages` plus alpaca-style fields."""

    id: str
    task_type: str
    task_name: str
    instruction: str
    input: str
    output: str
    messages: list[dict[str, str]]
    language: str
    provenance: Provenance
    verdict: dict[str, Any]
    checks: dict[str, Any] | None = None
    attempts: int = 1
    reviews: list[dict[str, Any]] = Field(default_factory=list)  # plug-in reviewers' findings


class DPORow(BaseModel):
    """A preference pair in TRL's prompt/chosen/rejected shape, with its evidence."""

    id: str
    task_id: str
    task_type: str
    kind: Literal["correctness", "efficiency"]
    prompt: str
    chosen: str
    rejected: str
    metadata: dict[str, Any] = Field(default_factory=dict)  # scores, timings, ranker
    provenance: Provenance


class MatrixRow(BaseModel):
    """Every pass matrix with statuses, so rankers can be re-run offline."""

    id: str
    task_id: str
    task_type: str
    language: str
    prompt: str
    candidates: list[str]
    tests: list[str]
    verification: dict[str, Any]
    checks: dict[str, Any] | None = None
    reviews: list[dict[str, Any]] = Field(default_factory=list)


class LedgerRow(BaseModel):
    """One finished thread: how far it got and why it stopped (feeds the funnel and the report)."""

    id: str
    thread_id: str
    seed_id: str
    task_type: str
    status: Literal["accepted", "rejected", "failed"]
    stages: list[str]  # funnel stages reached: generated, accepted, tested, executed, pairs
    attempts: int
    verdict_reasons: list[str] = Field(default_factory=list)  # failed checks of every verdict, all attempts
    failures: list[dict[str, str]] = Field(default_factory=list)
    rows: dict[str, int] = Field(default_factory=dict)  # sft / dpo / matrix rows written
    usage: dict[str, Any] = Field(default_factory=dict)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete, parseable lines of a JSONL file (a torn last line is skipped)."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


class JsonlWriter:
    """Append rows with unique ids; flushed and fsynced per row; repairs a torn tail on open."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self._truncate_torn_tail()
        self.ids: set[str] = {str(row.get("id")) for row in read_jsonl(path)}
        self._handle = path.open("a", encoding="utf-8")

    def _truncate_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        with self.path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)

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
