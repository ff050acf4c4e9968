"""The synthesis flags that `synth` and `chat` share, and the grammar of `--task-mix` (the model flags are
`tools.llm.cli`'s)."""

from __future__ import annotations

import argparse

from graphs.state import TaskType
from tools.errors import ConfigError


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("synthesis")
    group.add_argument("--n-candidates", type=int, metavar="N", help="candidate solutions per task (default 5)")
    group.add_argument("--n-tests", type=int, metavar="M", help="tests per task (default 5)")
    group.add_argument("--max-attempts", type=int, metavar="N", help="generator attempts per instance (default 3)")
    group.add_argument("--task-mix", metavar="TYPE=W,...",
                       help="task-type weights, e.g. generation=57,summarization=16,repair=16,translation=11")
    group.add_argument("--rejected-sample", type=float, metavar="F",
                       help="share of finally rejected executable instances executed anyway, to measure how often "
                            "the rubric rejects code that passes its tests (default 0.1; no rows come of them)")
    group.add_argument("--exec-timeout", type=float, metavar="S", help="sandbox seconds per check (default 5)")
    group.add_argument("--threads", type=int, metavar="N",
                       help="seeds in flight at once (default: enough to keep --concurrency requests in flight on "
                            "every endpoint)")
    group.add_argument("--workers", type=int, metavar="N", help="sandbox worker processes (default: all cores)")
    group.add_argument("--agent", action="append", default=[], metavar="SLOT=NAME",
                       help="fill a slot with a registered agent (see `run.py agents`); repeatable")
    group.add_argument("--reviewer", action="append", default=[], metavar="NAME",
                       help="add a registered reviewer agent after execution; repeatable")


def parse_task_mix(text: str) -> dict[TaskType, float]:
    mix: dict[TaskType, float] = {task: 0.0 for task in TaskType}
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, _, weight = part.partition("=")
        try:
            mix[TaskType(name.strip())] = float(weight)
        except ValueError as error:
            raise ConfigError(f"--task-mix: cannot read {part!r}; use e.g. generation=57,repair=16") from error
    if sum(mix.values()) <= 0:
        raise ConfigError("--task-mix: at least one task type needs a positive weight")
    return mix
