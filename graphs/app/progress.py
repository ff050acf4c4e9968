"""The live display of a `synth` run: a progress bar (total, rate, ETA), the funnel per task type, and the model
traffic — completed calls, cache hits, tokens, retries, failed requests, requests in flight — read from the LLM
client's counters and redrawn twice a second, whether or not a thread finishes. Without a terminal it prints
plain progress lines instead (every `interval_s`, when something changed); both go to the run log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from graphs.app.run_log import RunLog
from graphs.batch import BatchStats
from graphs.records import FUNNEL
from graphs.state import TaskType
from tools.llm.usage import UsageReport

REDRAW_S = 0.5


def funnel_table(stats: BatchStats) -> Table:
    table = Table(title="funnel", title_justify="left", box=None, pad_edge=False)
    table.add_column("task type")
    for stage in FUNNEL:
        table.add_column(stage, justify="right")
    for task in TaskType:
        table.add_row(task.value, *(str(stats.funnel[stage][task.value]) for stage in FUNNEL))
    return table


def traffic_line(usage: UsageReport, in_flight: int, stats: BatchStats) -> str:
    """Model traffic and failures so far, in one line."""
    total = usage.total()
    reasks = stats.events.get("rejected", 0)
    return (f"calls {total.calls:,} · cache hits {total.cache_hits:,} · tokens {total.prompt_tokens:,} in / "
            f"{total.completion_tokens:,} out · in flight {in_flight} · retries {total.retries} · re-asks {reasks} · "
            f"failed requests {total.failures}")


def progress_line(stats: BatchStats, total: int, usage: UsageReport, in_flight: int, elapsed_s: float) -> str:
    """The plain progress line (no terminal, and the run log)."""
    done = stats.finished
    status = " ".join(f"{name} {stats.status.get(name, 0)}" for name in ("accepted", "rejected", "failed"))
    unfinished = sum(stats.unfinished.values())
    rate = done / elapsed_s * 60 if elapsed_s > 0 else 0.0
    return (f"synth {stats.skipped + done}/{total} threads ({stats.skipped} done earlier) · {status} · "
            f"unfinished {unfinished} · {traffic_line(usage, in_flight, stats)} · {rate:.1f} threads/min")


@asynccontextmanager
async def live_progress(console: Console, stats: BatchStats, *, total: int, usage: Callable[[], UsageReport],
                        in_flight: Callable[[], int], log: RunLog, interval_s: float) -> AsyncIterator[None]:
    """Show progress while the block runs (a rich display on a terminal, plain lines otherwise)."""
    started = time.monotonic()

    def line() -> str:
        return progress_line(stats, total, usage(), in_flight(), time.monotonic() - started)

    if not console.is_terminal:
        ticker = asyncio.ensure_future(_plain_lines(console, log, line, interval_s))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            log.say(console, line())
        return

    bar = Progress(TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=console)
    task = bar.add_task("threads", total=total, rate="")

    def render() -> Group:
        elapsed = max(time.monotonic() - started, 1e-9)
        bar.update(task, completed=stats.skipped + stats.finished,
                   rate=f"{stats.finished / elapsed * 60:.1f} seeds/min")
        failures = ", ".join(f"{stage} {count}" for stage, count in stats.failures.items()) or "none"
        unfinished = ", ".join(f"{cause} {count}" for cause, count in stats.unfinished.items()) or "none"
        return Group(bar, funnel_table(stats), traffic_line(usage(), in_flight(), stats),
                     f"failures by stage: {failures} · unfinished: {unfinished}")

    with Live(render(), console=console, auto_refresh=False, transient=False) as live:
        redraw = asyncio.ensure_future(_redraw(live, render))
        logger = asyncio.ensure_future(_log_lines(log, line, interval_s))
        try:
            yield
        finally:
            for ticker in (redraw, logger):
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            live.update(render(), refresh=True)
    console.line()
    log.write(line())


async def _redraw(live: Live, render: Callable[[], Any]) -> None:
    while True:
        await asyncio.sleep(REDRAW_S)
        live.update(render(), refresh=True)


async def _plain_lines(console: Console, log: RunLog, line: Callable[[], str], interval_s: float) -> None:
    last = ""
    while True:
        await asyncio.sleep(interval_s)
        text = line()
        if text.split(" · ")[:-1] != last.split(" · ")[:-1]:  # something changed (the rate alone does not count)
            log.say(console, text)
            last = text


async def _log_lines(log: RunLog, line: Callable[[], str], interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        log.write(line())
