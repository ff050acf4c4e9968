"""Chat renders the agents' live events, which reach it through LangGraph's custom stream mode (no side
channel), and the rows it saves record their model; saving respects another writer's OUTDIR lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from rich.console import Console

from graphs.app.chat.session import ChatSession, code_seed
from graphs.context import Event, RunContext, SynthSettings
from graphs.outdir_lock import OutdirBusy
from graphs.records import ModelStamp
from graphs.state import SynthesisState
from tests.fakes import outdir_held_elsewhere
from tests.test_graph_routing import ScriptedGenerator, roster, rows

ROOT = Path(__file__).resolve().parent.parent


class ReAskingGenerator(ScriptedGenerator):
    name: ClassVar[str] = "reasking-generator"

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        ctx.emit(Event(thread=state.seed.id, agent=self.name, kind="rejected",
                       payload={"stage": "generate", "attempt": 1, "error": "solution does not parse"}))
        return await super().__call__(state, ctx)


def session(tmp_path: Path) -> ChatSession:
    return ChatSession(roster(generator=ReAskingGenerator()), SynthSettings(), llm=None, sandbox=None, pool=None,
                       outdir=tmp_path / "out", console=Console(record=True, width=200),
                       stamp=ModelStamp(model="m", sampling={"temperature": 0.7}))


async def test_agent_events_stream_into_the_session_through_the_graph(tmp_path: Path) -> None:
    chat = session(tmp_path)
    context = chat.context()
    assert context.emit.__name__ == "stream_event"  # the graph's custom stream, not a callback into the session
    await chat.start(code_seed("def f():\n    return 1\n", "python"))
    screen = chat.console.export_text()
    assert "reasking-generator · generate attempt 1 rejected: solution does not parse" in screen
    assert "your verdict?" in screen


async def test_saved_rows_record_the_model_and_respect_the_lock(tmp_path: Path) -> None:
    chat = session(tmp_path)
    await chat.start(code_seed("def f():\n    return 1\n", "python"))
    await chat.verdict(True, "")
    assert chat.save()["sft"] == 1
    (row,) = rows(tmp_path / "out" / "sft.jsonl")
    assert row["model"] == "m" and row["sampling"] == {"temperature": 0.7}
    with outdir_held_elsewhere(tmp_path / "out") as pid, pytest.raises(OutdirBusy, match=f"pid {pid}"):
        chat.save()
