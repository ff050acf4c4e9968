"""Per-run context injected into every node through LangGraph's runtime context.

Settings are parsed once at the edge (`run.py` → command) and arrive here typed; clients (LLM, sandbox,
few-shot pool) are built once per run and shared by all threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field

from graphs.state import TaskType
from tools.settings import CodemillSettings

T = TypeVar("T", bound=BaseModel)

DEFAULT_TASK_MIX: dict[TaskType, float] = {  # WaveCoder's CodeOcean mix
    TaskType.GENERATION: 0.57,
    TaskType.SUMMARIZATION: 0.16,
    TaskType.REPAIR: 0.16,
    TaskType.TRANSLATION: 0.11,
}


class SynthSettings(CodemillSettings):
    """Knobs of one synthesis run (every loop bound lives here); the `[synth]` table of a config file."""

    config_section = "synth"

    task_mix: dict[TaskType, float] = Field(default_factory=lambda: dict(DEFAULT_TASK_MIX))
    n_candidates: int = Field(5, ge=1, le=64)
    n_tests: int = Field(5, ge=1, le=64)
    max_attempts: int = Field(3, ge=1, le=10, description="generator attempts per instance")
    max_reasks: int = Field(2, ge=0, le=5, description="re-asks after an invalid model output")
    few_shot_good: int = Field(2, ge=0, le=8)
    few_shot_bad: int = Field(1, ge=0, le=8)
    temperature: float = Field(0.7, ge=0, le=2)
    sample_temperature: float = Field(0.8, ge=0, le=2, description="temperature for candidate sampling")
    test_temperature: float = Field(0.6, ge=0, le=2)
    translation_targets: dict[str, str] = Field(
        default_factory=lambda: {"python": "javascript", "javascript": "python"}
    )
    timeout_s: float = Field(5.0, gt=0, description="sandbox wall-clock limit per check")
    seed: int = 0


class ChatModel(Protocol):
    """What agents need from the LLM layer (`tools.llm.LLMClient` satisfies it)."""

    async def complete(
        self, messages: Sequence[dict[str, str]], *, agent: str = "default", n: int = 1, **params: Any
    ) -> list[str]: ...

    async def structured(
        self, messages: Sequence[dict[str, str]], schema: type[T], *, agent: str = "default", n: int = 1,
        **params: Any,
    ) -> list[T]: ...


@dataclass
class Event:
    """Something worth showing live: an agent's output, a matrix, a verdict."""

    thread: str
    agent: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


def _ignore(_: Event) -> None:
    return None


@dataclass
class RunContext:
    """Everything a node may use besides the state."""

    settings: SynthSettings
    llm: ChatModel
    sandbox: Any  # tools.sandbox.Sandbox (kept loose so tests may pass a stand-in)
    pool: Any  # tools.pool.FewShotPool
    emit: Callable[[Event], None] = _ignore
