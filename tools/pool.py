"""The few-shot pool: judged instances, good and bad, persisted per task type across runs.

One append-only JSONL file per task type (`<directory>/<task_type>.jsonl`), one line per verdict, flushed
and fsynced as it is written, so a killed run loses at most the line it was writing; a torn last line is
skipped when reading. Instances are identified by a content hash: the same instance judged twice by the
same kind of judge is stored once, and a human verdict overrides a model's for the same instance.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from graphs.state import Instance, TaskType, Verdict


class PoolEntry(BaseModel):
    """One judged instance as stored on disk (one JSONL line)."""

    hash: str
    instance: Instance
    verdict: Verdict
    recorded_at: str = ""


def instance_hash(instance: Instance) -> str:
    """Content hash of an instance: the same task, inputs and solution give the same hash."""
    canonical = json.dumps(instance.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class FewShotPool:
    """Judged instances per task type; `examples` draws good and bad ones for few-shot prompts."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._entries: dict[TaskType, dict[tuple[str, str], PoolEntry]] = {}
        self._lock = threading.Lock()

    def path(self, task_type: TaskType | str) -> Path:
        return self.directory / f"{TaskType(task_type).value}.jsonl"

    def add(self, instance: Instance, verdict: Verdict) -> bool:
        """Record a verdict; returns False if this instance already has a verdict from the same source."""
        entry = PoolEntry(
            hash=instance_hash(instance), instance=instance, verdict=verdict,
            recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        task_type = instance.task_type
        with self._lock:
            entries = self._load(task_type)
            key = (entry.hash, verdict.source)
            if key in entries:
                return False
            self._append(task_type, entry)
            entries[key] = entry
        return True

    def entries(self, task_type: TaskType | str) -> list[PoolEntry]:
        """One entry per distinct instance, the human verdict winning over the model's."""
        with self._lock:
            stored = self._load(TaskType(task_type))
            best: dict[str, PoolEntry] = {}
            for (digest, source), entry in stored.items():
                if digest not in best or source == "human":
                    best[digest] = entry
            return list(best.values())

    def examples(
        self, task_type: TaskType | str, *, good: int = 2, bad: int = 1, rng_seed: int = 0
    ) -> list[PoolEntry]:
        """Up to `good` accepted then up to `bad` rejected entries; human-judged ones first, then a seeded
        random draw among the rest, so a run with the same seed sees the same examples."""
        entries = sorted(self.entries(task_type), key=lambda entry: entry.hash)
        random.Random(rng_seed).shuffle(entries)
        entries.sort(key=lambda entry: entry.verdict.source != "human")  # stable: humans first
        accepted = [entry for entry in entries if entry.verdict.accepted][: max(good, 0)]
        rejected = [entry for entry in entries if not entry.verdict.accepted][: max(bad, 0)]
        return accepted + rejected

    def counts(self) -> dict[str, dict[str, int]]:
        """Per task type on disk: distinct instances, accepted and rejected (after human overrides)."""
        result: dict[str, dict[str, int]] = {}
        for task_type in TaskType:
            entries = self.entries(task_type)
            accepted = sum(entry.verdict.accepted for entry in entries)
            result[task_type.value] = {
                "instances": len(entries), "accepted": accepted, "rejected": len(entries) - accepted,
            }
        return result

    def _load(self, task_type: TaskType) -> dict[tuple[str, str], PoolEntry]:
        if task_type in self._entries:
            return self._entries[task_type]
        entries: dict[tuple[str, str], PoolEntry] = {}
        path = self.path(task_type)
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    try:
                        entry = PoolEntry.model_validate_json(line)
                    except (ValidationError, ValueError):
                        continue  # a torn last line (killed mid-write) or a hand-edited bad line
                    entries.setdefault((entry.hash, entry.verdict.source), entry)
        self._entries[task_type] = entries
        return entries

    def _append(self, task_type: TaskType, entry: PoolEntry) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(task_type)
        line = entry.model_dump_json() + "\n"
        with path.open("ab") as handle:
            if handle.tell() > 0 and not _ends_with_newline(path):
                line = "\n" + line  # never glue a new line onto a torn one
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
