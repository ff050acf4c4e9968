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

from graphs.state import TaskType
from tools.commands.synth_support import add_synth_arguments
from tools.llm.cli import add_llm_arguments


def configure(parser: argparse.ArgumentParser) -> None:
    from tools.chat.parser import COMMANDS

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

    from graphs.roster import build_roster
    from tools.commands.synth_support import build_synth_settings, model_endpoint
    from tools.llm.cli import llm_settings_from_args
    from tools.sandbox import Limits, Sandbox

    console = Console(highlight=False)
    outdir: Path = args.out
    synth_settings, agent_choice = build_synth_settings(args)
    roster = build_roster(agent_choice)
    # Regenerating a stage must ask the model again, so the reply cache is off unless a path is given.
    cache: dict[str, Any] = {} if args.cache_path is not None else {"cache_enabled": False}
    with (model_endpoint(llm_settings_from_args(args, **cache), console) as llm_settings,
          Sandbox(workers=args.workers, limits=Limits(timeout_s=synth_settings.timeout_s)) as sandbox):
        return asyncio.run(_chat(args, console, roster, synth_settings, llm_settings, sandbox, outdir))


async def _chat(args: argparse.Namespace, console: Any, roster: Any, synth_settings: Any, llm_settings: Any,
                sandbox: Any, outdir: Path) -> int:
    from tools.chat.loop import ChatLoop, PlainReader, TerminalReader
    from tools.chat.probe import probe_endpoints
    from tools.chat.session import ChatSession
    from tools.commands.synth_support import write_manifest
    from tools.llm import LLMClient
    from tools.pool import FewShotPool

    async with LLMClient(llm_settings) as llm:
        session = ChatSession(roster, synth_settings, llm=llm, sandbox=sandbox, pool=FewShotPool(outdir / "pool"),
                              outdir=outdir, console=console, probe=lambda: probe_endpoints(llm_settings))
        session.task_type = TaskType(args.task)
        reader = TerminalReader(args.history.expanduser()) if sys.stdin.isatty() else PlainReader()
        console.print(f"[bold]codemill chat[/] · model {llm_settings.model} at {', '.join(llm_settings.base_urls)} · "
                      f"saving to {outdir} · /help for commands")

        def on_save(target: Path) -> None:
            write_manifest(target, llm_settings, session.settings, seeds=len(session.finished))

        return await ChatLoop(session, reader, console, on_save=on_save).run()
