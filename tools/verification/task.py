"""The whole per-task pipeline: pass matrix → every ranking → efficiency timing → preference pairs.

`verify_task` (blocking) and `averify_task` (async) share the pure steps; only the two sandbox calls
differ. The result's `to_record()` is the `verify` command's output line contract.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator

from tools.sandbox.models import Check, CheckResult, Limits, Status
from tools.verification.efficiency import Clock, Efficiency, summarise, timing_checks
from tools.verification.pairs import PreferencePair, correctness_pairs, efficiency_pairs
from tools.verification.rankers import DEFAULT_PAIR_RANKER, RANKERS, rank_all


class VerifyTask(BaseModel):
    """One input line of `verify`: candidates to check against tests."""

    task_id: str
    prompt: str = ""
    language: Literal["python", "javascript"] = "python"
    candidates: list[str]
    tests: list[str]

    @field_validator("task_id", mode="before")
    @classmethod
    def _task_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class VerifyConfig(BaseModel):
    """Every knob of the pipeline; defaults are what `verify` uses."""

    ranker: str = DEFAULT_PAIR_RANKER  # which ranker's scores drive pairs and trusted tests
    repeats: int = Field(3, ge=0, description="timing runs per candidate; 0 disables efficiency")
    min_speedup: float = Field(1.3, ge=1.0, description="slow/fast median ratio before 'faster' counts")
    min_time_gap_s: float = Field(1e-4, ge=0, description="and at least this absolute difference")
    clock: Clock = "cpu"  # what a timing run measures: child CPU time, or in-child wall time ("exec")
    min_score_gap: float = Field(0.5, ge=0, le=1, description="score gap for a correctness pair")
    max_correctness_pairs: int = Field(1, ge=0)
    max_efficiency_pairs: int = Field(1, ge=0)
    limits: Limits | None = None  # None: the sandbox's defaults

    @field_validator("ranker")
    @classmethod
    def _known_ranker(cls, value: str) -> str:
        if value not in RANKERS:
            raise ValueError(f"unknown ranker {value!r}; choose from {', '.join(RANKERS)}")
        return value


class VerifyResult(BaseModel):
    """Everything learned about one task; `to_record()` is one `verify` output line."""

    task_id: str
    prompt: str
    language: str
    candidates: list[str]
    tests: list[str]
    matrix: list[list[str]]  # per candidate, one status per test
    exec_s: list[list[float]]  # per cell, in-child execution time
    errors: list[list[str | None]]  # per cell, exception type or signal where there was one
    scores: dict[str, list[float]]  # ranker → one score per candidate, higher is better
    test_scores: dict[str, list[float]]
    ranker: str
    top_candidate: int | None
    efficiency: Efficiency
    pairs: list[PreferencePair]
    timing_s: dict[str, float]  # wall time of each stage

    def to_record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def passed(self) -> np.ndarray:
        return np.array([[s == Status.PASSED for s in row] for row in self.matrix], dtype=bool).reshape(
            len(self.candidates), len(self.tests))


def matrix_checks(task: VerifyTask, limits: Limits | None) -> list[Check]:
    """Row-major: candidate i against test j is check i·M + j."""
    return [Check(code=code, test=test, language=task.language, limits=limits)
            for code in task.candidates for test in task.tests]


def _score(task: VerifyTask, cells: list[CheckResult], config: VerifyConfig, matrix_s: float) -> VerifyResult:
    n, m = len(task.candidates), len(task.tests)
    rows = [cells[i * m:(i + 1) * m] for i in range(n)]
    passed = np.array([[c.status is Status.PASSED for c in row] for row in rows], dtype=bool).reshape(n, m)
    rankings = rank_all(passed)
    scores = rankings[config.ranker].code_scores
    top = max(range(n), key=lambda i: (scores[i], -i)) if n else None
    return VerifyResult(
        task_id=task.task_id, prompt=task.prompt, language=task.language, candidates=task.candidates,
        tests=task.tests, matrix=[[c.status.value for c in row] for row in rows],
        exec_s=[[round(c.exec_s, 6) for c in row] for row in rows],
        errors=[[c.error_type for c in row] for row in rows],
        scores={name: r.code_scores for name, r in rankings.items()},
        test_scores={name: r.test_scores for name, r in rankings.items()},
        ranker=config.ranker, top_candidate=top, efficiency=Efficiency(), pairs=[],
        timing_s={"matrix": round(matrix_s, 4)},
    )


def _timing_plan(result: VerifyResult, config: VerifyConfig) -> tuple[list[int], list[int], str]:
    """Trusted tests (passed by the top candidate), candidates passing all of them, the joined test."""
    if result.top_candidate is None or config.repeats == 0:
        return [], [], ""
    passed = result.passed
    trusted = [int(j) for j in np.flatnonzero(passed[result.top_candidate])]
    if not trusted:
        return [], [], ""
    timed = [int(i) for i in np.flatnonzero(passed[:, trusted].all(axis=1))]
    joined = "\n\n".join(result.tests[j] for j in trusted)
    return trusted, timed, joined


def _finish(result: VerifyResult, trusted: list[int], timed: list[int], runs: list[CheckResult],
            config: VerifyConfig, timing_s: float) -> VerifyResult:
    if timed:
        result.efficiency = summarise(len(result.candidates), timed, runs, config.repeats, trusted,
                                      config.min_speedup, config.clock)
        result.timing_s["efficiency"] = round(timing_s, 4)
    scores = result.scores[config.ranker]
    result.pairs = correctness_pairs(result.prompt, result.candidates, scores, config.ranker,
                                     config.min_score_gap, config.max_correctness_pairs)
    result.pairs += efficiency_pairs(result.prompt, result.candidates, result.efficiency,
                                     config.min_time_gap_s, config.max_efficiency_pairs)
    return result


def verify_task(sandbox: Any, task: VerifyTask, config: VerifyConfig | None = None) -> VerifyResult:
    """Run the matrix, score it with every ranker, time the trusted-correct candidates, build pairs."""
    config = config or VerifyConfig()
    start = time.perf_counter()
    cells = sandbox.run(matrix_checks(task, config.limits)) if task.candidates and task.tests else []
    result = _score(task, cells, config, time.perf_counter() - start)
    trusted, timed, joined = _timing_plan(result, config)
    start = time.perf_counter()
    runs = sandbox.run(timing_checks(task.candidates, timed, joined, task.language, config.repeats,
                                     config.limits)) if timed else []
    return _finish(result, trusted, timed, runs, config, time.perf_counter() - start)


async def averify_task(sandbox: Any, task: VerifyTask, config: VerifyConfig | None = None) -> VerifyResult:
    """`verify_task` for an event loop: the sandbox work is awaited, not blocked on."""
    config = config or VerifyConfig()
    start = time.perf_counter()
    cells = await sandbox.arun(matrix_checks(task, config.limits)) if task.candidates and task.tests else []
    result = _score(task, cells, config, time.perf_counter() - start)
    trusted, timed, joined = _timing_plan(result, config)
    start = time.perf_counter()
    runs = await sandbox.arun(timing_checks(task.candidates, timed, joined, task.language, config.repeats,
                                            config.limits)) if timed else []
    return _finish(result, trusted, timed, runs, config, time.perf_counter() - start)
