"""The discriminator: rubric per task, acceptance computed from the checks, verdicts into the pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.discriminator import RUBRICS, RubricDiscriminator
from graphs.state import Instance, SeedInput, SynthesisState, TaskType
from tests.scripted_chat import ScriptedChat, scripted_context
from tools.pool import FewShotPool

INSTANCE = Instance(task_type=TaskType.GENERATION, task_name="Add", entry_point="add",
                    instruction="Write a Python function `add(a, b)` returning a + b.",
                    output="def add(a, b):\n    return a + b\n")


def judgement(task_type: TaskType, failing: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    failing = failing or {}
    reply: dict[str, Any] = {name: {"reason": failing.get(name, f"{name} holds"), "passed": name not in failing}
                             for name in RUBRICS[task_type]}
    return {**reply, "analysis": "Looked at every check.", **extra}


def state(instance: Instance | None = INSTANCE) -> SynthesisState:
    return SynthesisState(seed=SeedInput(id="s", code="x = 1"), task_type=TaskType.GENERATION, instance=instance)


async def test_all_checks_passing_is_an_accepted_verdict_recorded_in_the_pool(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    chat = ScriptedChat({"discriminator": [judgement(TaskType.GENERATION)]})
    ctx, events = scripted_context(chat, pool=pool)
    update = await RubricDiscriminator()(state(), ctx)
    verdict = update["verdict"]
    assert verdict.accepted and update["feedback"] == []
    assert [check.name for check in verdict.checks] == list(RUBRICS[TaskType.GENERATION])
    assert verdict.analysis == "Looked at every check."
    assert FewShotPool(tmp_path).examples(TaskType.GENERATION)[0].instance == INSTANCE
    assert events[-1].kind == "verdict" and events[-1].payload["accepted"] is True
    [call] = chat.calls
    assert "def add(a, b):" in call.prompt and call.params == {"temperature": 0.0}
    assert set(call.schema.model_fields) == {*RUBRICS[TaskType.GENERATION], "analysis"}


async def test_one_failed_check_rejects_whatever_the_model_says_overall(tmp_path: Path) -> None:
    reply = judgement(TaskType.GENERATION, {"imports": "uses math.sqrt without importing math"},
                      overall=True, accepted=True)  # a model's own "overall" is ignored
    chat = ScriptedChat({"discriminator": [reply]})
    ctx, _ = scripted_context(chat, pool=FewShotPool(tmp_path))
    update = await RubricDiscriminator()(state(), ctx)
    assert update["verdict"].accepted is False
    assert update["feedback"] == ["imports: uses math.sqrt without importing math"]
    [entry] = FewShotPool(tmp_path).entries(TaskType.GENERATION)
    assert entry.verdict.accepted is False


async def test_a_missing_check_is_reasked_then_given_up_without_a_verdict() -> None:
    incomplete = judgement(TaskType.GENERATION)
    del incomplete["related"]
    chat = ScriptedChat({"discriminator": [incomplete] * 3})
    ctx, _ = scripted_context(chat, max_reasks=2)
    update = await RubricDiscriminator()(state(), ctx)
    assert "verdict" not in update and len(chat.calls) == 3
    assert "related" in update["failures"][0].message and update["failures"][0].stage == "judge"


async def test_summaries_are_judged_on_their_own_rubric() -> None:
    summary = Instance(task_type=TaskType.SUMMARIZATION, task_name="Sum", instruction="Summarize this Python.",
                       input="def add(a, b):\n    return a + b\n", output="Adds two numbers and prints them.")
    reply = judgement(TaskType.SUMMARIZATION, {"faithful": "the code does not print anything"})
    chat = ScriptedChat({"discriminator": [reply]})
    ctx, _ = scripted_context(chat)
    update = await RubricDiscriminator()(state(summary), ctx)
    assert update["feedback"] == ["faithful: the code does not print anything"]
    prompt = chat.calls[0].prompt
    assert "Summary:\nAdds two numbers" in prompt and "- no_unrelated_content:" in prompt
    assert "Input:\n```python\ndef add(a, b):" in prompt


async def test_no_instance_is_a_recorded_failure() -> None:
    ctx, _ = scripted_context(ScriptedChat())
    update = await RubricDiscriminator()(state(None), ctx)
    assert update["failures"][0].message == "no instance to judge"


async def test_a_pool_that_cannot_be_written_costs_an_example_not_the_verdict(tmp_path: Path) -> None:
    blocked = tmp_path / "pool"
    blocked.write_text("a file where the pool directory should be")
    chat = ScriptedChat({"discriminator": [judgement(TaskType.GENERATION)]})
    ctx, _ = scripted_context(chat, pool=FewShotPool(blocked))
    update = await RubricDiscriminator()(state(), ctx)
    assert update["verdict"].accepted
    assert update["failures"][0].message.startswith("few-shot pool not updated:")
