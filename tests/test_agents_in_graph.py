"""The built-in agents, discovered through their entry points, run in the synthesis graph end to end
(scripted chat model, real sandbox): reject-then-accept for code generation, and a summary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agents.discriminator import RUBRICS
from agents.registry import discover_agents
from graphs.slots import Roster
from graphs.state import SeedInput, SynthesisState, TaskType
from graphs.synthesis import compile_graph
from tests.scripted_chat import ScriptedChat, scripted_context
from tools.sandbox import Limits, Sandbox

SEED = SeedInput(id="seed-gcd", code="def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n")
SOLUTION = "def lcm(a, b):\n    from math import gcd\n    return a * b // gcd(a, b) if a and b else 0\n"
TASK = {"task_name": "LCM", "input": "", "entry_point": "lcm", "solution": SOLUTION,
        "instruction": "Write a Python function `lcm(a, b)` returning the least common multiple (0 if either is 0)."}


def judgement(task_type: TaskType, failing: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {name: {"reason": f"{name.replace('_', ' ')} verified in the instance",
                                    "passed": name != failing} for name in RUBRICS[task_type]}
    if failing:
        reply[failing]["reason"] = "the instruction never says which language"
    return {**reply, "analysis": "A focused task with a correct reference solution."}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(workers=2, limits=Limits(timeout_s=2.0)) as box:
        yield box


def roster() -> Roster:
    specs = discover_agents()
    return Roster(**{slot: specs[slot].create() for slot in ("generator", "discriminator", "test_writer",
                                                             "executor")})


async def test_reject_then_accept_then_tests_candidates_and_execution(sandbox: Sandbox) -> None:
    chat = ScriptedChat({
        "generator": [{**TASK, "instruction": "Write `lcm(a, b)`."}, TASK,
                      [{"code": SOLUTION}, {"code": "def lcm(a, b):\n    return a * b\n"}]],
        "discriminator": [judgement(TaskType.GENERATION, failing="language_stated"),
                          judgement(TaskType.GENERATION)],
        "test_writer": [{"tests": ["assert lcm(4, 6) == 12", "assert lcm(0, 5) == 0", "assert lcm(7, 3) == 21"]}],
    })
    ctx, events = scripted_context(chat, sandbox=sandbox, n_candidates=2, n_tests=3, timeout_s=2.0)
    app = compile_graph(roster())
    final = SynthesisState.model_validate(await app.ainvoke(
        SynthesisState(seed=SEED, task_type=TaskType.GENERATION), context=ctx))
    assert final.status == "accepted" and final.attempt == 2 and final.failures == []
    assert "language_stated: the instruction never says which language" in chat.calls_of("generator")[1].prompt
    assert final.checks is not None and final.checks.ok and final.checks.reference_passes == 3
    assert final.verification is not None
    assert final.verification.matrix == [["passed"] * 3, ["failed", "passed", "passed"]]
    assert final.verification.pairs[0].chosen == SOLUTION
    assert {event.agent for event in events} == {"generator", "discriminator", "test_writer", "executor"}


async def test_a_summary_needs_no_execution(sandbox: Sandbox) -> None:
    summary = {"task_name": "GCD", "instruction": "Summarize this Python function as a docstring.",
               "summary": "Return the greatest common divisor of a and b using Euclid's algorithm."}
    chat = ScriptedChat({"generator": [summary], "discriminator": [judgement(TaskType.SUMMARIZATION)]})
    ctx, _ = scripted_context(chat, sandbox=sandbox)
    final = await compile_graph(roster()).ainvoke(
        SynthesisState(seed=SEED, task_type=TaskType.SUMMARIZATION), context=ctx)
    assert final["status"] == "accepted" and final["instance"].output == summary["summary"]
    assert [call.agent for call in chat.calls] == ["generator", "discriminator"]


async def test_a_generator_that_never_gets_it_right_ends_failed_within_the_bounds(sandbox: Sandbox) -> None:
    broken = {**TASK, "solution": "def lcm(a, b) return a"}
    chat = ScriptedChat({"generator": [broken] * 9})
    ctx, _ = scripted_context(chat, sandbox=sandbox, max_reasks=1)
    final = await compile_graph(roster()).ainvoke(
        SynthesisState(seed=SEED, task_type=TaskType.GENERATION, max_attempts=3), context=ctx)
    assert final["status"] == "failed" and final["attempt"] == 3
    assert len(chat.calls) == 6 and chat.remaining("generator") == 3  # 3 attempts × (1 ask + 1 re-ask)
    assert all("does not parse as Python" in failure.message for failure in final["failures"])
