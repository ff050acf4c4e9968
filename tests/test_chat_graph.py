"""Chat reaches the agents only through the graph: every call — the first run, `/regen tests|candidates`,
`/edit-test` and the execution after them — happens inside the graph node of its stage, so the node's write
restrictions, error policy, checkpoints and live events apply to steering too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langgraph.config import get_config
from rich.console import Console

from graphs.app.chat.session import ChatSession, code_seed
from graphs.context import Event, RunContext, SynthSettings
from graphs.records import ModelStamp
from graphs.state import SynthesisState
from tests.test_graph_routing import (
    ScriptedDiscriminator,
    ScriptedExecutor,
    ScriptedGenerator,
    ScriptedTestWriter,
    roster,
    rows,
)
from tools.errors import EndpointUnreachable, InputError

SEED = code_seed("def f():\n    return 1\n", "python")


def graph_node() -> str | None:
    """The graph node this call runs in, or None outside a graph run."""
    try:
        return get_config()["metadata"]["langgraph_node"]
    except RuntimeError:  # no runnable context: called directly, not by the graph
        return None


class Calls:
    """Every agent call, as (what was called, the graph node it ran in)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str | None]] = []

    def record(self, call: str) -> None:
        self.log.append((call, graph_node()))

    def count(self, call: str) -> int:
        return sum(1 for name, _ in self.log if name == call)


