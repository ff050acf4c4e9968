"""The Agent protocol every node-filling agent satisfies, and the errors agents raise."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from graphs.context import RunContext
from graphs.state import SynthesisState
from tools.errors import CodemillError

SLOTS: tuple[str, ...] = ("generator", "discriminator", "test_writer", "executor", "reviewer")


class AgentError(CodemillError):
    """An agent failed in a way the graph records as a failure of that stage."""


@runtime_checkable
class Agent(Protocol):
    """A graph node: declares what it reads and writes, returns a partial state update."""

    name: ClassVar[str]
    slot: ClassVar[str]
    reads: ClassVar[frozenset[str]]
    writes: ClassVar[frozenset[str]]

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]: ...


@runtime_checkable
class Generator(Agent, Protocol):
    """The generator slot also samples N candidate solutions for an accepted instance."""

    sample_writes: ClassVar[frozenset[str]]

    async def sample(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]: ...
