"""The generator re-asks a reply that copies instead of writing: placeholders, the prompt's own words, the worked
example, and (for a summary) the seed code or its own instruction — within the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.generator import LLMGenerator
from graphs.pool import FewShotPool
from graphs.state import Instance, RubricCheck, SeedInput, SynthesisState, TaskType, Verdict
from tests.scripted_chat import ScriptedChat, scripted_context
from tools.prompting import render

SEED = SeedInput(id="seed-1", code=(
    "def word_lengths(words):\n    # map every word to its length, skipping empty strings\n"
    "    return {word: len(word) for word in words if word}\n"), language="python")
SUMMARY = {"task_name": "Word lengths", "instruction": "Summarize this Python function as a docstring.",
           "summary": "Maps each non-empty word of an iterable to its number of characters and returns the dict."}


def worked(task: TaskType, language_id: str = "python") -> dict[str, Any]:
    """The worked example the task's prompt shows, as the reply it is."""
    text = render(f"generator/_worked_{task.value}.j2", language_id=language_id, language="Python")
    return json.loads(text.strip().splitlines()[-1])


def state(task_type: TaskType, **fields: Any) -> SynthesisState:
    return SynthesisState(seed=SEED, task_type=task_type, **fields)


async def ask(task: TaskType, *replies: dict[str, Any], pool: Any = None) -> tuple[dict[str, Any], ScriptedChat]:
    chat = ScriptedChat({"generator": list(replies)})
    ctx, _ = scripted_context(chat, pool=pool)
    return await LLMGenerator()(state(task), ctx), chat


COPIED_SUMMARIES = {
    "the instruction": ({**SUMMARY, "summary": "Summarize this Python function as a docstring, please."},
                        "repeats the instruction"),
    "the seed code": ({**SUMMARY, "summary": "return {word: len(word) for word in words if word}"},
                      "repeats the code"),
    "the seed's comment": ({**SUMMARY, "summary": "Map every word to its length, skipping empty strings."},
                           "repeats the code"),
    "the worked example": ({**SUMMARY, "summary": worked(TaskType.SUMMARIZATION)["summary"]},
                           "copied from an example"),
    "the worked example, loosely": ({**SUMMARY, "summary": worked(TaskType.SUMMARIZATION)["summary"].replace(
        "Tells whether", "Says if")}, "copied from an example"),
    "the prompt's rules": ({**SUMMARY, "summary": "One to four sentences of plain prose, as a good docstring "
                                                  "says it."}, "copies the prompt's own words"),
    "a field description as instruction": ({**SUMMARY, "instruction": "the request for a summary"},
                                           "copies the prompt's own words"),
    "a placeholder task name": ({**SUMMARY, "task_name": "task_name"}, "placeholder"),
    "a placeholder instruction": ({**SUMMARY, "instruction": "..."}, "placeholder"),
}


@pytest.mark.parametrize("copied,reason", list(COPIED_SUMMARIES.values()), ids=list(COPIED_SUMMARIES))
async def test_a_summary_that_copies_is_reasked_and_a_real_one_kept(copied: dict[str, Any], reason: str) -> None:
    update, chat = await ask(TaskType.SUMMARIZATION, copied, SUMMARY)
    assert update["instance"].output == SUMMARY["summary"]
    assert reason in chat.calls[1].messages[-1]["content"]


async def test_copies_only_are_a_recorded_failure_within_the_budget() -> None:
    copied = COPIED_SUMMARIES["the worked example"][0]
    update, chat = await ask(TaskType.SUMMARIZATION, copied, copied, copied, copied)
    assert "instance" not in update
    [failure] = update["failures"]
    assert "gave up after 3 attempts" in failure.message and "copied from an example" in failure.message
    assert len(chat.calls) == 3


async def test_a_summary_equal_to_a_pool_example_is_kept(tmp_path: Path) -> None:
    # The pool's examples answer other seeds; a near-duplicate seed may rightly earn the same answer.
    pool = FewShotPool(tmp_path)
    pool.add(Instance(task_type=TaskType.SUMMARIZATION, task_name="Word lengths", instruction="Summarize the code.",
                      output=SUMMARY["summary"]), Verdict(accepted=True, analysis="Faithful and short.", checks=[
                          RubricCheck(name="faithful", passed=True, reason="every claim holds")]))
    update, chat = await ask(TaskType.SUMMARIZATION, SUMMARY, pool=pool)
    assert SUMMARY["summary"] in chat.calls[0].prompt and update["instance"].output == SUMMARY["summary"]


@pytest.mark.parametrize("task", [TaskType.GENERATION, TaskType.REPAIR, TaskType.TRANSLATION])
async def test_the_worked_example_copied_whole_is_reasked(task: TaskType) -> None:
    language = "javascript" if task is TaskType.TRANSLATION else "python"  # a Python seed translates to JS
    copied = worked(task, language)
    update, chat = await ask(task, copied, copied, copied)
    assert "instance" not in update and len(chat.calls) == 3
    assert "copied from an example" in chat.calls[1].messages[-1]["content"]


async def test_a_formulaic_instruction_like_the_examples_is_not_a_copy() -> None:
    # "Translate this Python function into JavaScript." is what the worked example says, and right here too.
    reply = {"task_name": "Word lengths in JS", "entry_point": "wordLengths",
             "translated_code": "function wordLengths(words) {\n  const lengths = {};\n  for (const word of words) {\n"
                                "    if (word) lengths[word] = word.length;\n  }\n  return lengths;\n}\n",
             "instruction": "Translate this Python function into JavaScript."}
    update, chat = await ask(TaskType.TRANSLATION, reply)
    assert update["instance"].instruction == reply["instruction"] and len(chat.calls) == 1