class Generator(ScriptedGenerator):
    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.record = calls.record
        self.samples = 0

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.record("generate")
        return await super().__call__(state, ctx)

    async def sample(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.record("sample")
        self.samples += 1
        return {"candidates": ["def f():\n    return 1\n", f"def f():\n    return {self.samples + 1}\n"]}


class Discriminator(ScriptedDiscriminator):
    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.record = calls.record

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.record("discriminate")
        return await super().__call__(state, ctx)


class RecordingTestWriter(ScriptedTestWriter):
    """Writes `assert f() == 1  # version K` on its K-th call, announcing it as a live event."""

    name: ClassVar[str] = "recording-test-writer"

    def __init__(self, calls: Calls) -> None:
        self.record = calls.record
        self.versions = 0

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.record("write_tests")
        self.versions += 1
        ctx.emit(Event(thread=state.seed.id, agent=self.name, kind="rejected",
                       payload={"stage": "write_tests", "attempt": self.versions, "error": "warming up"}))
        return {"tests": [f"assert f() == 1  # version {self.versions}"]}


class Executor(ScriptedExecutor):
    def __init__(self, calls: Calls) -> None:
        self.record = calls.record
        self.seen: list[tuple[list[str], list[str]]] = []

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.record("execute")
        self.seen.append((list(state.tests), list(state.candidates)))
        return await super().__call__(state, ctx)


def session(tmp_path: Path, calls: Calls, **agents: Any) -> ChatSession:
    parts = {"generator": Generator(calls), "discriminator": Discriminator(calls),
             "test_writer": RecordingTestWriter(calls), "executor": Executor(calls), **agents}
    return ChatSession(roster(**parts), SynthSettings(), llm=None, sandbox=None, pool=None, outdir=tmp_path / "out",
                       console=Console(record=True, width=200), stamp=ModelStamp(model="m"))


async def test_every_agent_call_runs_inside_the_graph_node_of_its_stage(tmp_path: Path) -> None:
    calls = Calls()
    chat = session(tmp_path, calls)
    await chat.start(SEED)
    first = len(calls.log)
    await chat.regenerate("tests")
    assert [name for name, _ in calls.log[first:]] == ["write_tests", "execute"]  # the candidates stand
    await chat.regenerate("candidates")
    assert [name for name, _ in calls.log[first + 2:]] == ["sample", "execute"]  # the tests stand
    await chat.edit_test(1, "assert f() == 1  # edited")
    assert [name for name, _ in calls.log[first + 4:]] == ["execute"]
    await chat.verdict(True, "fine")

    outside = [name for name, node in calls.log if node != name]
    assert not outside, f"agents called outside their graph node: {outside} ({calls.log})"
    executor = chat.roster.executor
    assert executor.seen[1][0] == ["assert f() == 1  # version 2"]  # regenerated tests, first candidates
    assert executor.seen[2] == (["assert f() == 1  # version 2"], ["def f():\n    return 1\n",
                                                                   "def f():\n    return 3\n"])
    assert executor.seen[3][0] == ["assert f() == 1  # edited"]
    screen = chat.console.export_text()
    assert "recording-test-writer · write_tests attempt 2 rejected: warming up" in screen  # the custom stream
    assert screen.count("your verdict?") == 4 and "status: accepted" in screen
    assert chat.save()["sft"] == 1
    (matrix,) = rows(tmp_path / "out" / "matrix.jsonl")
    assert matrix["tests"] == ["assert f() == 1  # edited"] and matrix["candidates"][1] == "def f():\n    return 3\n"


class OverreachingTestWriter(RecordingTestWriter):
    """On a regeneration, also tries to overwrite the verdict, which it does not declare in `writes`."""

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        update = await super().__call__(state, ctx)
        if self.versions > 1:
            update["verdict"] = state.verdict.model_copy(update={"accepted": False}) if state.verdict else None
        return update


async def test_a_regenerated_stage_keeps_to_the_writes_the_graph_allows(tmp_path: Path) -> None:
    calls = Calls()
    chat = session(tmp_path, calls, test_writer=OverreachingTestWriter(calls))
    await chat.start(SEED)
    await chat.regenerate("tests")
    state = await chat._current()
    assert state.verdict is not None and state.verdict.accepted  # the undeclared write was discarded
    assert state.tests == ["assert f() == 1  # version 1"]  # with the rest of that update
    [failure] = state.failures
    assert failure.stage == "write_tests" and failure.error_type == "ContractViolation"
    screen = chat.console.export_text()
    assert "✗ write_tests · recording-test-writer: agent 'recording-test-writer'" in screen
    assert "which it does not declare in `writes`" in screen


class StallingSampler(Generator):
    """Its second sampling waits until released (a slow model the user cancels); its third fails to connect."""

    def __init__(self, calls: Calls) -> None:
        super().__init__(calls)
        self.started, self.release = asyncio.Event(), asyncio.Event()

    async def sample(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        if self.samples == 1:
            self.started.set()
            await self.release.wait()
        elif self.samples == 2:
            self.samples += 1
            raise EndpointUnreachable("http://127.0.0.1:1/v1: connection refused")
        return await super().sample(state, ctx)


async def test_a_cancelled_regeneration_goes_on_from_its_fork(tmp_path: Path) -> None:
    calls = Calls()
    generator = StallingSampler(calls)
    chat = session(tmp_path, calls, generator=generator)
    await chat.start(SEED)
    step = asyncio.ensure_future(chat.regenerate("candidates"))
    await generator.started.wait()
    step.cancel()  # Ctrl-C in the prompt loop
    with pytest.raises(asyncio.CancelledError):
        await step
    assert (await chat.app.aget_state(chat.config)).next == ("sample",)  # the fork was checkpointed
    generator.release.set()
    await chat.resume()
    assert (await chat.app.aget_state(chat.config)).next == ("human_review",)
    state = await chat._current()
    assert state.candidates[1] == "def f():\n    return 3\n" and state.tests == ["assert f() == 1  # version 1"]
    with pytest.raises(EndpointUnreachable):  # the prompt loop's "model server unavailable" line
        await chat.regenerate("candidates")
    assert calls.count("write_tests") == 1 and all(node == name for name, node in calls.log)


async def test_tests_for_an_instance_a_person_accepted_over_the_discriminator_run_in_the_graph(tmp_path: Path) -> None:
    calls = Calls()
    chat = session(tmp_path, calls, discriminator=Discriminator(calls))
    chat.roster.discriminator.reject_first = 10  # the model rejects every attempt
    chat.with_settings(max_attempts=1)
    await chat.start(SEED)
    await chat.verdict(True, "the rubric is wrong here")
    assert (await chat._current()).status == "failed"  # accepted, but nothing was executed
    with pytest.raises(InputError, match="there are 0 tests"):
        await chat.edit_test(1, "assert f() == 1")
    await chat.regenerate("tests")  # the graph's accepted branch: tests and candidates, then execution
    assert sorted(name for name, _ in calls.log[-3:]) == ["execute", "sample", "write_tests"]
    assert all(node == name for name, node in calls.log)
    await chat.verdict(True, "now it is tested")
    state = await chat._current()
    assert state.status == "accepted" and state.tests == ["assert f() == 1  # version 1"]
