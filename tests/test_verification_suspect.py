"""Suspect candidates (screened or refused at run time) never lead: not the top candidate, not the trusted
tests' source, not timed, never `chosen`; a check the sandbox lost twice is an error row, not a verdict."""

from __future__ import annotations

import pytest

from tools.errors import SandboxError
from tools.sandbox import Limits, Sandbox
from tools.verification import VerifyConfig, VerifyTask, verify_task

HONEST = "def add(a, b):\n    return a + b\n"
SLOW_HONEST = "def add(a, b):\n    total = a\n    for _ in range(b):\n        total += 1\n    return total\n"
WRONG = "def add(a, b):\n    return a - b\n"
# Correct, but it reaches for a forging primitive: it must not become the chosen side of anything.
HACKER = "import ctypes\ndef add(a, b):\n    return a + b\n"
REFUSED_AT_RUN_TIME = "def add(a, b):\n    import sys\n    getattr(sys, '_get' + 'frame')()\n    return a + b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 5) == 5"]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=Limits(timeout_s=5)) as box:
        yield box


def test_a_screened_candidate_is_flagged_and_never_chosen(sandbox):
    task = VerifyTask(task_id="t", prompt="add", candidates=[HACKER, WRONG, HONEST], tests=TESTS)
    result = verify_task(sandbox, task, VerifyConfig(repeats=0))
    assert result.suspect[0] and "ctypes" in result.suspect[0]
    assert result.suspect[1:] == [None, None]
    assert result.matrix[0] == ["passed"] * 3  # it keeps its row: the flag is beside the matrix
    assert result.top_candidate == 2
    assert all(pair.chosen != HACKER for pair in result.pairs)
    record = result.to_record()
    assert record["suspect"][0] == result.suspect[0] and "error" in record


def test_a_suspect_can_be_the_rejected_side(sandbox):
    task = VerifyTask(task_id="t", prompt="add", candidates=[HONEST, "import gc\n" + WRONG], tests=TESTS)
    result = verify_task(sandbox, task, VerifyConfig(repeats=0))
    [pair] = result.pairs
    assert pair.chosen == HONEST and pair.metadata["rejected_suspect"] == result.suspect[1]


def test_a_primitive_refused_at_run_time_makes_the_candidate_suspect(sandbox):
    task = VerifyTask(task_id="t", prompt="add", candidates=[REFUSED_AT_RUN_TIME, HONEST], tests=TESTS)
    result = verify_task(sandbox, task, VerifyConfig(repeats=0))
    assert result.suspect[0] is not None
    assert result.top_candidate == 1


def test_when_every_candidate_is_suspect_nothing_leads(sandbox):
    task = VerifyTask(task_id="t", prompt="add", candidates=[HACKER, "import gc\n" + HONEST], tests=TESTS)
    result = verify_task(sandbox, task, VerifyConfig(repeats=0))
    assert result.top_candidate is None and result.pairs == []


def test_suspects_are_never_timed_and_one_honest_candidate_is_not_timed_at_all(sandbox):
    task = VerifyTask(task_id="t", prompt="add", candidates=[HACKER, HONEST], tests=TESTS)
    result = verify_task(sandbox, task, VerifyConfig(repeats=2))
    assert result.efficiency.timed_candidates == [] and "efficiency" not in result.timing_s


def test_two_honest_candidates_are_timed(sandbox):
    task = VerifyTask(task_id="t", prompt="add", candidates=[HONEST, SLOW_HONEST, HACKER], tests=TESTS)
    result = verify_task(sandbox, task, VerifyConfig(repeats=2))
    assert result.efficiency.timed_candidates == [0, 1]


class LosingSandbox:
    """A sandbox whose infrastructure fails: every run raises, as a check lost twice does."""

    def run(self, checks):
        raise SandboxError("sandbox worker lost twice during this check")

    async def arun(self, checks):
        self.run(checks)


def test_a_lost_check_is_an_error_row_without_scores_or_pairs():
    task = VerifyTask(task_id="t", prompt="add", candidates=[HONEST, WRONG], tests=TESTS)
    result = verify_task(LosingSandbox(), task)
    record = result.to_record()
    assert "lost twice" in record["error"]
    assert record["matrix"] == [] and record["scores"] == {} and record["pairs"] == []
    assert record["top_candidate"] is None


def test_javascript_timing_runs_share_a_runner_after_a_warm_up():
    from tools.sandbox.models import Check
    from tools.verification.efficiency import in_given_order, planned_checks, run_plan

    checks = [Check(code=code, test="t", language="javascript") for code in ["a", "b", "a", "b", "a", "b"]]
    plan = run_plan(checks)
    assert [check.code for check in planned_checks(checks, plan)] == ["a"] * 4 + ["b"] * 4  # warm-up first
    assert in_given_order(plan, list(range(len(plan)))) == [1, 5, 2, 6, 3, 7]  # warm-ups dropped
    python = [Check(code="x", test="t")] * 3
    assert run_plan(python) == [0, 1, 2]  # repeat-major, no warm-up: a fork is cheap
