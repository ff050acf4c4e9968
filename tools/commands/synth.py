"""`run.py synth SEEDS.jsonl|DIR --out OUTDIR`: run the agent graph over seeds, in batch, resumably.

Writes sft.jsonl, dpo.jsonl, matrix.jsonl, ledger.jsonl, pool/, manifest.json and report.html into OUTDIR.
With no `--base-url`, a local vLLM server is started for the run and stopped after it.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console

from graphs.batch import BatchRunner, BatchStats
from graphs.context import RunContext, SynthSettings
from graphs.roster import build_roster
from graphs.synthesis import Roster
from tools.commands.synth_support import (
    add_synth_arguments,
    build_synth_settings,
    live_progress,
    load_or_prepare_seeds,
    model_endpoint,
    write_manifest,
)
from tools.llm import LLMClient, LLMSettings
from tools.llm.cli import add_llm_arguments, llm_settings_from_args
from tools.pool import FewShotPool
from tools.sandbox import Limits, Sandbox
from tools.synth_report import write_synth_report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="SEEDS",
                        help="seeds JSONL written by `run.py seeds`, or source files/directories (seeded first)")
    parser.add_argument("--out", required=True, type=Path, metavar="OUTDIR", help="output directory")
    parser.add_argument("--limit", type=int, metavar="N", help="process at most N seeds")
    parser.add_argument("--resume", action="store_true",
                        help="continue a run in OUTDIR (re-running on the same OUTDIR does the same)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    add_synth_arguments(parser)
    add_llm_arguments(parser)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    outdir: Path = args.out
    outdir.mkdir(parents=True, exist_ok=True)
    synth_settings, agent_choice = build_synth_settings(args)
    roster = build_roster(agent_choice)  # validate plug-ins before starting anything expensive
    seeds = load_or_prepare_seeds(args.inputs, outdir, console)
    if args.limit is not None:
        seeds = seeds[: args.limit]
    cache = {} if args.cache_path is not None else {"cache_path": outdir / "llm-cache.sqlite"}
    with model_endpoint(llm_settings_from_args(args, **cache), console) as llm_settings:
        write_manifest(outdir, llm_settings, synth_settings, seeds=len(seeds))
        with Sandbox(workers=args.workers, limits=Limits(timeout_s=synth_settings.timeout_s)) as sandbox:
            stats, usage = asyncio.run(
                run_batch(roster, synth_settings, llm_settings, sandbox, seeds, outdir, args.threads, console)
            )
        write_manifest(outdir, llm_settings, synth_settings, seeds=len(seeds), stats=stats, usage=usage)
    if not args.no_report:
        console.print(f"report: {write_synth_report(outdir)}")
    rows = stats.rows
    console.print(f"wrote {rows.get('sft', 0)} SFT rows, {rows.get('dpo', 0)} preference pairs, "
                  f"{rows.get('matrix', 0)} matrices to {outdir} ({stats.skipped} threads already done)")
    return 0


async def run_batch(
    roster: Roster, synth_settings: SynthSettings, llm_settings: LLMSettings, sandbox: Sandbox,
    seeds: list[Any], outdir: Path, threads: int, console: Console,
) -> tuple[BatchStats, dict[str, Any]]:
    """The batch itself, with live progress; returns the stats and the per-agent usage."""
    async with LLMClient(llm_settings) as llm:
        ctx = RunContext(settings=synth_settings, llm=llm, sandbox=sandbox, pool=FewShotPool(outdir / "pool"))
        runner = BatchRunner(roster, ctx, outdir, concurrency=threads)
        with live_progress(console, runner, total=len(seeds), usage=llm.usage) as on_thread:
            runner.on_thread = on_thread
            try:
                stats = await runner.run(seeds)
            finally:
                console.print(llm.usage())
        return stats, llm.usage().model_dump(mode="json")
