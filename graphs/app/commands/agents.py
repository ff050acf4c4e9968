"""`run.py agents`: the registered agents (entry-point group `codemill.agents`), their slot, the state fields
they read and write, and where they come from (distribution + entry point).

A broken plug-in does not hide the others: it is reported as one line naming the plug-in and its
distribution, the healthy agents are still listed, and the exit status is 1 so that scripts notice. Broken
means: it cannot be loaded, breaks the entry-point rules, or would fail `synth`'s roster validation in its
slot among the default agents (e.g. a sync `__call__`, or a reviewer writing a field without a reducer).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import EntryPoint, entry_points

from pydantic import BaseModel

from agents.base import SLOTS
from agents.registry import GROUP, AgentSpec, load_spec
from tools.errors import ConfigError


class AgentRow(BaseModel):
    """One healthy agent as `--json` prints it."""

    name: str
    slot: str
    reads: list[str]
    writes: list[str]
    distribution: str
    entry_point: str
    default: bool  # the agent that fills its slot when nothing else is chosen


class BrokenPlugin(BaseModel):
    """One entry point that cannot be used, and why (a single line)."""

    name: str
    entry_point: str
    distribution: str
    error: str


class Listing(BaseModel):
    agents: list[AgentRow]
    broken: list[BrokenPlugin]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the listing as JSON (for scripts)")
    parser.add_argument("--slot", choices=SLOTS, help="only the agents that fill this slot")


def _distribution(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "?"


def _row(spec: AgentSpec) -> AgentRow:
    writes = set(spec.cls.writes) | set(getattr(spec.cls, "sample_writes", ()))
    return AgentRow(name=spec.name, slot=spec.slot, reads=sorted(spec.cls.reads), writes=sorted(writes),
                    distribution=spec.distribution, entry_point=spec.entry_point,
                    default=spec.slot != "reviewer" and spec.name == spec.slot)


def roster_problems(specs: dict[str, AgentSpec]) -> dict[str, str]:
    """Each agent checked the way `synth` would check it: in its slot (or as the only reviewer) among the
    default agents. Only possible when every default is installed and healthy."""
    from graphs.slots import ROLE_SLOTS, Roster, validate_roster

    if any(slot not in specs for slot in ROLE_SLOTS):
        return {}
    problems: dict[str, str] = {}
    for spec in specs.values():
        try:
            roles = {slot: specs[slot].create() for slot in ROLE_SLOTS}
            if spec.slot == "reviewer":
                roster = Roster(**roles, reviewers=[spec.create()])
            else:
                roster = Roster(**{**roles, spec.slot: spec.create()})
            validate_roster(roster)
        except ConfigError as error:
            problems[spec.name] = str(error)
        except Exception as error:  # a plug-in's constructor may fail in any way; report, don't crash
            problems[spec.name] = f"agent {spec.name!r} ({spec.origin}) cannot be created: " \
                                  f"{type(error).__name__}: {error}"
    return problems


def collect(group: str = GROUP) -> Listing:
    """Load every entry point of `group` one by one, so that one broken plug-in costs only itself."""
    specs: dict[str, AgentSpec] = {}
    broken: list[BrokenPlugin] = []
    for entry_point in sorted(entry_points(group=group), key=lambda ep: (ep.name, ep.value)):
        distribution = _distribution(entry_point)
        try:
            spec = load_spec(entry_point)
        except ConfigError as error:
            message = " ".join(str(error).split())  # one line, whatever the plug-in's exception looked like
            broken.append(BrokenPlugin(name=entry_point.name, entry_point=entry_point.value,
                                       distribution=distribution, error=message))
            continue
        if spec.name in specs:
            broken.append(BrokenPlugin(
                name=spec.name, entry_point=spec.entry_point, distribution=distribution,
                error=f"two agents are named {spec.name!r}: {specs[spec.name].origin} and {spec.origin}"))
            continue
        specs[spec.name] = spec
    for name, problem in roster_problems(specs).items():
        spec = specs.pop(name)
        broken.append(BrokenPlugin(name=name, entry_point=spec.entry_point, distribution=spec.distribution,
                                   error=problem))
    order = {slot: index for index, slot in enumerate(SLOTS)}
    agents = sorted((_row(spec) for spec in specs.values()),
                    key=lambda row: (order[row.slot], not row.default, row.name))
    return Listing(agents=agents, broken=broken)


def _print_table(listing: Listing) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="codemill agents", title_justify="left")
    for column in ("name", "slot", "reads", "writes"):
        table.add_column(column, no_wrap=True)
    table.add_column("from", overflow="fold")  # distribution, then entry point
    for row in listing.agents:  # one field per line: narrow terminals keep the names whole
        name = f"{row.name}\n[dim](default)[/dim]" if row.default else row.name
        table.add_row(name, row.slot, "\n".join(row.reads) or "-", "\n".join(row.writes) or "-",
                      f"{row.distribution}\n[dim]{row.entry_point}[/dim]", end_section=True)
    console = Console()
    if not console.is_terminal:  # piped: rich would assume 80 columns and fold the names
        console = Console(width=120)
    console.print(table)
    if not listing.agents:
        print("no agents registered")


def run(args: argparse.Namespace) -> int:
    listing = collect()
    if args.slot:
        listing = Listing(agents=[row for row in listing.agents if row.slot == args.slot], broken=listing.broken)
    if args.json:
        print(listing.model_dump_json(indent=2))
    else:
        _print_table(listing)
    for plugin in listing.broken:
        print(f"broken plug-in: {plugin.error}", file=sys.stderr)
    return 1 if listing.broken else 0
