"""The chat session: one synthesis graph (with the human-review interrupt) driven step by step, its updates
rendered live, steered by the user's commands, its finished threads saved as `synth` writes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Command
from rich.console import Console
from rich.text import Text

from graphs.app.chat import render
from graphs.context import Event, RunContext, SynthSettings
from graphs.error_policy import ErrorKind, classify
from graphs.nodes import origin
from graphs.outdir_lock import OutdirLock
from graphs.records import ModelStamp, open_writers, write_thread
from graphs.serde import state_serde_modules
from graphs.slots import Roster
from graphs.state import EXECUTABLE_TASKS, Failure, SeedInput, SynthesisState, TaskType, thread_id
from graphs.synthesis import compile_graph, thread_config
from graphs.thread_runner import initial_state
from tools.errors import CodemillError, InputError
from tools.rows import stable_id

WORDS_PREAMBLE = "# A programming task, described in words:\n"


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
        self.config: dict[str, Any] | None = None
        self.runs = 0  # graph runs and regenerations so far: each gets its own sampling seed
        self.finished: dict[str, SynthesisState] = {}  # row thread id -> latest finished state

    # -- running the graph ---------------------------------------------------------------------------------
    def context(self) -> RunContext:
        self.runs += 1
        settings = self.settings.model_copy(update={"seed": self.settings.seed + self.runs - 1})
        return RunContext(settings=settings, llm=self.llm, sandbox=self.sandbox, pool=self.pool)

    def _on_event(self, event: Event) -> None:
        """An agent's live event, from LangGraph's custom stream (or from a stage run outside the graph)."""
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

    async def _drive(self, payload: Any, ctx: RunContext | None = None) -> None:
        """Stream the graph from `payload` (a new state, a resume Command, or None to go on) to its next stop:
        node updates are rendered as they land, agents' live events (custom stream) as they happen."""
        stream = self.app.astream(payload, self.config, context=ctx or self.context(),
                                  stream_mode=["updates", "custom"])
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
        await self._current()
        snapshot = await self.app.aget_state(self.config)
        if not snapshot.next or "human_review" in snapshot.next:
            raise InputError("nothing to resume: the run is waiting for your verdict or has finished")
        if self.probe is not None:
            await self.probe()
        await self._drive(None)

    async def _after_step(self) -> None:
        snapshot = await self.app.aget_state(self.config)
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
        state = self._peek()
        if state is not None and state.instance is not None:
            return state.instance.language
        return self.seed.language if self.seed else "python"

    def _peek(self) -> SynthesisState | None:
        if self.config is None:
            return None
        values = self.app.get_state(self.config).values
        return SynthesisState.model_validate(values) if values else None

    async def _current(self) -> SynthesisState:
        if self.config is None:
            raise InputError("no instance yet: give a task, a seed file or paste code first")
        snapshot = await self.app.aget_state(self.config)
        if not snapshot.values:
            raise InputError("no instance yet: give a task, a seed file or paste code first")
        return SynthesisState.model_validate(snapshot.values)

    # -- steering --------------------------------------------------------------------------------------------
    async def verdict(self, accepted: bool, reason: str) -> None:
        """Resume the human-review interrupt with a person's verdict (it goes into the few-shot pool)."""
        await self._current()
        snapshot = await self.app.aget_state(self.config)
        if "human_review" not in snapshot.next:
            raise InputError("nothing awaits a verdict: /regen instance or give a new task first")
        await self._drive(Command(resume={"accepted": accepted, "reason": reason}))

    async def regenerate(self, stage: str) -> None:
        """Run one stage again with a fresh sampling seed: `instance` restarts the graph on the same seed."""
        if stage == "instance":
            if self.seed is None:
                raise InputError("no seed yet: give a task, a seed file or paste code first")
            await self.start(self.seed)
            return
        state = self._executable(await self._current())
        if self.probe is not None:
            await self.probe()
        ctx = self.context()
        call = self.roster.test_writer if stage == "tests" else self.roster.generator.sample
        update = await self._call(stage, call, state, ctx)
        self.show("write_tests" if stage == "tests" else "sample", update)
        await self._execute(state.model_copy(update={k: v for k, v in update.items() if k != "failures"}), update,
                            ctx)

    async def edit_test(self, index: int, code: str) -> None:
        state = self._executable(await self._current())
        if not 1 <= index <= len(state.tests):
            raise InputError(f"there are {len(state.tests)} tests; /edit-test K with K from 1 to {len(state.tests)}")
        if not code.strip():
            raise InputError("the new test is empty")
        tests = list(state.tests)
        tests[index - 1] = code
        self.console.print(render.tests_table(tests, self._language(), f"tests (test {index} edited)"))
        await self._execute(state.model_copy(update={"tests": tests}), {"tests": tests}, self.context())

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

    async def _call(self, stage: str, call: Any, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        """One stage run outside the graph (a regeneration): endpoint errors propagate (the prompt loop says the
        server is unavailable); other project errors are the stage's failure, as in the graph."""
        outside = dataclasses.replace(ctx, emit=self._on_event)  # no graph run here to stream the events
        try:
            return dict(await call(state, outside))
        except CodemillError as error:
            if classify(error) is not ErrorKind.THREAD:
                raise
            return {"failures": [Failure(stage=stage, agent=getattr(call, "name", stage), message=str(error),
                                         error_type=type(error).__name__)]}

    async def _execute(self, state: SynthesisState, update: dict[str, Any], ctx: RunContext) -> None:
        """Re-run the executor on the changed state, write the result as the executor's update, and let the
        graph go on from there (reviewers, then the human verdict again)."""
        executed = await self._call("execute", self.roster.executor, state, ctx)
        self.show("execute", executed)
        merged = {**update, **executed, "failures": update.get("failures", []) + executed.get("failures", [])}
        await self.app.aupdate_state(self.config, merged, as_node="execute")
        await self._drive(None, ctx)

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
