"""Run the synthesis graph over many seeds: bounded concurrency, SQLite checkpoints (one thread per
seed and task type), incremental crash-safe outputs, resume without duplicates.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graphs.context import RunContext, SynthSettings
from graphs.records import dpo_rows, ledger_row, matrix_row, sft_row, thread_id
from graphs.state import SeedInput, SynthesisState, TaskType
from graphs.synthesis import Roster, compile_graph, state_serde_modules
from tools.errors import LLMError
from tools.export import JsonlWriter, read_jsonl, stable_id

FUNNEL = ("seeds", "generated", "accepted", "tested", "executed", "pairs")
OUTPUT_FILES = {"sft": "sft.jsonl", "dpo": "dpo.jsonl", "matrix": "matrix.jsonl", "ledger": "ledger.jsonl"}


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


def initial_state(seed: SeedInput, task_type: TaskType, settings: SynthSettings) -> SynthesisState:
    target = settings.translation_targets.get(seed.language, "") if task_type is TaskType.TRANSLATION else ""
    return SynthesisState(seed=seed, task_type=task_type, target_language=target, max_attempts=settings.max_attempts)


@dataclass
class BatchStats:
    """Live counts for progress displays and the manifest."""

    funnel: dict[str, Counter] = field(default_factory=lambda: {stage: Counter() for stage in FUNNEL})
    status: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    skipped: int = 0  # threads already finished by an earlier run

    def record(self, state: SynthesisState, stages: Sequence[str], rows: dict[str, int]) -> None:
        task = state.task_type.value
        self.funnel["seeds"][task] += 1
        for stage in stages:
            self.funnel[stage][task] += 1
        self.status[state.status] += 1
        self.rows.update(rows)
        for failure in state.failures:
            self.failures[failure.stage] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "funnel": {stage: dict(counts) for stage, counts in self.funnel.items()},
            "status": dict(self.status), "rows": dict(self.rows), "failures": dict(self.failures),
            "skipped": self.skipped,
        }


class BatchRunner:
    """Drives many threads through one compiled graph and writes their rows as they finish."""

    def __init__(
        self, roster: Roster, ctx: RunContext, outdir: Path, *, concurrency: int = 8,
        max_consecutive_llm_failures: int = 5, on_thread: Callable[[SynthesisState], None] | None = None,
    ) -> None:
        self.roster, self.ctx, self.outdir = roster, ctx, outdir
        self.concurrency = concurrency
        self.max_consecutive_llm_failures = max_consecutive_llm_failures
        self.on_thread = on_thread
        self.stats = BatchStats()
        self._llm_failure_streak = 0
        self._abort: LLMError | None = None

    def finished_threads(self) -> set[str]:
        return {row["thread_id"] for row in read_jsonl(self.outdir / OUTPUT_FILES["ledger"])}

    def plan(self, seeds: Sequence[SeedInput]) -> list[tuple[SeedInput, TaskType]]:
        return [(seed, choose_task_type(seed, self.ctx.settings)) for seed in seeds]

    async def run(self, seeds: Sequence[SeedInput]) -> BatchStats:
        self.outdir.mkdir(parents=True, exist_ok=True)
        done = self.finished_threads()
        todo = [(seed, task) for seed, task in self.plan(seeds) if thread_id(seed.id, task) not in done]
        self.stats.skipped = len(seeds) - len(todo)
        writers = {name: JsonlWriter(self.outdir / file) for name, file in OUTPUT_FILES.items()}
        serde = JsonPlusSerializer(allowed_msgpack_modules=list(state_serde_modules()))
        try:
            async with AsyncSqliteSaver.from_conn_string(str(self.outdir / "checkpoints.sqlite")) as saver:
                saver.serde = serde
                app = compile_graph(self.roster, checkpointer=saver)
                queue: asyncio.Queue[tuple[SeedInput, TaskType]] = asyncio.Queue()
                for item in todo:
                    queue.put_nowait(item)
                workers = [self._worker(app, saver, queue, writers) for _ in range(max(1, self.concurrency))]
                await asyncio.gather(*workers)
        finally:
            for writer in writers.values():
                writer.close()
        if self._abort is not None:
            raise self._abort
        return self.stats

    async def _worker(self, app: Any, saver: AsyncSqliteSaver, queue: asyncio.Queue, writers: dict) -> None:
        while not queue.empty() and self._abort is None:
            seed, task = queue.get_nowait()
            state = await self._run_thread(app, seed, task)
            if self._infrastructure_failed(state):
                await saver.adelete_thread(thread_id(seed.id, task))  # retried on resume, not recorded
                continue
            self._write(state, writers)

    async def _run_thread(self, app: Any, seed: SeedInput, task: TaskType) -> SynthesisState:
        config = {"configurable": {"thread_id": thread_id(seed.id, task)}, "recursion_limit": 64}
        snapshot = await app.aget_state(config)
        if snapshot.values and not snapshot.next:
            final = snapshot.values  # finished before a crash, rows not yet written
        elif snapshot.values:
            final = await app.ainvoke(None, config, context=self.ctx)  # resume where it stopped
        else:
            final = await app.ainvoke(initial_state(seed, task, self.ctx.settings), config, context=self.ctx)
        return SynthesisState.model_validate(final)

    def _infrastructure_failed(self, state: SynthesisState) -> bool:
        """Model unreachable: do not record the thread; stop the run after a streak of such threads."""
        unreachable = state.status == "failed" and any(f.error_type == "LLMError" for f in state.failures)
        if not unreachable:
            self._llm_failure_streak = 0
            return False
        self._llm_failure_streak += 1
        if self._llm_failure_streak >= self.max_consecutive_llm_failures and self._abort is None:
            message = state.failures[-1].message
            self._abort = LLMError(f"stopped after {self._llm_failure_streak} threads in a row could not use "
                                   f"the model; finished rows are kept, re-run to resume. Last error: {message}")
        return True

    def _write(self, state: SynthesisState, writers: dict[str, JsonlWriter]) -> None:
        rows = {"sft": 0, "dpo": 0, "matrix": 0}
        sft = sft_row(state)
        if sft is not None:
            rows["sft"] += writers["sft"].write(sft)
        for row in dpo_rows(state):
            rows["dpo"] += writers["dpo"].write(row)
        matrix = matrix_row(state)
        if matrix is not None:
            rows["matrix"] += writers["matrix"].write(matrix)
        ledger = ledger_row(state, rows)
        writers["ledger"].write(ledger)  # last: a thread counts as done only once its rows are on disk
        self.stats.record(state, ledger.stages, rows)
        if self.on_thread is not None:
            self.on_thread(state)
