"""The synthesis graph: generator ⇄ discriminator, then tests and candidates in parallel, execution,
optional reviewers, and a final status. One thread per (seed, task type).

    generate → discriminate ─┬─ rejected, attempts left ──→ generate
                             ├─ accepted, executable ─────→ write_tests ∥ sample → execute → reviewers → finalize
                             └─ otherwise ────────────────→ finalize
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.context import RunContext
from graphs.nodes import agent_node, origin
from graphs.state import EXECUTABLE_TASKS, RubricCheck, SynthesisState, Verdict
from tools.errors import ConfigError

ROLE_SLOTS = ("generator", "discriminator", "test_writer", "executor")
# Supersteps one thread may take: 2 per generator attempt (at most 10) plus the executable tail, with room.
RECURSION_LIMIT = 64
INPUT_FIELDS = frozenset({"seed", "task_type", "target_language", "max_attempts"})
# Fields with a reducer: the only ones reviewers, which run in parallel, may write.
REDUCER_FIELDS = frozenset(name for name, info in SynthesisState.model_fields.items()
                           if any(callable(item) for item in info.metadata))


@dataclass
class Roster:
    """Which agent fills each slot, plus any reviewers that run in parallel after execution."""

    generator: Any
    discriminator: Any
    test_writer: Any
    executor: Any
    reviewers: list[Any] = field(default_factory=list)

    def agents(self) -> list[tuple[str, Any]]:
        return [(slot, getattr(self, slot)) for slot in ROLE_SLOTS] + [("reviewer", r) for r in self.reviewers]


def sample_writes(agent: Any) -> frozenset[str]:
    """What a generator's `sample` may write: its `sample_writes`, else what sampling is for."""
    return frozenset(getattr(agent, "sample_writes", None) or {"candidates", "failures"})


def validate_roster(roster: Roster) -> None:
    """Fail before running: protocol mismatches, duplicate names, reads that nothing writes."""
    state_fields = set(SynthesisState.model_fields)
    seen: dict[str, str] = {}
    written = set(INPUT_FIELDS)
    for slot, agent in roster.agents():
        name = getattr(agent, "name", None)
        label = f"agent {name or type(agent).__name__!r} ({origin(agent)})"
        if not isinstance(name, str) or not callable(agent):
            raise ConfigError(f"{label} in slot {slot!r} does not follow the Agent protocol (name, __call__)")
        for attribute in ("reads", "writes"):
            if not isinstance(getattr(agent, attribute, None), frozenset | set):
                raise ConfigError(f"{label} in slot {slot!r} lacks `{attribute}` (a set of state fields)")
        if slot == "generator" and not callable(getattr(agent, "sample", None)):
            raise ConfigError(f"{label} fills the generator slot but has no `sample` method")
        for method in ("__call__", "sample") if slot == "generator" else ("__call__",):
            function = agent if method == "__call__" and inspect.isfunction(agent) else getattr(agent, method)
            if not inspect.iscoroutinefunction(function):
                raise ConfigError(f"{label} in slot {slot!r} does not follow the Agent protocol: "
                                  f"`{method}` must be async")
        clobbered = set(agent.writes) - REDUCER_FIELDS if slot == "reviewer" else set()
        if clobbered:
            raise ConfigError(f"{label} is a reviewer but writes {', '.join(sorted(clobbered))}; reviewers run in "
                              f"parallel and may only write {', '.join(sorted(REDUCER_FIELDS))}")
        if name in seen:
            raise ConfigError(f"duplicate agent name {name!r}: {label} and {seen[name]}")
        seen[name] = label
        unknown = (set(agent.reads) | set(agent.writes)) - state_fields
        if unknown:
            raise ConfigError(f"{label} names unknown state fields: {', '.join(sorted(unknown))}")
        written |= set(agent.writes) | (sample_writes(agent) if slot == "generator" else set())
    for slot, agent in roster.agents():
        missing = set(agent.reads) - written
        if missing:
            raise ConfigError(
                f"agent {agent.name!r} ({origin(agent)}) in slot {slot!r} reads "
                f"{', '.join(sorted(missing))}, which no agent writes"
            )


def after_generate(state: SynthesisState) -> str:
    if state.instance is not None:
        return "discriminate"
    return "generate" if state.attempt < state.max_attempts else "finalize"


def after_discriminate(state: SynthesisState) -> str | list[str]:
    if state.verdict is None:
        return "finalize"
    if state.verdict.accepted:
        return ["write_tests", "sample"] if state.task_type in EXECUTABLE_TASKS else "finalize"
    return "generate" if state.attempt < state.max_attempts else "finalize"


