"""Which task type each seed gets, fixed for the life of an OUTDIR.

The first run that sees a seed draws its task type (a deterministic weighted draw from the task mix) and
records it in `OUTDIR/plan.jsonl`; every later run keeps it, whatever the task mix says then, so a resumed run
never starts a second thread for a seed. Threads finished before this file existed keep the task type their
ledger row names.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from graphs.context import SynthSettings
from graphs.records import OUTPUT_FILES
from graphs.state import SeedInput, TaskType
from tools.rows import JsonlWriter, read_jsonl, stable_id

PLAN_FILE = "plan.jsonl"


class PlannedThread(BaseModel):
    """One line of plan.jsonl: a seed (`id`) and its task type."""

    id: str
    task_type: TaskType


def choose_task_type(seed: SeedInput, settings: SynthSettings) -> TaskType:
    """A deterministic weighted draw per seed, so a re-run plans the same threads."""
    weights = {task: weight for task, weight in settings.task_mix.items() if weight > 0}
    if seed.language not in settings.translation_targets:
        weights.pop(TaskType.TRANSLATION, None)
    if not weights:
        return TaskType.GENERATION
    rng = random.Random(int(stable_id("mix", seed.id, str(settings.seed)), 16))
    tasks = sorted(weights, key=lambda task: task.value)
    return rng.choices(tasks, weights=[weights[task] for task in tasks], k=1)[0]


def recorded_task_types(outdir: Path) -> dict[str, TaskType]:
    """Seed id -> task type, from the ledger (older runs) overridden by the plan."""
    known: dict[str, TaskType] = {}
    for name in (OUTPUT_FILES["ledger"], PLAN_FILE):
        key = "id" if name == PLAN_FILE else "seed_id"
        for row in read_jsonl(outdir / name):
            seed_id = row.get(key) if isinstance(row, dict) else None
            try:
                known[str(seed_id)] = TaskType(row.get("task_type"))
            except ValueError:
                continue
    return known


def plan_threads(outdir: Path, seeds: Sequence[SeedInput],
                 settings: SynthSettings) -> tuple[list[tuple[SeedInput, TaskType]], int]:
    """Every seed with its task type, and how many seeds keep a recorded type the current mix would not draw."""
    known = recorded_task_types(outdir)
    plan: list[tuple[SeedInput, TaskType]] = []
    kept_against_mix = 0
    writer = JsonlWriter(outdir / PLAN_FILE, fsync=False)  # a torn or missing line is drawn again, identically
    try:
        for seed in seeds:
            drawn = choose_task_type(seed, settings)
            task = known.get(seed.id, drawn)
            kept_against_mix += task is not drawn
            if seed.id not in writer.ids:
                writer.write(PlannedThread(id=seed.id, task_type=task))
            plan.append((seed, task))
    finally:
        writer.close()
    return plan, kept_against_mix
