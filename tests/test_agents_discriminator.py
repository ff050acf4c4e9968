"""The discriminator: rubric per task, acceptance computed from the checks, verdicts into the pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.discriminator import RUBRICS, RubricDiscriminator
from graphs.pool import FewShotPool
from graphs.state import Instance, SeedInput, SynthesisState, TaskType
from tests.scripted_chat import ScriptedChat, scripted_context

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


JUDGED = {"language_stated": "The instruction names Python explicitly.",
          "related": "The solution implements add exactly as asked.",
          "self_contained": "The instruction carries every detail needed.",
          "code_only": "The output is a single function and nothing else.",
          "no_hidden_logic": "The function does what the instruction says, no more.",
          "imports": "Nothing is imported and nothing is needed."}


def reasoned(**changes: str) -> dict[str, Any]:
    reply = {name: {"reason": changes.get(name, reason), "passed": True} for name, reason in JUDGED.items()}
    return {**reply, "analysis": changes.get("analysis", "A clean, correct addition task.")}


HOLLOW = {
    "a placeholder reason": reasoned(related="..."),
    "n/a": reasoned(code_only="n/a"),
    "a bare yes": reasoned(imports="Yes."),
    "the check's own name": reasoned(related="related"),
    "a copied question": reasoned(language_stated="Does the instruction state the programming language?"),
    "the same reason everywhere": {**{name: {"reason": "Looks right to me.", "passed": True} for name in JUDGED},
                                   "analysis": "Fine overall, all checks hold."},
    "an analysis that repeats the instructions": reasoned(
        analysis="Judge only what is asked, then quote or point to the evidence in the instance."),
    "an empty analysis": reasoned(analysis="..."),
    "the check's name with its underscore": reasoned(code_only="code_only"),
    "a reason copied from the worked example": reasoned(
        code_only="The solution is only the definition of count_vowels, with no prose around it."),
    "the worked example's analysis": reasoned(analysis=(
        "A clear, testable task whose solution would be right but crashes, because the re module is used without "
        "being imported. Adding import re at the top would fix it.")),
    "the worked example's analysis, loosely": reasoned(analysis=(
        "A clear and testable task whose solution would be right but crashes, because the re module is used "
        "without being imported. Adding import re on top would fix it.")),
}


async def test_a_judgment_with_substance_is_accepted() -> None:
    chat = ScriptedChat({"discriminator": [reasoned()]})
    ctx, _ = scripted_context(chat)
    assert (await RubricDiscriminator()(state(), ctx))["verdict"].accepted


@pytest.mark.parametrize("reply", list(HOLLOW.values()), ids=list(HOLLOW))
async def test_a_hollow_judgment_is_reasked_and_never_a_verdict(reply: dict[str, Any]) -> None:
    chat = ScriptedChat({"discriminator": [reply, reply, reply, reply]})
    ctx, _ = scripted_context(chat)
    update = await RubricDiscriminator()(state(), ctx)
    assert "verdict" not in update, update
    [failure] = update["failures"]
    assert failure.stage == "judge" and "gave up" in failure.message
    assert len(chat.calls) == 1 + ctx.settings.max_reasks


async def test_a_hollow_judgment_then_a_real_one_is_accepted() -> None:
    chat = ScriptedChat({"discriminator": [HOLLOW["a placeholder reason"], reasoned()]})
    ctx, _ = scripted_context(chat)
    update = await RubricDiscriminator()(state(), ctx)
    assert update["verdict"].accepted and len(chat.calls) == 2
    assert "placeholder" in chat.calls[1].messages[-1]["content"]


async def test_a_reason_patterned_on_the_worked_example_but_about_this_instance_is_a_reason() -> None:
    reply = reasoned(code_only="The solution is only the definition of add, with no prose around it.")
    chat = ScriptedChat({"discriminator": [reply]})
    ctx, _ = scripted_context(chat)
    assert (await RubricDiscriminator()(state(), ctx))["verdict"].accepted and len(chat.calls) == 1


async def test_the_worked_example_is_in_the_prompt_and_its_copy_is_named_in_the_reask() -> None:
    from agents.discriminator import worked_example

    copied = HOLLOW["a reason copied from the worked example"]
    chat = ScriptedChat({"discriminator": [copied, reasoned()]})
    ctx, _ = scripted_context(chat)
    update = await RubricDiscriminator()(state(), ctx)
    assert worked_example(TaskType.GENERATION).strip() in chat.calls[0].prompt
    assert update["verdict"].accepted
    assert "copied from the worked example" in chat.calls[1].messages[-1]["content"]
