"""A run's synthesis settings and agent choice, layered: flags > CODEMILL_* environment > --config file >
defaults (pydantic-settings, `tools.settings`)."""

from __future__ import annotations

import argparse
from typing import Any

from graphs.app.synth_flags import parse_task_mix
from graphs.context import SynthSettings
from graphs.roster import AgentChoice
from tools.errors import ConfigError
from tools.settings import load_settings


def build_synth_settings(args: argparse.Namespace) -> tuple[SynthSettings, AgentChoice]:
    """Flags > CODEMILL_* environment > --config file > defaults, for the run and for the agent choice."""
    given = {
        "n_candidates": args.n_candidates, "n_tests": args.n_tests, "max_attempts": args.max_attempts,
        "timeout_s": args.exec_timeout, "seed": args.seed, "rejected_sample": args.rejected_sample,
        "task_mix": parse_task_mix(args.task_mix) if args.task_mix else None,
    }
    settings = load_settings(SynthSettings, config_file=args.config, **given)
    slots: dict[str, Any] = {}
    for item in args.agent:
        slot, _, name = item.partition("=")
        if not name or slot not in AgentChoice.model_fields or slot == "reviewers":
            raise ConfigError(f"--agent {item!r}: use SLOT=NAME with SLOT one of generator, discriminator, "
                              "test_writer, executor")
        slots[slot] = name
    if args.reviewer:
        slots["reviewers"] = args.reviewer
    return settings, load_settings(AgentChoice, config_file=args.config, **slots)