async def finalize(state: SynthesisState) -> dict[str, Any]:
    """Decide the thread's status from what happened."""
    if state.verdict is None or state.instance is None:
        return {"status": "failed"}
    if not state.verdict.accepted:
        return {"status": "rejected"}
    if state.task_type in EXECUTABLE_TASKS and not (state.checks and state.checks.ok):
        return {"status": "failed" if state.checks is None else "rejected"}
    return {"status": "accepted"}


async def human_review(state: SynthesisState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Pause for a person's verdict (LangGraph `interrupt`); resume with {"accepted": bool, "reason": str}.

    Anything else (e.g. {"skip": true}) keeps the model's verdict. A human verdict goes into the few-shot
    pool like the discriminator's, marked as human.
    """
    if state.instance is None:
        return {}
    answer = interrupt({"instance": state.instance.model_dump(mode="json"),
                        "verdict": state.verdict.model_dump(mode="json") if state.verdict else None,
                        "checks": state.checks.model_dump(mode="json") if state.checks else None})
    if not isinstance(answer, dict) or "accepted" not in answer:
        return {}
    reason = str(answer.get("reason") or ("accepted by a person" if answer["accepted"] else "rejected by a person"))
    verdict = Verdict(checks=[RubricCheck(name="human", passed=bool(answer["accepted"]), reason=reason)],
                      accepted=bool(answer["accepted"]), analysis=reason, source="human")
    if runtime.context.pool is not None:
        runtime.context.pool.add(state.instance, verdict)
    return {"verdict": verdict, "verdicts": [verdict]}


def build_graph(roster: Roster, *, human: bool = False) -> StateGraph:
    """The uncompiled graph for a validated roster; `human` pauses before `finalize` for a person's verdict."""
    validate_roster(roster)
    graph = StateGraph(SynthesisState, context_schema=RunContext)
    generator = roster.generator
    graph.add_node("generate", agent_node("generate", generator, generator, frozenset(generator.writes),
                                          fresh_attempt=True))
    graph.add_node("sample", agent_node("sample", generator, generator.sample, sample_writes(generator)))
    for stage, agent in (("discriminate", roster.discriminator), ("write_tests", roster.test_writer),
                         ("execute", roster.executor)):
        graph.add_node(stage, agent_node(stage, agent, agent, frozenset(agent.writes)))
    graph.add_node("finalize", finalize)
    last = "finalize"
    if human:
        graph.add_node("human_review", human_review)
        graph.add_edge("human_review", "finalize")
        last = "human_review"
    graph.add_edge(START, "generate")
    graph.add_conditional_edges("generate", after_generate, {
        "discriminate": "discriminate", "generate": "generate", "finalize": "finalize"})
    graph.add_conditional_edges("discriminate", after_discriminate, {
        "write_tests": "write_tests", "sample": "sample", "generate": "generate", "finalize": last})
    graph.add_edge(["write_tests", "sample"], "execute")
    review_nodes = [f"review_{reviewer.name}" for reviewer in roster.reviewers]
    for node_name, reviewer in zip(review_nodes, roster.reviewers, strict=True):
        graph.add_node(node_name, agent_node(node_name, reviewer, reviewer, frozenset(reviewer.writes)))
        graph.add_edge("execute", node_name)
    if review_nodes:
        graph.add_edge(review_nodes, last)
    else:
        graph.add_edge("execute", last)
    graph.add_edge("finalize", END)
    return graph


def compile_graph(roster: Roster, checkpointer: BaseCheckpointSaver | None = None, *,
                  human: bool = False) -> CompiledStateGraph:
    return build_graph(roster, human=human).compile(checkpointer=checkpointer)


def thread_config(thread_id: str) -> dict[str, Any]:
    """The LangGraph config of one thread: its checkpoint key and its bound on supersteps."""
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}


def draw(roster: Roster, *, mermaid: bool = True) -> str:
    """The graph as Mermaid text (or ASCII where grandalf is installed)."""
    drawable = compile_graph(roster).get_graph()
    return drawable.draw_mermaid() if mermaid else drawable.draw_ascii()


def state_serde_modules() -> Sequence[tuple[str, str]]:
    """Types the SQLite checkpointer may deserialize from the state (langgraph's msgpack allow-list)."""
    from graphs import state

    names = ["SeedInput", "TaskType", "Instance", "RubricCheck", "Verdict", "Review", "Failure", "ExecutionChecks"]
    return [(state.__name__, name) for name in names]
