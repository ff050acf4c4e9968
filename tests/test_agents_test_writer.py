"""The test writer: tests from the specification only; unusable, duplicate and surplus tests dropped."""

from __future__ import annotations

from agents.test_writer import TestWriter, usable_tests
from graphs.state import Instance, SeedInput, SynthesisState, TaskType
from tests.scripted_chat import ScriptedChat, scripted_context

SOLUTION = "def gcd(a: int, b: int) -> int:\n    while b:\n        a, b = b, a % b  # SECRET-BODY\n    return a\n"
INSTANCE = Instance(task_type=TaskType.GENERATION, task_name="GCD", entry_point="gcd", output=SOLUTION,
                    instruction="Write a Python function `gcd(a, b)` returning the greatest common divisor.")


def state(instance: Instance = INSTANCE) -> SynthesisState:
    return SynthesisState(seed=SeedInput(id="s", code="x = 1"), task_type=instance.task_type, instance=instance)


def test_usable_tests_explain_every_drop() -> None:
    tests = [
        "assert gcd(12, 18) == 6",
        "assert gcd(12, 18) == 6  # same again",
        "assert gcd(7, 0) == 7",
        "assert gcd(3, 3 == 3",
        "assert max(1, 2) == 2",
        "def gcd(a, b):\n    return 1\nassert gcd(2, 4) == 1",
        "def test_zero():\n    assert gcd(0, 5) == 5",
        "def test_primes():\n    assert gcd(13, 7) == 1\ntest_primes()",
        "gcd(1, 1)",
    ]
    kept, problems = usable_tests(tests, "gcd", "python", limit=5)
    assert kept == ["assert gcd(12, 18) == 6", "assert gcd(7, 0) == 7",
                    "def test_primes():\n    assert gcd(13, 7) == 1\ntest_primes()"]
    assert problems == [
        "test 2 repeats an earlier test",
        "test 4 does not parse: line 1: '(' was never closed",
        "test 5 does not call `gcd`",
        "test 6 redefines `gcd` instead of testing it",
        "test 7 defines test_zero but never calls it",
        "test 9 has no assert statement",
    ]
    assert len(usable_tests([f"assert gcd({i}, 1) == 1" for i in range(9)], "gcd", "python", 4)[0]) == 4


def test_javascript_tests_need_an_assertion_and_valid_syntax() -> None:
    tests = ['console.assert(gcd(12, 18) === 6, "gcd(12, 18)");',
             'if (gcd(7, 0) !== 7) throw new Error("gcd(7, 0)");',
             'console.assert(gcd(1, 1) === 1;', "gcd(2, 2);",
             'function gcd(a, b) { return 1; }\nconsole.assert(gcd(1, 2) === 1);']
    kept, problems = usable_tests(tests, "gcd", "javascript", limit=5)
    assert kept == tests[:2]
    assert [problem.split(" ", 2)[2][:14] for problem in problems] == [
        "does not parse", "has no asserti", "redefines `gcd"]


async def test_writes_tests_from_the_spec_and_signature_without_the_solution_body() -> None:
    chat = ScriptedChat({"test_writer": [{"tests": ["assert gcd(12, 18) == 6", "assert gcd(5, 0) == 5",
                                                    "assert gcd(5, 0) == 5", "assert gcd(1, 1) == 1"]}]})
    ctx, events = scripted_context(chat, n_tests=2, test_temperature=0.4)
    update = await TestWriter()(state(), ctx)
    assert update == {"tests": ["assert gcd(12, 18) == 6", "assert gcd(5, 0) == 5"]}
    [call] = chat.calls
    assert "def gcd(a: int, b: int) -> int:" in call.prompt and "SECRET-BODY" not in call.prompt
    assert "Write 2 independent unit tests" in call.prompt and call.params == {"temperature": 0.4}
    assert call.schema.model_json_schema()["properties"]["tests"]["maxItems"] == 4  # bounded: 2·M
    assert any(event.kind == "dropped_tests" for event in events)


async def test_no_usable_test_is_reasked_then_a_failure() -> None:
    useless = {"tests": ["print('hello')", "assert True"]}
    chat = ScriptedChat({"test_writer": [useless, useless]})
    ctx, _ = scripted_context(chat, max_reasks=1)
    update = await TestWriter()(state(), ctx)
    assert "tests" not in update and len(chat.calls) == 2
    assert "no usable test (need 3 of 5): test 1 does not call `gcd`" in chat.calls[1].messages[-1]["content"]
    assert update["failures"][0].stage == "test"


async def test_repair_tests_see_the_buggy_code_and_translation_tests_are_in_the_target_language() -> None:
    repair = Instance(task_type=TaskType.REPAIR, task_name="Fix", entry_point="inc",
                      output="def inc(x):\n    return x + 1\n",
                      instruction="Fix the bug in this Python function; inc(x) returns x + 1.",
                      input="def inc(x):\n    return x - 1\n", buggy_code="def inc(x):\n    return x - 1\n")
    translation = Instance(task_type=TaskType.TRANSLATION, task_name="T", entry_point="inc", language="javascript",
                           source_language="python", instruction="Translate this Python function into JavaScript.",
                           input="def inc(x):\n    return x + 1\n", output="function inc(x) {\n  return x + 1;\n}\n")
    chat = ScriptedChat({"test_writer": [{"tests": ["assert inc(1) == 2"]},
                                         {"tests": ["console.assert(inc(1) === 2);"]}]})
    ctx, _ = scripted_context(chat, n_tests=1)
    assert (await TestWriter()(state(repair), ctx))["tests"] == ["assert inc(1) == 2"]
    assert (await TestWriter()(state(translation), ctx))["tests"] == ["console.assert(inc(1) === 2);"]
    assert "The buggy code to be fixed:\n```python\ndef inc(x):\n    return x - 1" in chat.calls[0].prompt
    assert "function inc(x)" in chat.calls[1].prompt and "return x + 1;" not in chat.calls[1].prompt
    assert "console.assert" in chat.calls[1].prompt


async def test_summaries_get_no_tests() -> None:
    summary = Instance(task_type=TaskType.SUMMARIZATION, task_name="S", instruction="Summarize.", output="It adds.")
    ctx, _ = scripted_context(ScriptedChat())
    update = await TestWriter()(state(summary), ctx)
    assert update["failures"][0].message == "no executable instance to write tests for"


async def test_too_few_usable_tests_are_reasked_and_the_best_set_kept_at_the_end() -> None:
    one = {"tests": ["assert gcd(4, 6) == 2", "print(1)", "assert True", "assert gcd(4, 6) == 2"]}
    two = {"tests": ["assert gcd(4, 6) == 2", "assert gcd(9, 3) == 3", "x = 1"]}
    chat = ScriptedChat({"test_writer": [one, two]})
    ctx, _ = scripted_context(chat, n_tests=6, max_reasks=1)
    update = await TestWriter()(state(), ctx)
    assert update == {"tests": ["assert gcd(4, 6) == 2", "assert gcd(9, 3) == 3"]}
    reask = chat.calls[1].messages[-1]["content"]
    assert "only 1 usable test (need 3 of 6): test 2 does not call `gcd`" in reask
