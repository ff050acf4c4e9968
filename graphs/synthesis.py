"""The synthesis graph: generator ⇄ discriminator, then tests and candidates in parallel, execution,
optional reviewers, and a final status. One thread per (seed, task type).

    generate → discriminate ─┬─ rejected, attempts left ──→ generate
                             ├─ accepted, executable ─────→ write_tests ∥ sample → execute → reviewers → finalize
                             ├─ finally rejected, executable, in the rejected sample
                             │      → probe_rejected → write_tests ∥ sample → execute → finalize (no rows but the
                             │        marked matrix: the quality numbers' check of the rubric against execution)
                             └─ otherwise ────────────────→ finalize
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graphs.context import RunContext
from graphs.human import human_review
from graphs.nodes import agent_node
from graphs.routing import (
    after_discriminate,
    after_discriminate_for_review,
    after_generate,
    finalize,
    probe_rejected,
)
from graphs.slots import Roster, sample_writes, validate_roster
from graphs.state import SynthesisState

SynthesisGraph = StateGraph[SynthesisState, RunContext, SynthesisState, SynthesisState]
CompiledSynthesisGraph = CompiledStateGraph[SynthesisState, RunContext, SynthesisState, SynthesisState]
# Supersteps one thread may take: 2 per generator attempt (at most 10) plus the executable tail (after a probe
# of the rejected sample, one more), with room.
RECURSION_LIMIT = 64


def build_graph(roster: Roster, *, human: bool = False) -> SynthesisGraph:
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
    graph.add_conditional_edges("generate", after_generate, cast(dict[Hashable, str], {
        "discriminate": "discriminate", "generate": "generate", "finalize": "finalize"}))
    after_judgment: dict[Hashable, str] = {"write_tests": "write_tests", "sample": "sample", "generate": "generate",
                                           "finalize": last}
    if human:  # a person sees every rejection and may overrule it: none goes into the rejected sample
        graph.add_conditional_edges("discriminate", after_discriminate_for_review, after_judgment)
    else:
        graph.add_node("probe_rejected", probe_rejected)
        graph.add_conditional_edges("discriminate", after_discriminate,
                                    {**after_judgment, "probe_rejected": "probe_rejected"})
        graph.add_edge("probe_rejected", "write_tests")
        graph.add_edge("probe_rejected", "sample")
    graph.add_edge(["write_tests", "sample"], "execute")
    review_nodes = [f"review_{reviewer.name}" for reviewer in roster.reviewers]
    for node_name, reviewer in zip(review_nodes, roster.reviewers, strict=True):
        graph.add_node(node_name, agent_node(node_name, reviewer, reviewer, frozenset(reviewer.writes)))
    if review_nodes:
        graph.add_edge(review_nodes, last)
    onward = review_nodes or [last]
    if human:  # nothing is probed
        for node_name in onward:
            graph.add_edge("execute", node_name)
    else:
        def after_execute(state: SynthesisState) -> list[str]:
            """A probed rejection is measured, not reviewed: straight to `finalize`."""
            return ["finalize"] if state.rejected_sample else onward

        graph.add_conditional_edges("execute", after_execute, [*dict.fromkeys([*onward, "finalize"])])
    graph.add_edge("finalize", END)
    return graph


def compile_graph(roster: Roster, checkpointer: BaseCheckpointSaver | None = None, *,
                  human: bool = False) -> CompiledSynthesisGraph:
    return build_graph(roster, human=human).compile(checkpointer=checkpointer)


def thread_config(thread_id: str) -> RunnableConfig:
    """The LangGraph config of one thread: its checkpoint key and its bound on supersteps."""
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT}


def draw(roster: Roster, *, mermaid: bool = True) -> str:
    """The graph as Mermaid text (or ASCII where grandalf is installed)."""
    drawable = compile_graph(roster).get_graph()
    return drawable.draw_mermaid() if mermaid else drawable.draw_ascii()
