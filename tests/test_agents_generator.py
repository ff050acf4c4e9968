"""The generator: an instance per task type, semantic re-asks, few-shot examples, feedback, sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.base import Generator
from agents.generator import LLMGenerator
from graphs.pool import FewShotPool
from graphs.state import Instance, RubricCheck, SeedInput, SynthesisState, TaskType, Verdict
from tests.scripted_chat import ScriptedChat, scripted_context

SEED = SeedInput(id="seed-1", code="def mean(xs):\n    return sum(xs) / len(xs)\n", language="python")
SOLUTION = ("def clipped_mean(xs, low, high):\n    xs = [min(max(x, low), high) for x in xs]\n"
            "    return sum(xs) / len(xs)\n")
GENERATION = {"task_name": "Clipped mean", "input": "",
              "instruction": "Write a Python function `clipped_mean(xs, low, high)` that clips then averages.",
              "entry_point": "clipped_mean", "solution": SOLUTION}


def state(task_type: TaskType = TaskType.GENERATION, **fields: Any) -> SynthesisState:
    return SynthesisState(seed=fields.pop("seed", SEED), task_type=task_type, **fields)


async def test_generation_writes_the_instance_and_counts_the_attempt() -> None:
    chat = ScriptedChat({"generator": [GENERATION]})
    ctx, _ = scripted_context(chat)
    update = await LLMGenerator()(state(), ctx)
    instance = update["instance"]
    assert update["attempt"] == 1
    assert (instance.task_type, instance.entry_point, instance.language) == ("generation", "clipped_mean", "python")
    assert instance.output == SOLUTION
    [call] = chat.calls
    assert "def mean(xs):" in call.prompt and '"solution"' in call.prompt  # the seed and the output contract
    assert call.params["temperature"] == 0.7


async def test_each_attempt_samples_with_its_own_reproducible_seed() -> None:
    seeds = []
    for attempt in (0, 1, 0):
        chat = ScriptedChat({"generator": [GENERATION]})
        ctx, _ = scripted_context(chat, seed=3)
        await LLMGenerator()(state(attempt=attempt), ctx)
        seeds.append(chat.calls[0].params["seed"])
    assert seeds[0] != seeds[1] and seeds[0] == seeds[2]  # a retry differs; a re-run is the same


async def test_a_solution_that_does_not_parse_is_sent_back_with_the_line() -> None:
    broken = {**GENERATION, "solution": "def clipped_mean(xs, low, high):\n    return (\n"}
    chat = ScriptedChat({"generator": [broken, GENERATION]})
    ctx, _ = scripted_context(chat)
    update = await LLMGenerator()(state(), ctx)
    assert update["instance"].output == SOLUTION
    reask = chat.calls[1].messages[-1]["content"]
    assert "the solution does not parse as Python: line 2" in reask


async def test_a_missing_entry_point_or_unnamed_function_is_rejected_precisely() -> None:
    wrong_name = {**GENERATION, "entry_point": "trimmed_mean",
                  "instruction": "Write a Python function `trimmed_mean`."}
    unnamed = {**GENERATION, "instruction": "Write a Python function that clips then averages."}
    chat = ScriptedChat({"generator": [wrong_name, unnamed, unnamed]})
    ctx, _ = scripted_context(chat, max_reasks=2)
    update = await LLMGenerator()(state(attempt=1), ctx)
    assert "instance" not in update and update["attempt"] == 2
    [failure] = update["failures"]
    assert failure.agent == "generator" and failure.stage == "generate"
    assert "entry point `trimmed_mean` is not defined" in chat.calls[1].messages[-1]["content"]
    assert failure.message.endswith("the instruction does not name the function `clipped_mean`")


async def test_summarization_keeps_the_seed_as_input() -> None:
    reply = {"task_name": "Mean", "instruction": "Summarize this Python function as a docstring.",
             "summary": "Return the arithmetic mean of the numbers in xs; fails on an empty list."}
    chat = ScriptedChat({"generator": [{**reply, "summary": "Mean."}, reply]})
    ctx, _ = scripted_context(chat)
    instance = (await LLMGenerator()(state(TaskType.SUMMARIZATION), ctx))["instance"]
    assert instance.input == SEED.code and instance.output == reply["summary"]
    assert "too short" in chat.calls[1].messages[-1]["content"]


async def test_repair_needs_a_real_difference_between_buggy_and_fixed_code() -> None:
    fixed = "def mean(xs):\n    return sum(xs) / len(xs)\n"
    same = {"task_name": "Fix mean", "entry_point": "mean", "fixed_code": fixed, "bug_description": "none",
            "buggy_code": "def mean(xs):  # looks the same\n    return sum(xs)/len(xs)\n",
            "instruction": "Fix the bug in this Python function, which should return the mean."}
    real = {**same, "bug_description": "divides by len - 1",
            "buggy_code": "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n"}
    chat = ScriptedChat({"generator": [same, real]})
    ctx, _ = scripted_context(chat)
    instance = (await LLMGenerator()(state(TaskType.REPAIR), ctx))["instance"]
    assert instance.buggy_code == real["buggy_code"] == instance.input and instance.output == fixed
    assert "buggy_code is the same as fixed_code" in chat.calls[1].messages[-1]["content"]


async def test_translation_targets_the_configured_language_and_checks_javascript_syntax() -> None:
    good = {"task_name": "Mean in JS", "entry_point": "mean",
            "translated_code": "function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0) / xs.length;\n}\n",
            "instruction": "Translate this Python function into JavaScript."}
    broken = {**good, "translated_code": "function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0 / ;\n}\n"}
    chat = ScriptedChat({"generator": [broken, good]})
    ctx, _ = scripted_context(chat)
    update = await LLMGenerator()(state(TaskType.TRANSLATION), ctx)
    instance = update["instance"]
    assert update["target_language"] == "javascript"
    assert (instance.language, instance.source_language, instance.input) == ("javascript", "python", SEED.code)
    assert "translated_code does not parse as JavaScript: line 2" in chat.calls[1].messages[-1]["content"]
    assert "into JavaScript" in chat.calls[0].prompt


async def test_translation_without_a_target_is_a_failure_not_a_crash() -> None:
    go_seed = SeedInput(id="g", code="func f() {}", language="go")
    ctx, _ = scripted_context(ScriptedChat())
    update = await LLMGenerator()(state(TaskType.TRANSLATION, seed=go_seed), ctx)
    assert "no translation target for 'go'" in update["failures"][0].message and update["attempt"] == 1


async def test_few_shot_examples_and_feedback_reach_the_prompt(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    good = Instance(task_type=TaskType.GENERATION, task_name="Good example", instruction="Write Python `g`.",
                    output="def g():\n    return 1\n", entry_point="g")
    bad = good.model_copy(update={"task_name": "Bad example", "instruction": "Do g."})
    pool.add(good, Verdict(accepted=True, analysis="Precise and tested.",
                           checks=[RubricCheck(name="related", passed=True, reason="yes")]))
    pool.add(bad, Verdict(accepted=False, analysis="Vague.", checks=[
        RubricCheck(name="language_stated", passed=False, reason="no language named")]))
    previous = Instance(task_type=TaskType.GENERATION, task_name="Earlier try", instruction="Write it.",
                        output="def f():\n    return 0\n", entry_point="f")
    chat = ScriptedChat({"generator": [GENERATION]})
    ctx, _ = scripted_context(chat, pool=pool)
    await LLMGenerator()(state(attempt=1, instance=previous,
                               feedback=["imports: `math` is used but not imported"]), ctx)
    prompt = chat.calls[0].prompt
    assert "GOOD" in prompt and "Good example" in prompt and "Precise and tested." in prompt
    assert "BAD" in prompt and "failed language_stated: no language named" in prompt
    assert "Earlier try" in prompt and "imports: `math` is used but not imported" in prompt


async def test_sample_asks_once_with_n_and_never_shows_the_reference() -> None:
    instance = Instance(task_type=TaskType.GENERATION, task_name="Clipped mean",
                        instruction=GENERATION["instruction"], output=SOLUTION, entry_point="clipped_mean")
    candidates = [{"code": SOLUTION}, {"code": "```python\ndef clipped_mean(xs, low, high):\n    return 0\n```"},
                  {"code": "def clipped_mean(xs, low, high): return (\n"}]
    chat = ScriptedChat({"generator": [candidates]})
    ctx, _ = scripted_context(chat, n_candidates=3, sample_temperature=0.9)
    agent = LLMGenerator()
    assert isinstance(agent, Generator)
    update = await agent.sample(state(instance=instance), ctx)
    assert update["candidates"] == [SOLUTION, "def clipped_mean(xs, low, high):\n    return 0",
                                    candidates[2]["code"]]  # unfenced; wrong ones kept for pairs
    [call] = chat.calls
    assert call.n == 3 and call.params["temperature"] == 0.9 and isinstance(call.params["seed"], int)
    assert "min(max(x, low), high)" not in call.prompt and GENERATION["instruction"] in call.prompt


async def test_sample_for_repair_shows_the_buggy_code() -> None:
    instance = Instance(task_type=TaskType.REPAIR, task_name="Fix", instruction="Fix this Python function.",
                        input="def f(x):\n    return x - 1\n", buggy_code="def f(x):\n    return x - 1\n",
                        output="def f(x):\n    return x + 1\n", entry_point="f")
    chat = ScriptedChat({"generator": [[{"code": "def f(x):\n    return x + 1\n"}]]})
    ctx, _ = scripted_context(chat, n_candidates=1)
    await LLMGenerator().sample(state(TaskType.REPAIR, instance=instance), ctx)
    prompt = chat.calls[0].prompt
    assert "```python\ndef f(x):\n    return x - 1\n```" in prompt and "x + 1" not in prompt


async def test_code_wrapped_in_a_markdown_fence_is_unwrapped_not_kept() -> None:
    js = "function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0) / xs.length;\n}"
    reply = {"task_name": "Mean in JS", "entry_point": "mean", "translated_code": f"```javascript\n{js}\n```",
             "instruction": "Translate this Python function into JavaScript."}
    ctx, _ = scripted_context(ScriptedChat({"generator": [reply]}))
    instance = (await LLMGenerator()(state(TaskType.TRANSLATION), ctx))["instance"]
    assert instance.output == js
