"""The chat session: one synthesis graph (with the human-review interrupt) driven step by step, its updates
rendered live, steered by the user's commands, its finished threads saved as `synth` writes them.

Every agent runs inside the graph, as one of its nodes (write restrictions, error policy, checkpoints, live
events): the session only streams the graph and forks its thread. Steering forks the thread (LangGraph's time
travel) at its fan-out, the checkpoint where `write_tests` ∥ `sample` are about to run. `/regen tests` records
the current tests and candidates there as the update of the node kept (`update_state(..., as_node="sample")`)
and sends the graph to the node redone (`Command(goto="write_tests")`); `/edit-test` records both halves in one
superstep (`bulk_update_state`). Then the graph's own edges go on: `execute`, the reviewers, the human verdict.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Command, StateSnapshot, StateUpdate, StreamMode
from rich.console import Console
from rich.text import Text

from graphs.app.chat import render
from graphs.context import Event, RunContext, SynthSettings
from graphs.nodes import origin
from graphs.outdir_lock import OutdirLock
from graphs.records import ModelStamp, open_writers, write_thread
from graphs.serde import state_serde_modules
from graphs.slots import Roster
from graphs.state import EXECUTABLE_TASKS, Failure, SeedInput, SynthesisState, TaskType, thread_id
from graphs.synthesis import compile_graph, thread_config
from graphs.thread_runner import initial_state
from tools.errors import InputError
from tools.rows import stable_id

WORDS_PREAMBLE = "# A programming task, described in words:\n"
# /regen's stage -> (the node that redoes it, the node whose output stands): the two halves of the fan-out.
FAN_OUT = {"tests": ("write_tests", "sample"), "candidates": ("sample", "write_tests")}
# Node updates to render, and agents' live events (LangGraph's custom stream).
STREAM_MODES: list[StreamMode] = ["updates", "custom"]


def words_seed(task: str) -> SeedInput:
    """A task in words becomes a Python seed made of comments (the generator writes a task inspired by it)."""
    body = "\n".join(f"# {line}".rstrip() for line in task.strip().splitlines())
    code = WORDS_PREAMBLE + body + "\n"
    return SeedInput(id=f"chat-{stable_id('words', code, length=12)}", code=code, language="python", path="<chat>")


def code_seed(code: str, language: str, path: str | None = None) -> SeedInput:
    return SeedInput(id=f"chat-{stable_id('code', code, length=12)}", code=code, language=language,
                     path=path or "<pasted>")


class ChatSession:
    """Holds the compiled graph, the current thread and the finished ones; every public coroutine is one step
    the prompt loop may cancel (Ctrl-C) without losing the session."""

    def __init__(self, roster: Roster, settings: SynthSettings, *, llm: Any, sandbox: Any, pool: Any,
                 outdir: Path, console: Console, probe: Callable[[], Awaitable[None]] | None = None,
                 stamp: ModelStamp | None = None) -> None:
        self.roster, self.settings, self.llm, self.sandbox, self.pool = roster, settings, llm, sandbox, pool
        self.outdir, self.console, self.probe = outdir, console, probe
        self.stamp = stamp
        serde = JsonPlusSerializer(allowed_msgpack_modules=list(state_serde_modules()))
        self.app = compile_graph(roster, InMemorySaver(serde=serde), human=True)
        self.task_type = TaskType.GENERATION
        self.language = ""  # language of pasted code; "" = guess
        self.seed: SeedInput | None = None
        self.config: RunnableConfig | None = None  # the current thread
        self.runs = 0  # graph runs and regenerations so far: each gets its own sampling seed
        self.finished: dict[str, SynthesisState] = {}  # row thread id -> latest finished state

    # -- running the graph ---------------------------------------------------------------------------------
    def context(self) -> RunContext:
        self.runs += 1
        settings = self.settings.model_copy(update={"seed": self.settings.seed + self.runs - 1})
        return RunContext(settings=settings, llm=self.llm, sandbox=self.sandbox, pool=self.pool)

    def _on_event(self, event: Event) -> None:
        """An agent's live event, from LangGraph's custom stream."""
        line = render.event_line(event)
        if line is not None:
            self.console.print(line)

    async def start(self, seed: SeedInput) -> None:
        """Run the graph on a new seed with the current task type, up to the human verdict."""
        task = self.task_type
        if task is TaskType.TRANSLATION and seed.language not in self.settings.translation_targets:
            raise InputError(f"no translation target for {seed.language} code")
        self.seed = seed  # kept even if the server is down: /regen instance retries it
        if self.probe is not None:
            await self.probe()
        if self.config is not None and "human_review" in (await self.app.aget_state(self.config)).next:
            self.console.print(Text("(the previous instance got no verdict and will not be saved)", style="dim"))
        self.config = thread_config(f"chat-{self.runs}-{seed.id}:{task.value}")
        self.console.rule(f"{task.value} · seed {seed.id} ({seed.language}, {len(seed.code.splitlines())} lines)")
        await self._drive(initial_state(seed, task, self.settings))

    async def _drive(self, payload: Any) -> None:
        """Stream the graph from `payload` (a new state, a resume Command, or None to go on) to its next stop:
        node updates are rendered as they land, agents' live events (custom stream) as they happen."""
        stream = cast(AsyncGenerator[tuple[str, Any], None],  # (mode, chunk) pairs, as asked for below
                      self.app.astream(payload, self._thread(), context=self.context(), stream_mode=STREAM_MODES))
        async with aclosing(stream):  # a step that fails or is cancelled stops the graph's tasks at once
            async for mode, chunk in stream:
                if mode == "custom":
                    if isinstance(chunk, Event):
                        self._on_event(chunk)
                    continue
                for node, update in chunk.items():
                    if node != "__interrupt__":
                        self.show(node, dict(update or {}))
        await self._after_step()

    async def resume(self) -> None:
        """Go on with a run that was cancelled (Ctrl-C) or cut short, from its last completed step."""
        snapshot = await self._snapshot()
        if not snapshot.next or "human_review" in snapshot.next:
            raise InputError("nothing to resume: the run is waiting for your verdict or has finished")
        if self.probe is not None:
            await self.probe()
        await self._drive(None)

    async def _after_step(self) -> None:
        snapshot = await self.app.aget_state(self._thread())
        if "human_review" in snapshot.next:
            self.console.print(Text("your verdict? /accept, /reject REASON — or /regen, /edit-test K, /n, /m",
                                    style="bold magenta"))
            return
        if snapshot.values and not snapshot.next:
            state = SynthesisState.model_validate(snapshot.values)
            self.finished[thread_id(state.seed.id, state.task_type)] = state
            style = {"accepted": "bold green", "rejected": "bold red"}.get(state.status, "bold yellow")
            accepted = sum(1 for s in self.finished.values() if s.status == "accepted")
            self.console.print(Text(f"status: {state.status}", style=style),
                               Text(f"· {accepted} accepted in this session · /save writes them", style="dim"))
            if state.status != "accepted" and state.verdict and state.verdict.accepted and state.checks:
                self.console.print(Text("the executable checks fail: /edit-test K or /regen tests, then judge again",
                                        style="dim"))

    def show(self, node: str, update: dict[str, Any]) -> None:
        """Render one node's update live."""
        console = self.console
        if (instance := update.get("instance")) is not None and node == "generate":
            console.print(render.instance_panel(instance, update.get("attempt", 1)))
        if (verdict := update.get("verdict")) is not None:
            console.print(render.verdict_panel(verdict))
        language = self._language()
        if "tests" in update:
            console.print(render.tests_table(update["tests"], language))
        if "candidates" in update:
            console.print(render.candidates_panel(update["candidates"], language))
        if (verification := update.get("verification")) is not None:
            console.print(render.matrix_table(verification))
        if (checks := update.get("checks")) is not None:
            console.print(render.checks_line(checks))
        for review in update.get("reviews", []):
            console.print(Text(f"reviewer {review.reviewer}: score {review.score} passed {review.passed} "
                               f"{review.notes}", style="cyan"))
        failures: list[Failure] = update.get("failures", [])
        for failure in failures:
            console.print(Text(f"✗ {failure.stage} · {failure.agent}: {failure.message}", style="red"))

    def _language(self) -> str:
        state = self.peek()
        if state is not None and state.instance is not None:
            return state.instance.language
        return self.seed.language if self.seed else "python"

    def peek(self) -> SynthesisState | None:
        """The current thread's state, if any (for /status)."""
        if self.config is None:
            return None
        values = self.app.get_state(self.config).values
        return SynthesisState.model_validate(values) if values else None

    def _thread(self) -> RunnableConfig:
        if self.config is None:
            raise InputError("no instance yet: give a task, a seed file or paste code first")
        return self.config

    async def _snapshot(self) -> StateSnapshot:
        """The current thread's latest checkpoint; an InputError while there is no instance."""
        snapshot = await self.app.aget_state(self._thread())
        if not snapshot.values:
            raise InputError("no instance yet: give a task, a seed file or paste code first")
        return snapshot

    async def _current(self) -> SynthesisState:
        return SynthesisState.model_validate((await self._snapshot()).values)

    # -- steering --------------------------------------------------------------------------------------------
    async def verdict(self, accepted: bool, reason: str) -> None:
        """Resume the human-review interrupt with a person's verdict (it goes into the few-shot pool)."""
        snapshot = await self._snapshot()
        if "human_review" not in snapshot.next:
            raise InputError("nothing awaits a verdict: /regen instance or give a new task first")
        await self._drive(Command(resume={"accepted": accepted, "reason": reason}))

    async def regenerate(self, stage: str) -> None:
        """Run one stage again with a fresh sampling seed, through the graph: `tests` or `candidates` fork the
        thread at its fan-out (the other half's output stands), `instance` restarts the graph on the same seed."""
        if stage == "instance":
            if self.seed is None:
                raise InputError("no seed yet: give a task, a seed file or paste code first")
            await self.start(self.seed)
            return
        state = self._executable(await self._current())
        fan_out = await self._fan_out()
        if self.probe is not None:
            await self.probe()
        if fan_out is None:  # a person accepted what the discriminator rejected: the accepted branch runs now
            await self.app.aupdate_state(self._thread(), None, as_node="discriminate")
            await self._drive(None)
            return
        redo, kept = FAN_OUT[stage]
        # Both halves start as they are now: a redone stage that fails leaves its previous output, as before.
        current = {"tests": state.tests, "candidates": state.candidates}
        await self.app.aupdate_state(fan_out.config, Command(update=current, goto=redo), as_node=kept)
        await self._drive(None)

    async def edit_test(self, index: int, code: str) -> None:
        """Replace test `index` (1-based) and execute again, through the graph: the thread forks at its fan-out
        with the edited tests and the current candidates as the two halves' outputs, so `execute` runs next."""
        state = self._executable(await self._current())
        if not 1 <= index <= len(state.tests):
            raise InputError(f"there are {len(state.tests)} tests; /edit-test K with K from 1 to {len(state.tests)}")
        if not code.strip():
            raise InputError("the new test is empty")
        fan_out = await self._fan_out()
        if fan_out is None:
            raise InputError("there are no tests to edit yet: /regen tests first")
        tests = list(state.tests)
        tests[index - 1] = code
        self.console.print(render.tests_table(tests, self._language(), f"tests (test {index} edited)"))
        await self.app.abulk_update_state(fan_out.config, [[StateUpdate({"tests": tests}, as_node="write_tests"),
                                                            StateUpdate({"candidates": state.candidates},
                                                                        as_node="sample")]])
        await self._drive(None)

    async def current_test(self, index: int) -> str:
        state = await self._current()
        if not 1 <= index <= len(state.tests):
            raise InputError(f"there are {len(state.tests)} tests; /edit-test K with K from 1 to {len(state.tests)}")
        return state.tests[index - 1]

    def _executable(self, state: SynthesisState) -> SynthesisState:
        if state.instance is None or state.task_type not in EXECUTABLE_TASKS:
            raise InputError(f"a {state.task_type.value} instance has no tests or candidates to regenerate")
        if state.verdict is None or not state.verdict.accepted:
            raise InputError("the instance was rejected: /regen instance first (or /accept it)")
        return state

    async def _fan_out(self) -> StateSnapshot | None:
        """The thread's latest checkpoint (walking back from the current one) where `write_tests` ∥ `sample` are
        about to run: what comes after it is what a regeneration or an edit replaces. None if the run never got
        there (the discriminator rejected the instance)."""
        snapshot: StateSnapshot | None = await self.app.aget_state(self._thread())
        while snapshot is not None:
            if {"write_tests", "sample"} <= set(snapshot.next):
                return snapshot
            parent = snapshot.parent_config
            snapshot = await self.app.aget_state(parent) if parent is not None else None
        return None

    # -- saving ----------------------------------------------------------------------------------------------
    def save(self, outdir: Path | None = None) -> dict[str, int]:
        """Write every finished thread's rows (sft, dpo, matrix, ledger) as `synth` does; ids keep it idempotent."""
        outdir = outdir or self.outdir
        written = {"sft": 0, "dpo": 0, "matrix": 0}
        with OutdirLock(outdir):  # one writer per OUTDIR: not while a `synth` run writes there
            writers = open_writers(outdir)
            try:
                for state in self.finished.values():
                    for name, count in write_thread(state, writers, self.stamp).rows.items():
                        written[name] += count
            finally:
                for writer in writers.values():
                    writer.close()
        return written

    def describe_agents(self) -> list[tuple[str, str, str]]:
        return [(slot, agent.name, origin(agent)) for slot, agent in self.roster.agents()]

    def drawing(self, style: str = "mermaid") -> str:
        """The session's graph (with its human-review node) as Mermaid, or ASCII where grandalf is installed."""
        graph = self.app.get_graph()
        if style == "ascii":
            try:
                return graph.draw_ascii()
            except ImportError:
                return "(the ASCII drawing needs the `grandalf` package; here is the Mermaid)\n" + graph.draw_mermaid()
        return graph.draw_mermaid()

    def with_settings(self, **changes: Any) -> None:
        self.settings = self.settings.model_copy(update=changes)
