"""The executor agent against the real sandbox: pass matrix, scores, pairs, and the executable checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.executor import SandboxExecutor
from graphs.state import Instance, SeedInput, SynthesisState, TaskType
from tests.scripted_chat import ScriptedChat, scripted_context
from tools.sandbox import Limits, Sandbox

CORRECT = "def inc(x):\n    return x + 1\n"
WRONG = "def inc(x):\n    return x - 1\n"
HANGS = "def inc(x):\n    while True:\n        pass\n"
TESTS = ["assert inc(1) == 2", "assert inc(-1) == 0", "assert inc(41) == 42"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(workers=2, limits=Limits(timeout_s=2.0)) as box:
        yield box


def run(sandbox: Sandbox, instance: Instance, tests: list[str], candidates: list[str] | None = None):
    state = SynthesisState(seed=SeedInput(id="seed-7", code=CORRECT), task_type=instance.task_type,
                           instance=instance, tests=tests, candidates=candidates or [])
    ctx, events = scripted_context(ScriptedChat(), sandbox=sandbox, timeout_s=1.0)
    return SandboxExecutor()(state, ctx), events


def generation(output: str = CORRECT) -> Instance:
    return Instance(task_type=TaskType.GENERATION, task_name="Inc", entry_point="inc", output=output,
                    instruction="Write a Python function `inc(x)` that returns x + 1.")


async def test_candidates_by_tests_give_a_matrix_scores_and_a_pair(sandbox: Sandbox) -> None:
    call, events = run(sandbox, generation(), TESTS, [WRONG, CORRECT, HANGS])
    update = await call
    verification = update["verification"]
    assert verification.task_id == "seed-7:generation"
    assert verification.matrix == [["failed", "failed", "failed"], ["passed"] * 3, ["timeout"] * 3]
    assert verification.top_candidate == 1
    assert any(pair.chosen == CORRECT and pair.rejected in (WRONG, HANGS) for pair in verification.pairs)
    checks = update["checks"]
    assert (checks.ok, checks.reference_passes, checks.tests_total, checks.buggy_fails) == (True, 3, 3, None)
    assert [event.kind for event in events] == ["matrix", "checks"]


async def test_a_reference_that_fails_a_test_is_not_ok_and_says_which(sandbox: Sandbox) -> None:
    update = await run(sandbox, generation(), [*TESTS, "assert inc(1) == 3", "assert inc(None) == 1"])[0]
    checks = update["checks"]
    assert (checks.ok, checks.reference_passes, checks.tests_total) == (False, 3, 5)
    assert checks.detail == ("the reference solution fails trusted test 4 (failed: AssertionError), "
                             "test 5 (error: TypeError)")
    assert "verification" not in update  # no candidates, nothing to rank: every test is trusted


async def test_a_wrong_test_that_the_ranking_distrusts_does_not_reject_a_good_reference(sandbox: Sandbox) -> None:
    tests = [*TESTS, "assert inc(1) == 0"]  # wrong: only the wrong candidates pass it
    update = await run(sandbox, generation(), tests, [CORRECT, CORRECT, WRONG])[0]
    checks = update["checks"]
    assert (checks.ok, checks.reference_passes, checks.tests_total) == (True, 3, 4)
    assert "fails distrusted test 4" in checks.detail


async def test_repair_tests_must_fail_on_the_buggy_code(sandbox: Sandbox) -> None:
    repair = Instance(task_type=TaskType.REPAIR, task_name="Fix inc", entry_point="inc", output=CORRECT,
                      input=WRONG, buggy_code=WRONG, instruction="Fix this Python function: inc returns x + 1.")
    caught = (await run(sandbox, repair, TESTS)[0])["checks"]
    assert (caught.ok, caught.buggy_fails) == (True, 3)
    blind = (await run(sandbox, repair, ["assert isinstance(inc(1), int)"])[0])["checks"]
    assert (blind.ok, blind.buggy_fails, blind.reference_passes) == (False, 0, 1)
    assert "no trusted test fails on the buggy code" in blind.detail


async def test_translations_run_in_the_target_language(sandbox: Sandbox) -> None:
    js = "function inc(x) {\n  return x + 1;\n}\n"
    translation = Instance(task_type=TaskType.TRANSLATION, task_name="Inc in JS", entry_point="inc",
                           language="javascript", source_language="python", input=CORRECT, output=js,
                           instruction="Translate this Python function into JavaScript.")
    tests = ['console.assert(inc(1) === 2, "inc(1)");', 'console.assert(inc(2) === 4, "inc(2) is wrong here");']
    update = await run(sandbox, translation, tests, [js, "function inc(x) { return x; }"])[0]
    assert update["checks"].reference_passes == 1 and update["checks"].ok  # test 2 is distrusted
    assert "fails distrusted test 2" in update["checks"].detail
    bad = await run(sandbox, translation.model_copy(update={"output": "function inc(x) { return x; }"}), tests,
                    [js, js])[0]
    assert not bad["checks"].ok and "fails trusted test 1" in bad["checks"].detail
    assert update["verification"].language == "javascript"
    assert update["verification"].matrix == [["passed", "failed"], ["failed", "failed"]]


async def test_nothing_to_run_is_a_failure_not_a_crash(sandbox: Sandbox) -> None:
    update = await run(sandbox, generation(), [])[0]
    assert update == {"failures": [update["failures"][0]]}
    assert update["failures"][0].message == "no tests to run" and update["failures"][0].agent == "executor"
