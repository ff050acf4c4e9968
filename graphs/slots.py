"""The roster: which agent fills each of the graph's slots, and the checks that it fits before anything runs."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from agents.base import SLOTS, Agent, Generator
from graphs.nodes import origin
from graphs.state import SynthesisState
from tools.errors import ConfigError

ROLE_SLOTS = SLOTS[:4]  # the roles; the last slot is the reviewers
INPUT_FIELDS = frozenset({"seed", "task_type", "target_language", "max_attempts"})
# Fields with a reducer: the only ones reviewers, which run in parallel, may write.
REDUCER_FIELDS = frozenset(name for name, info in SynthesisState.model_fields.items()
                           if any(callable(item) for item in info.metadata))


@dataclass
class Roster:
    """Which agent fills each slot, plus any reviewers that run in parallel after execution. Plug-ins are
    duck-typed: nothing checks these types when a roster is built; `validate_roster` checks the protocol."""

    generator: Generator
    discriminator: Agent
    test_writer: Agent
    executor: Agent
    reviewers: list[Agent] = field(default_factory=list)

    def agents(self) -> list[tuple[str, Agent]]:
        return [(slot, getattr(self, slot)) for slot in ROLE_SLOTS] + [("reviewer", r) for r in self.reviewers]


def sample_writes(agent: object) -> frozenset[str]:
    """What a generator's `sample` may write: its `sample_writes`, else what sampling is for."""
    return frozenset(getattr(agent, "sample_writes", None) or {"candidates", "failures"})


def validate_roster(roster: Roster) -> None:
    """Fail before running: protocol mismatches, duplicate names, reads that nothing writes."""
    state_fields = set(SynthesisState.model_fields)
    seen: dict[str, str] = {}
    written = set(INPUT_FIELDS)
    for slot, agent in roster.agents():
        name = getattr(agent, "name", None)
        label = f"agent {name or type(agent).__name__!r} ({origin(agent)})"
        if not isinstance(name, str) or not callable(agent):
            raise ConfigError(f"{label} in slot {slot!r} does not follow the Agent protocol (name, __call__)")
        for attribute in ("reads", "writes"):
            if not isinstance(getattr(agent, attribute, None), frozenset | set):
                raise ConfigError(f"{label} in slot {slot!r} lacks `{attribute}` (a set of state fields)")
        if slot == "generator" and not callable(getattr(agent, "sample", None)):
            raise ConfigError(f"{label} fills the generator slot but has no `sample` method")
        for method in ("__call__", "sample") if slot == "generator" else ("__call__",):
            function = agent if method == "__call__" and inspect.isfunction(agent) else getattr(agent, method)
            if not inspect.iscoroutinefunction(function):
                raise ConfigError(f"{label} in slot {slot!r} does not follow the Agent protocol: "
                                  f"`{method}` must be async")
        clobbered = set(agent.writes) - REDUCER_FIELDS if slot == "reviewer" else set()
        if clobbered:
            raise ConfigError(f"{label} is a reviewer but writes {', '.join(sorted(clobbered))}; reviewers run in "
                              f"parallel and may only write {', '.join(sorted(REDUCER_FIELDS))}")
        if name in seen:
            raise ConfigError(f"duplicate agent name {name!r}: {label} and {seen[name]}")
        seen[name] = label
        unknown = (set(agent.reads) | set(agent.writes)) - state_fields
        if unknown:
            raise ConfigError(f"{label} names unknown state fields: {', '.join(sorted(unknown))}")
        written |= set(agent.writes) | (sample_writes(agent) if slot == "generator" else set())
    for slot, agent in roster.agents():
        missing = set(agent.reads) - written
        if missing:
            raise ConfigError(
                f"agent {agent.name!r} ({origin(agent)}) in slot {slot!r} reads "
                f"{', '.join(sorted(missing))}, which no agent writes"
            )
