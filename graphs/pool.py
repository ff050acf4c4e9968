"""The few-shot pool: judged instances, good and bad, persisted per task type across runs.

One append-only JSONL file per task type (`<directory>/<task_type>.jsonl`), one line per verdict, flushed as
it is written (`tools.rows`), so a killed run loses at most the line it was writing; a torn last line is
skipped when reading and never glued to. The lines are not fsynced one by one: the judge calls `add` inside
the event loop, and an OS crash costs at most a few examples, never a row. Instances are identified by a
content hash: the same instance judged twice by the same kind of judge is stored once, and a human verdict
overrides a model's for the same instance.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from graphs.state import Instance, TaskType, Verdict
from tools.rows import append_line, read_jsonl, stable_id


class PoolEntry(BaseModel):
    """One judged instance as stored on disk (one JSONL line)."""

    hash: str
    instance: Instance
    verdict: Verdict
    recorded_at: str = ""


def instance_hash(instance: Instance) -> str:
    """Content hash of an instance: the same task, inputs and solution give the same hash."""
    canonical = json.dumps(instance.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return stable_id(canonical, length=32)


class Draw(BaseModel):
    """Which entries one draw handed out (one line of draws.jsonl)."""

    key: str
    hashes: list[str]


DRAWS_FILE = "draws.jsonl"


class FewShotPool:
    """Judged instances per task type; `examples` draws good and bad ones for few-shot prompts."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._entries: dict[TaskType, dict[tuple[str, str], PoolEntry]] = {}
        self._draws: dict[str, list[str]] | None = None
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
        random draw among the rest, so a run with the same seed sees the same examples. The same draw asked again
        (even in a later run) returns what it returned the first time."""
        key = f"{TaskType(task_type).value}:{rng_seed}:{good}:{bad}"
        remembered = self._remembered(key, task_type)
        if remembered is not None:
            return remembered
        chosen = self._draw(task_type, good=good, bad=bad, rng_seed=rng_seed)
        with self._lock:
            draws = self._load_draws()
            if key not in draws:
                draw = Draw(key=key, hashes=[entry.hash for entry in chosen])
                append_line(self.directory / DRAWS_FILE, draw.model_dump_json(), fsync=False)
                draws[key] = draw.hashes
        return chosen

    def _remembered(self, key: str, task_type: TaskType | str) -> list[PoolEntry] | None:
        """The entries an earlier identical draw handed out, if it was recorded and they are all still here."""
        with self._lock:
            hashes = self._load_draws().get(key)
        if hashes is None:
            return None
        by_hash = {entry.hash: entry for entry in self.entries(task_type)}
        if not all(digest in by_hash for digest in hashes):
            return None  # the pool was cleared since: draw afresh
        return [by_hash[digest] for digest in hashes]

    def _load_draws(self) -> dict[str, list[str]]:
        if self._draws is None:
            self._draws = {}
            for record in read_jsonl(self.directory / DRAWS_FILE):
                try:
                    draw = Draw.model_validate(record)
                except ValidationError:
                    continue
                self._draws.setdefault(draw.key, draw.hashes)
        return self._draws

    def _draw(self, task_type: TaskType | str, *, good: int, bad: int, rng_seed: int) -> list[PoolEntry]:
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
        for record in read_jsonl(self.path(task_type)):
            try:
                entry = PoolEntry.model_validate(record)
            except ValidationError:
                continue  # valid JSON but not an entry (a hand-edited line); torn lines never get here
            entries.setdefault((entry.hash, entry.verdict.source), entry)
        self._entries[task_type] = entries
        return entries

    def _append(self, task_type: TaskType, entry: PoolEntry) -> None:
        append_line(self.path(task_type), entry.model_dump_json(), fsync=False)
