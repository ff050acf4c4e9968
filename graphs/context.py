"""Per-run context injected into every node through LangGraph's runtime context.

Settings are parsed once at the edge (`run.py` → command) and arrive here typed; clients (LLM, sandbox,
few-shot pool) are built once per run and shared by all threads. Live events (`RunContext.emit`) travel through
LangGraph's custom stream mode: whoever runs the graph with `stream_mode="custom"` receives them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from langgraph.config import get_stream_writer
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from graphs.state import Instance, TaskType, Verdict
from tools.sandbox import Sandbox
from tools.settings import CodemillSettings

T = TypeVar("T", bound=BaseModel)

DEFAULT_TASK_MIX: dict[TaskType, float] = {  # WaveCoder's CodeOcean mix
    TaskType.GENERATION: 0.57,
    TaskType.SUMMARIZATION: 0.16,
    TaskType.REPAIR: 0.16,
    TaskType.TRANSLATION: 0.11,
}


class SynthSettings(CodemillSettings):
    """Knobs of one synthesis run (every loop bound lives here); the `[synth]` table of a config file and the
    `CODEMILL_SYNTH_*` environment variables."""

    config_section = "synth"
    model_config = SettingsConfigDict(env_prefix="CODEMILL_SYNTH_")

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
    rejected_sample: float = Field(0.1, ge=0, le=1, description="share of finally rejected executable instances "
                                   "executed anyway (chosen by thread id) to measure how often the rubric "
                                   "rejects code that passes its tests; they yield no training rows")
    timeout_s: float = Field(5.0, gt=0, description="sandbox wall-clock limit per check")
    seed: int = 0
    # The batch runner's bounds.
    max_endpoint_failures: int = Field(5, ge=1, description="threads in a row left unfinished by the model's "
                                                            "endpoint before the run stops (circuit breaker)")
    max_sandbox_failures: int = Field(5, ge=1, description="threads in a row left unfinished by the sandbox "
                                                           "before the run stops")
    max_infra_runs: int = Field(3, ge=1, description="runs a thread may be left unfinished by the sandbox, or by "
                                "the endpoint refusing its request with a plain 4xx (one naming no known cause: "
                                "not the key, the model, the role order or the context length); in the last it "
                                "is recorded as failed")
    threads_per_request: float = Field(2.0, ge=1.0, le=16.0, description="threads per request slot when --threads "
                                       "is not given (threads also wait for the sandbox)")
    max_threads_per_request: float = Field(16.0, ge=1.0, le=256.0, description="without --threads, more threads "
                                           "start while the model has idle request slots, up to this many per slot")
    progress_interval_s: float = Field(10.0, gt=0, description="seconds between plain progress lines (no terminal)")


class ChatModel(Protocol):
    """What agents need from the LLM layer (`tools.llm.LLMClient` satisfies it)."""

    async def complete(
        self, messages: Sequence[dict[str, str]], *, agent: str = "default", n: int = 1, **params: Any
    ) -> list[str]: ...

    async def structured(
        self, messages: Sequence[dict[str, str]], schema: type[T], *, agent: str = "default", n: int = 1,
        **params: Any,
    ) -> list[T]: ...


class PoolExample(Protocol):
    """One judged instance handed out as a few-shot example (`graphs.pool.PoolEntry` satisfies it)."""

    instance: Instance
    verdict: Verdict


class ExamplePool(Protocol):
    """What agents need from the few-shot pool (`graphs.pool.FewShotPool` satisfies it; this module sits below
    graphs.pool, so it names the methods, not the class)."""

    def add(self, instance: Instance, verdict: Verdict) -> bool: ...

    def examples(
        self, task_type: TaskType | str, *, good: int = ..., bad: int = ..., rng_seed: int = ...
    ) -> Sequence[PoolExample]: ...


@dataclass
class Event:
    """Something worth showing live: an agent's output, a matrix, a verdict."""

    thread: str
    agent: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


def stream_event(event: Event) -> None:
    """Send `event` to LangGraph's custom stream of the graph run it happens in; outside one it goes nowhere."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not inside a graph run (an agent called directly, e.g. by a test)
        return
    writer(event)


@dataclass
class RunContext:
    """Everything a node may use besides the state."""

    settings: SynthSettings
    llm: ChatModel
    sandbox: Sandbox | None  # None where nothing executes here (a `--ray` driver: its threads run on the cluster)
    pool: ExamplePool | None  # None: no few-shot examples, no verdicts kept
    emit: Callable[[Event], None] = stream_event  # tests that call agents directly may collect events instead
