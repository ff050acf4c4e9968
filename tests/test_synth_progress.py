"""The live display reads the LLM client's counters while threads are still running (it does not wait for a
thread to finish), and without a terminal it writes plain progress lines; both reach the run log."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from rich.console import Console

from graphs.app.progress import live_progress
from graphs.app.run_log import RunLog
from graphs.batch import BatchStats
from tools.llm.usage import AgentUsage, UsageReport

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(output: io.StringIO) -> str:
    return ANSI.sub("", output.getvalue())


def usage_of(calls: int) -> UsageReport:
    return UsageReport(agents={"generator": AgentUsage(calls=calls, retries=2, failures=1, prompt_tokens=10 * calls,
                                                       completion_tokens=calls)})


async def _until(condition, timeout_s: float = 10.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.05)
    await asyncio.wait_for(wait(), timeout_s)


async def test_the_display_redraws_model_traffic_before_any_thread_finishes(tmp_path: Path) -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=200)
    calls = 0
    with RunLog(tmp_path) as log:
        async with live_progress(console, BatchStats(), total=10, usage=lambda: usage_of(calls), in_flight=lambda: 3,
                                 log=log, interval_s=60):
            for calls in (7, 42):  # the display reads `calls` through its closure
                await _until(lambda calls=calls: f"calls {calls}" in plain(output))
    text = plain(output)
    assert "in flight 3" in text and "retries 2" in text and "failed requests 1" in text
    assert "0/10" in text  # no thread finished: the redraws came from the counters alone
    assert "synth 0/10 threads" in (tmp_path / "run.log").read_text()


async def test_without_a_terminal_it_writes_plain_progress_lines(tmp_path: Path) -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=False, width=200)
    stats = BatchStats()
    calls = 0
    with RunLog(tmp_path) as log:
        async with live_progress(console, stats, total=4, usage=lambda: usage_of(calls), in_flight=lambda: 0,
                                 log=log, interval_s=0.05):
            calls = 5
            await _until(lambda: "calls 5" in output.getvalue())
            stats.status["accepted"] += 1
            await _until(lambda: "synth 1/4 threads" in output.getvalue())
    lines = output.getvalue().splitlines()
    assert all(line.startswith("synth ") for line in lines) and "\x1b" not in output.getvalue()
    assert len(lines) <= 4  # a line when something changed, not one per tick
    assert "accepted 1" in (tmp_path / "run.log").read_text()
