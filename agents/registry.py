"""Agent discovery through the `codemill.agents` entry-point group.

The built-in agents are registered the same way as plug-ins (in this project's `pyproject.toml`), so the
plug-in path is exercised on every run. An entry point's name is the agent's name; it points at a class
whose ClassVars say its `slot`, `reads` and `writes`. Each spec says which distribution it comes from, so
every error can name the culprit.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from agents.base import SLOTS, Agent, Generator
from tools.errors import ConfigError

GROUP = "codemill.agents"


@dataclass(frozen=True)
class AgentSpec:
    """One discovered agent: what it is called, which slot it fills, its class, where it comes from."""

    name: str
    slot: str
    cls: type[Any]
    distribution: str  # "name version" of the installing distribution, or "?" when unknown
    entry_point: str  # "module:attribute"

    @property
    def origin(self) -> str:
        return f"{self.entry_point} from {self.distribution}"

    def create(self) -> Any:
        """A fresh agent instance (agents take no constructor arguments; state and context come per call),
        labelled with its distribution so the graph's errors can name it."""
        agent = self.cls()
        with suppress(AttributeError):  # __slots__ or a read-only property: the label is only a nicety
            agent.distribution = self.distribution
        return agent


def _distribution(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "?"
    return f"{dist.metadata['Name']} {dist.version}"


def load_spec(entry_point: EntryPoint) -> AgentSpec:
    """Load and check one entry point; a broken one raises `ConfigError` naming it and its distribution."""
    where = f"agent {entry_point.name!r} ({entry_point.value} from {_distribution(entry_point)})"
    try:
        cls: Any = entry_point.load()
    except Exception as error:  # a plug-in's import may fail in any way; say which plug-in it was
        raise ConfigError(f"{where} cannot be loaded: {type(error).__name__}: {error}") from error
    if not isinstance(cls, type):
        raise ConfigError(f"{where} is not a class")
    cls = cast(Any, cls)  # a class with the protocol's attributes, checked next
    missing = [attribute for attribute in ("name", "slot", "reads", "writes", "__call__")
               if not hasattr(cls, attribute)]
    if missing:
        raise ConfigError(f"{where} does not satisfy the Agent protocol: missing {', '.join(missing)}")
    if cls.name != entry_point.name:
        raise ConfigError(f"{where} declares name {cls.name!r}; the entry point must use the same name")
    if cls.slot not in SLOTS:
        raise ConfigError(f"{where} declares unknown slot {cls.slot!r}; slots are {', '.join(SLOTS)}")
    for field in ("reads", "writes"):
        if not all(isinstance(item, str) for item in getattr(cls, field)):
            raise ConfigError(f"{where}: `{field}` must be a set of state field names")
    if cls.slot == "generator" and not hasattr(cls, "sample"):
        raise ConfigError(f"{where} fills the generator slot but has no `sample` method")
    return AgentSpec(name=entry_point.name, slot=cls.slot, cls=cls, distribution=_distribution(entry_point),
                     entry_point=entry_point.value)


def discover_agents(group: str = GROUP) -> dict[str, AgentSpec]:
    """Every registered agent by name; two entry points with one name are an error naming both origins."""
    specs: dict[str, AgentSpec] = {}
    for entry_point in sorted(entry_points(group=group), key=lambda ep: (ep.name, ep.value)):
        spec = load_spec(entry_point)
        if spec.name in specs:
            raise ConfigError(f"two agents are named {spec.name!r}: {specs[spec.name].origin} and {spec.origin}")
        specs[spec.name] = spec
    return specs


def agents_for_slot(slot: str, specs: dict[str, AgentSpec] | None = None) -> list[AgentSpec]:
    """The agents that can fill `slot`, by name."""
    if slot not in SLOTS:
        raise ConfigError(f"unknown slot {slot!r}; slots are {', '.join(SLOTS)}")
    specs = discover_agents() if specs is None else specs
    return [spec for spec in specs.values() if spec.slot == slot]


def is_agent(instance: object) -> bool:
    """True if an instance satisfies the runtime-checkable protocol of its slot."""
    if getattr(instance, "slot", None) == "generator":
        return isinstance(instance, Generator)
    return isinstance(instance, Agent)
