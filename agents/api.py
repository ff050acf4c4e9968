"""The public module for plug-in authors: everything an agent needs, in one import that stays stable.

    from agents.api import Agent, Review, RunContext, SynthesisState

An agent is a class with `name`, `slot` (one of `SLOTS`), `reads` and `writes` (sets of `SynthesisState`
fields) and an async `__call__(state, ctx)` returning a partial update; a generator also has an async
`sample`. Register it under the `codemill.agents` entry point (README "Write your own agent").
"""

from __future__ import annotations

from agents.base import SLOTS, Agent, AgentError, Generator
from graphs.context import Event, RunContext, SynthSettings
from graphs.state import (
    EXECUTABLE_TASKS,
    ExecutionChecks,
    Failure,
    Instance,
    Review,
    RubricCheck,
    SeedInput,
    SynthesisState,
    TaskType,
    Verdict,
    thread_id,
)
from tools.verification.efficiency import Efficiency, Timing
from tools.verification.pairs import PreferencePair
from tools.verification.task import VerifyResult

__all__ = [
    "EXECUTABLE_TASKS", "SLOTS", "Agent", "AgentError", "Efficiency", "Event", "ExecutionChecks", "Failure",
    "Generator", "Instance", "PreferencePair", "Review", "RubricCheck", "RunContext", "SeedInput", "SynthSettings",
    "SynthesisState", "TaskType", "Timing", "Verdict", "VerifyResult", "thread_id",
]
