"""`run.py chat`: an interactive terminal session with the agents — give a task in words, a seed file or
pasted code, watch the generator, test-writer, executor and discriminator live, steer them, judge, save.

Saved output (`/save`) has the same format as `synth`: sft.jsonl, dpo.jsonl, matrix.jsonl, ledger.jsonl,
pool/ and manifest.json in `--out`. With no `--base-url`, a local vLLM server is started for the session.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from graphs.app.synth_flags import add_synth_arguments
from graphs.state import TaskType
from tools.llm.cli import add_llm_arguments


def configure(parser: argparse.ArgumentParser) -> None:
    from graphs.app.chat.parser import COMMANDS

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "in the session: a task in words, a seed file path, or pasted code; or\n" + "\n".join(
        f"  {usage:<34} {text}" for usage, text in COMMANDS.values())
    parser.add_argument("--out", type=Path, default=Path("chat-out"), metavar="DIR",
                        help="where /save writes rows and where the few-shot pool lives (default ./chat-out)")
    parser.add_argument("--task", choices=[task.value for task in TaskType], default=TaskType.GENERATION.value,
                        help="task type of the first seed (change it with /task)")
    parser.add_argument("--history", type=Path, default=Path("~/.codemill/chat_history"), metavar="FILE",
                        help="prompt history file (default ~/.codemill/chat_history)")
    add_synth_arguments(parser)
    add_llm_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from graphs.app.config_groups import define_all_groups
    from graphs.app.inputs import check_output_dir, check_readable_file
    from graphs.app.model_endpoint import model_endpoint
    from graphs.app.preflight import checked_endpoints
    from graphs.app.sandbox_settings import SandboxSettings
    from graphs.app.synth_settings import build_synth_settings
    from graphs.roster import build_roster
    from tools.errors import LLMError
    from tools.llm.cli import llm_settings_from_args
    from tools.sandbox import Sandbox
    from tools.settings import load_settings

    console = Console(highlight=False)
    outdir: Path = args.out
    check_output_dir(outdir)
    if args.config is not None:
        check_readable_file(args.config, "config file")
    define_all_groups()  # every table of the config file is checked, not only those chat reads
    synth_settings, agent_choice = build_synth_settings(args)
    roster = build_roster(agent_choice)
    # Regenerating a stage must ask the model again, so the reply cache is off unless a path is given.
    cache: dict[str, Any] = {} if args.cache_path is not None else {"cache_enabled": False}
    sandbox_settings = load_settings(SandboxSettings, config_file=args.config, workers=args.workers)
    with model_endpoint(llm_settings_from_args(args, **cache), console, log_path=outdir / "vllm.log") \
            as endpoint_settings:
        try:  # drop endpoints that fail; if none answers, say so in one line: each step checks again
            llm_settings = checked_endpoints(endpoint_settings, console)
        except LLMError as error:
            console.print(f"model endpoint: {error} — the session starts; every step checks again",
                          style="bold red", markup=False)
            llm_settings = endpoint_settings
        with Sandbox(workers=sandbox_settings.workers, limits=sandbox_settings.limits(synth_settings.timeout_s)) \
                as sandbox:
            return asyncio.run(_chat(args, console, roster, synth_settings, llm_settings, sandbox, outdir))


async def _chat(args: argparse.Namespace, console: Any, roster: Any, synth_settings: Any, llm_settings: Any,
                sandbox: Any, outdir: Path) -> int:
    from graphs.app.chat.loop import ChatLoop, PlainReader, TerminalReader
    from graphs.app.chat.probe import probe_endpoints
    from graphs.app.chat.session import ChatSession
    from graphs.app.manifest import model_stamp, write_manifest
    from graphs.pool import FewShotPool
    from tools.llm import LLMClient

    async with LLMClient(llm_settings) as llm:
        session = ChatSession(roster, synth_settings, llm=llm, sandbox=sandbox, pool=FewShotPool(outdir / "pool"),
                              outdir=outdir, console=console, probe=lambda: probe_endpoints(llm_settings),
                              stamp=model_stamp(llm_settings, synth_settings))
        session.task_type = TaskType(args.task)
        reader = TerminalReader(args.history.expanduser()) if sys.stdin.isatty() else PlainReader()
        console.print(f"[bold]codemill chat[/] · model {llm_settings.model} at {', '.join(llm_settings.base_urls)} · "
                      f"saving to {outdir} · /help for commands")

        def on_save(target: Path) -> None:
            write_manifest(target, llm_settings, session.settings, seeds=len(session.finished))

        return await ChatLoop(session, reader, console, on_save=on_save).run()
