"""THE graph state: one model that every node reads and partially updates.

The graph owns this contract; agents consume it. Fields that several nodes may write in the same step
(reviews, failures, usage events) carry reducers so parallel branches merge instead of clobbering.
"""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from tools.verification.task import VerifyResult


class TaskType(StrEnum):
    """WaveCoder's four task types."""

    GENERATION = "generation"
    SUMMARIZATION = "summarization"
    REPAIR = "repair"
    TRANSLATION = "translation"


EXECUTABLE_TASKS = frozenset({TaskType.GENERATION, TaskType.REPAIR, TaskType.TRANSLATION})


def thread_id(seed_id: str, task_type: TaskType | str) -> str:
    """One thread per (seed, task type), stable across runs: its checkpoint key, the name its events carry and
    the source of its rows' ids."""
    return f"{seed_id}:{TaskType(task_type).value}"


class SeedInput(BaseModel):
    """The seed a thread works on (a subset of `tools.seeds.Seed`, so any seed line fits)."""

    id: str
    code: str
    language: str = "python"
    path: str | None = None
    lines: tuple[int, int] | list[int] | None = None
    repo: str | None = None
    license: str | None = None


class Instance(BaseModel):
    """One instruction instance in WaveCoder's keys, plus what execution checks need."""

    task_type: TaskType
    task_name: str = Field(max_length=200)
    instruction: str
    input: str = ""  # WaveCoder's "information": code or data the instruction refers to
    output: str  # WaveCoder's "solution": code for executable tasks, prose for summaries
    language: str = "python"  # language of `output`
    entry_point: str = ""  # function the tests call (executable tasks)
    buggy_code: str = ""  # repair: the code with the injected bug (also shown in `input`)
    source_language: str = ""  # translation: language of `input`


class RubricCheck(BaseModel):
    """One rubric question answered yes/no with a reason."""

    name: str
    passed: bool
    reason: str = ""


class Verdict(BaseModel):
    """The discriminator's (or a human's) judgement of an instance."""

    checks: list[RubricCheck] = Field(default_factory=list)
    accepted: bool
    analysis: str = ""
    source: Literal["model", "human"] = "model"

    @property
    def reasons(self) -> list[str]:
        return [f"{check.name}: {check.reason}" for check in self.checks if not check.passed]


class Review(BaseModel):
    """What a plug-in reviewer (security, style, complexity, …) says after execution."""

    reviewer: str
    score: float | None = None
    passed: bool | None = None
    notes: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class Failure(BaseModel):
    """A recorded failure: the run goes on, the row says what went wrong and where."""

    stage: str
    agent: str
    message: str
    error_type: str = ""  # e.g. "LLMError": the batch runner retries infrastructure failures on resume


class ExecutionChecks(BaseModel):
    """Executable checks beyond WaveCoder (repair and translation), with their evidence."""

    reference_passes: int = 0  # tests the instance's own solution passes
    tests_total: int = 0
    buggy_fails: int | None = None  # repair: tests that fail on the buggy code
    ok: bool = False
    detail: str = ""


class SynthesisState(BaseModel):
    """State of one thread: one seed and one task type, from generation to records."""

    seed: SeedInput
    task_type: TaskType
    target_language: str = ""  # translation target; empty for the other task types
    attempt: int = 0  # generator attempts made so far
    max_attempts: int = 3
    feedback: list[str] = Field(default_factory=list)  # discriminator reasons for the next attempt
    instance: Instance | None = None
    verdict: Verdict | None = None
    candidates: list[str] = Field(default_factory=list)
    tests: list[str] = Field(default_factory=list)
    verification: VerifyResult | None = None  # the executor's pass matrix, scores, timing and pairs
    checks: ExecutionChecks | None = None
    verdicts: Annotated[list[Verdict], operator.add] = Field(default_factory=list)  # every verdict, in order
    reviews: Annotated[list[Review], operator.add] = Field(default_factory=list)
    # A rejected executable instance executed only to measure the rubric against execution
    # (`SynthSettings.rejected_sample`): it yields a marked matrix row and no SFT or DPO rows.
    rejected_sample: bool = False
    failures: Annotated[list[Failure], operator.add] = Field(default_factory=list)
    status: Literal["running", "accepted", "rejected", "failed"] = "running"

    @property
    def thread_id(self) -> str:
        return thread_id(self.seed.id, self.task_type)
