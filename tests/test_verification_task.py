"""The per-task pipeline against the real sandbox: matrix, scores, trusted tests, timings, pairs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tools.sandbox import Limits, Sandbox
from tools.verification import RANKERS, VerifyConfig, VerifyTask, averify_task, verify_task

FAST = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
SLOW = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
WRONG = "def fib(n):\n    a, b = 1, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
HANGS = "def fib(n):\n    while True:\n        pass\n"
CRASHES = "def fib(n):\n    raise RuntimeError('no')\n"
TASK = VerifyTask(
    task_id="fib", prompt="Write fib(n).", candidates=[WRONG, SLOW, HANGS, FAST, CRASHES],
    tests=["assert fib(10) == 55", "assert fib(25) == 75025", "assert fib(5) == 8  # wrong test"],
)
CONFIG = VerifyConfig(limits=Limits(timeout_s=1.0), repeats=3)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(workers=2) as box:
        yield box


@pytest.fixture(scope="module")
def record(sandbox: Sandbox) -> dict:
    return verify_task(sandbox, TASK, CONFIG).to_record()


def test_matrix_holds_one_status_per_cell(record: dict) -> None:
    assert record["matrix"] == [
        ["failed", "failed", "passed"],
        ["passed", "passed", "failed"],
        ["timeout", "timeout", "timeout"],
        ["passed", "passed", "failed"],
        ["error", "error", "error"],
    ]
    assert record["errors"][4] == ["RuntimeError"] * 3
    assert len(record["exec_s"]) == 5 and all(len(row) == 3 for row in record["exec_s"])


def test_every_ranker_scores_every_candidate_and_test(record: dict) -> None:
    assert set(record["scores"]) == set(RANKERS) >= {"pagerank", "codet", "max_pass"}
    for name in RANKERS:
        assert len(record["scores"][name]) == 5 and len(record["test_scores"][name]) == 3
    scores = record["scores"]["bayes"]
    assert scores[1] == scores[3] > scores[0] > scores[2]
    assert record["test_scores"]["bayes"][2] < record["test_scores"]["bayes"][0]


def test_trusted_tests_and_timings(record: dict) -> None:
    efficiency = record["efficiency"]
    assert record["top_candidate"] == 1  # first of the two correct ones
    assert efficiency["trusted_tests"] == [0, 1]
    assert efficiency["timed_candidates"] == [1, 3]
    slow, fast = efficiency["timings"][1], efficiency["timings"][3]
    assert len(slow["runs_s"]) == len(fast["runs_s"]) == 3
    # CPU time of the child, which includes a constant few ms of process start-up, so ratios are conservative
    assert slow["median_s"] > 2 * fast["median_s"]
    assert efficiency["fastest"] == 3 and efficiency["slowest"] == 1


def test_pairs_in_trl_shape(record: dict) -> None:
    kinds = {pair["kind"]: pair for pair in record["pairs"]}
    assert set(kinds) == {"correctness", "efficiency"}
    correctness, efficiency = kinds["correctness"], kinds["efficiency"]
    assert correctness["prompt"] == "Write fib(n)."
    assert correctness["chosen"] == SLOW and correctness["rejected"] in (HANGS, CRASHES)
    assert correctness["metadata"]["ranker"] == "bayes"
    assert (efficiency["chosen"], efficiency["rejected"]) == (FAST, SLOW)
    assert efficiency["metadata"]["speedup"] > 2 and efficiency["metadata"]["clock"] == "cpu"
    json.dumps(record)  # the whole line is JSON


async def test_async_pipeline_agrees(sandbox: Sandbox, record: dict) -> None:
    result = await averify_task(sandbox, TASK, CONFIG.model_copy(update={"repeats": 0}))
    assert result.matrix == record["matrix"]
    assert result.scores == record["scores"]
    assert result.efficiency.timings == [] and [p.kind for p in result.pairs] == ["correctness"]


def test_javascript_task(sandbox: Sandbox) -> None:
    task = VerifyTask(task_id="js", language="javascript",
                      candidates=["function sq(x) { return x * x; }", "function sq(x) { return x + x; }"],
                      tests=["console.assert(sq(3) === 9);", "console.assert(sq(2) === 4);"])
    result = verify_task(sandbox, task, VerifyConfig(repeats=0))
    assert result.matrix == [["passed", "passed"], ["failed", "passed"]]
    assert result.top_candidate == 0


def test_empty_task_and_unknown_ranker(sandbox: Sandbox) -> None:
    result = verify_task(sandbox, VerifyTask(task_id="e", candidates=["x = 1"], tests=[]))
    assert result.matrix == [[]] and result.pairs == [] and result.top_candidate == 0
    with pytest.raises(ValueError, match="unknown ranker"):
        VerifyConfig(ranker="nope")
