"""Choose which registered agent fills each slot (command line or config file) and build the Roster."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from agents.registry import AgentSpec, discover_agents
from graphs.slots import ROLE_SLOTS, Roster, validate_roster
from tools.errors import ConfigError
from tools.settings import CodemillSettings


class AgentChoice(CodemillSettings):
    """Agent names per slot (the `[agents]` table of a config file, `CODEMILL_AGENTS_<SLOT>`, or `--agent SLOT=NAME`
    flags)."""

    config_section = "agents"
    model_config = SettingsConfigDict(env_prefix="CODEMILL_AGENTS_")

    generator: str = "generator"
    discriminator: str = "discriminator"
    test_writer: str = "test_writer"
    executor: str = "executor"
    reviewers: list[str] = Field(default_factory=list)


def _pick(specs: dict[str, AgentSpec], name: str, slot: str) -> AgentSpec:
    spec = specs.get(name)
    if spec is None:
        fitting = sorted(s.name for s in specs.values() if s.slot == slot)
        available = ", ".join(fitting) or "none"
        raise ConfigError(f"unknown agent {name!r} for slot {slot!r}; registered for it: {available}")
    if spec.slot != slot:
        raise ConfigError(f"agent {name!r} ({spec.origin}) fills slot {spec.slot!r}, not {slot!r}")
    return spec


def build_roster(choice: AgentChoice | None = None, specs: dict[str, AgentSpec] | None = None) -> Roster:
    """Instantiate and validate the chosen agents; every problem is a ConfigError naming the agent."""
    choice = choice or AgentChoice()
    specs = discover_agents() if specs is None else specs
    roles = {slot: _pick(specs, getattr(choice, slot), slot).create() for slot in ROLE_SLOTS}
    reviewers = [_pick(specs, name, "reviewer").create() for name in choice.reviewers]
    roster = Roster(**roles, reviewers=reviewers)
    validate_roster(roster)  # fail here, before a model server is started or a seed is read
    return roster
