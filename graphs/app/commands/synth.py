"""`run.py synth SEEDS.jsonl|DIR --out OUTDIR`: run the agent graph over seeds, in batch, resumably.

Writes sft.jsonl, dpo.jsonl, matrix.jsonl, ledger.jsonl, pool/, manifest.json, run.log and report.html into
OUTDIR. With no `--base-url`, a local vLLM server is started for the run and stopped after it.

Before any work: inputs and `--out` of the wrong kind are one line and nothing is written; the OUTDIR lock is taken
(a second run on the same OUTDIR stops at once, before any model server starts); every endpoint is checked
(`tools.llm.preflight`), and one that fails is dropped, with a warning kept in run.log, while another answers.
The exit status is 0 when the run went to the end, whatever the model's outcomes; non-zero when it stopped early
(the circuit breaker, a full disk, an interrupt: 130 for Ctrl-C, 143 for SIGTERM, both handled alike; outside the
batch, run.py turns SIGTERM into the same interrupt as Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import math
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from graphs.app.inputs import check_output_dir, check_readable_file, check_seed_inputs
from graphs.app.manifest import Manifest, model_stamp
from graphs.app.model_endpoint import model_endpoint
from graphs.app.preflight import checked_endpoints
from graphs.app.progress import live_progress
from graphs.app.ray_synth import add_ray_arguments, ray_cluster
from graphs.app.reports.synth import write_synth_report
from graphs.app.run_log import RunLog
from graphs.app.sandbox_settings import SandboxSettings
from graphs.app.seed_input import load_or_prepare_seeds
from graphs.app.synth_flags import add_synth_arguments
from graphs.app.synth_settings import build_synth_settings
from graphs.batch import BatchRunner, BatchStats
from graphs.cluster import RayCluster
from graphs.context import RunContext, SynthSettings
from graphs.error_policy import DiskFull, disk_full, disk_full_message
from graphs.outcomes import summarize
from graphs.outdir_lock import OutdirLock
from graphs.pool import FewShotPool
from graphs.records import OUTPUT_FILES
from graphs.roster import build_roster
from graphs.scheduler import BoundedScheduler, threads_for
from graphs.slots import Roster
from graphs.writer import cut_torn_tails
from tools.errors import CodemillError, ConfigError
from tools.llm import LLMClient, LLMSettings
from tools.llm.cli import add_llm_arguments, llm_settings_from_args
from tools.rows import read_jsonl
from tools.sandbox import Sandbox
from tools.settings import load_settings

RESUME = "re-run the same command to resume"
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
GC_THRESHOLD = 50_000  # allocations between young-generation collections during a batch (CPython's default: 700)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="SEEDS",
                        help="seeds JSONL written by `run.py seeds`, or source files/directories (seeded first)")
    parser.add_argument("--out", required=True, type=Path, metavar="OUTDIR", help="output directory")
    parser.add_argument("--limit", type=int, metavar="N", help="process at most N seeds")
    parser.add_argument("--resume", action="store_true",
                        help="continue a run in OUTDIR (re-running on the same OUTDIR does the same)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="also re-run threads that finished as failed (their rows are superseded)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    add_synth_arguments(parser)
    add_ray_arguments(parser)
    add_llm_arguments(parser)


@dataclass
class BatchEnd:
    """How the batch part of a run ended."""

    stats: BatchStats
    usage: dict[str, Any] = field(default_factory=dict)
    error: CodemillError | None = None  # stopped early by the breaker, a full disk, a ConfigError
    signal: int | None = None  # stopped by Ctrl-C or SIGTERM

    @property
    def stopped(self) -> str | None:
        if self.signal is not None:
            return f"interrupted by {signal.Signals(self.signal).name}"
        return str(self.error) if self.error is not None else None


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    outdir: Path = args.out
    check_seed_inputs(args.inputs)  # wrong kinds of input and output: one line, before anything is written
    check_output_dir(outdir)
    if args.config is not None:
        check_readable_file(args.config, "config file")
    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit must be 0 or more, not {args.limit}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be 1 or more, not {args.threads}")
    synth_settings, agent_choice = build_synth_settings(args)
    sandbox_settings = load_settings(SandboxSettings, config_file=args.config, workers=args.workers)
    roster = build_roster(agent_choice)  # validate plug-ins before starting anything expensive
    cache = {} if args.cache_path is not None else {"cache_path": outdir / "llm-cache.sqlite"}
    try:
        # The lock first: a second run on this OUTDIR stops with one line before a model server starts.
        with _outdir_locked(outdir), model_endpoint(llm_settings_from_args(args, **cache), console,
                                                     log_path=outdir / "vllm.log") as endpoint_settings:
            # Nothing is recorded when no endpoint answers; the endpoints dropped are said once the log is open.
            dropped: list[str] = []
            llm_settings = checked_endpoints(endpoint_settings, console, "nothing was recorded; once the endpoint "
                                             "answers, re-run to resume", warn=dropped.append)
            with RunLog(outdir) as log, log.library_warnings(console):
                log.write(f"start: {' '.join(sys.argv)}")
                for warning in dropped:
                    log.say(console, f"warning: {warning}", style="yellow")
                try:
                    return _locked_run(args, console, log, roster, synth_settings, sandbox_settings, llm_settings)
                except KeyboardInterrupt:  # outside the batch (which ends itself): run.py says it on the console
                    log.write(f"interrupted; {RESUME}")
                    raise
    except DiskFull:
        cut_torn_tails(outdir)
        raise
    except OSError as error:
        if disk_full(error):
            cut_torn_tails(outdir)
            raise DiskFull(disk_full_message(error)) from error
        raise


@contextlib.contextmanager
def _outdir_locked(outdir: Path) -> Iterator[None]:
    """The OUTDIR lock for the whole run; the directories it had to create are removed again when the run wrote
    nothing into them (a preflight that fails records nothing)."""
    created = list(itertools.takewhile(lambda path: not path.exists(), (outdir, *outdir.parents)))
    try:
        with OutdirLock(outdir):
            yield
    finally:
        for directory in created:  # innermost first; rmdir leaves any directory that is not empty
            with contextlib.suppress(OSError):
                directory.rmdir()


def _locked_run(args: argparse.Namespace, console: Console, log: RunLog, roster: Roster, synth: SynthSettings,
                sandbox_settings: SandboxSettings, llm_settings: LLMSettings) -> int:
    outdir: Path = args.out
    seeds = load_or_prepare_seeds(args.inputs, outdir, console)
    if args.limit is not None:
        seeds = seeds[: args.limit]
    manifest = Manifest(outdir)
    warning = manifest.begin_run(llm_settings, synth, seeds=len(seeds), command=sys.argv)
    if warning:
        log.say(console, f"warning: {warning}", style="yellow")
    log.write(f"model {llm_settings.model} at {', '.join(llm_settings.base_urls)}; {len(seeds)} seeds; "
              f"{llm_settings.concurrency} requests in flight per endpoint; threads: "
              f"{args.threads or 'sized from --concurrency'}")
    with contextlib.ExitStack() as stack:  # with --ray, the threads (and their sandboxes) run on the cluster
        cluster = stack.enter_context(ray_cluster(args, synth, llm_settings, sandbox_settings, manifest, console,
                                                  log)) if args.ray is not None else None
        sandbox = None if cluster is not None else stack.enter_context(
            Sandbox(workers=sandbox_settings.workers, limits=sandbox_settings.limits(synth.timeout_s)))
        end = asyncio.run(run_batch(args, roster, synth, llm_settings, sandbox, seeds, console, log, cluster))
    if isinstance(end.error, DiskFull):
        with contextlib.suppress(OSError):
            manifest.end_run(stats=end.stats, usage=end.usage, stopped=end.stopped)
        raise end.error
    manifest.end_run(stats=end.stats, usage=end.usage, stopped=end.stopped)
    if not args.no_report and end.stopped is None:
        console.print(f"report: {write_synth_report(outdir)}")
    _summary(console, log, outdir, end)
    if end.signal is not None:
        log.say(console, f"{end.stopped}: {end.stats.finished} threads finished in this run; rows written are kept; "
                         f"{RESUME}", style="bold yellow")
        return SIGNAL_EXIT.get(signal.Signals(end.signal), 1)
    if end.error is not None:
        log.write(f"error: {end.error}")
        raise end.error
    log.write("finished")
    return 0


def _summary(console: Console, log: RunLog, outdir: Path, end: BatchEnd) -> None:
    """What the run wrote and, when fewer than half of the threads produced a row, why."""
    rows, stats = end.stats.rows, end.stats
    log.say(console, f"wrote {rows.get('sft', 0)} SFT rows, {rows.get('dpo', 0)} preference pairs, "
                     f"{rows.get('matrix', 0)} matrices to {outdir} ({stats.skipped} threads already done)")
    outcome = summarize(read_jsonl(outdir / OUTPUT_FILES["ledger"]))
    if outcome.threads:
        log.say(console, outcome.headline if not outcome.low_yield else
                f"only {outcome.with_rows} of {outcome.threads} threads produced a row ({outcome.share:.0%}); "
                "top reasons:", style="bold yellow" if outcome.low_yield else None)
        if outcome.low_yield:
            for reason in outcome.top_reasons:
                example = f" — e.g. {reason.example[:160]}" if reason.example else ""
                log.say(console, f"  {reason.count} × {reason.reason}{example}")
    unfinished = sum(stats.unfinished.values())
    if unfinished:
        causes = ", ".join(f"{cause} {count}" for cause, count in stats.unfinished.items())
        log.say(console, f"{unfinished} threads left unfinished ({causes}): the next run retries them")


def scheduler_for(threads: int | None, llm_settings: LLMSettings, synth: SynthSettings,
                  in_flight: Callable[[], int]) -> BoundedScheduler:
    """`--threads N` threads; without it, enough to keep `--concurrency` requests in flight on every endpoint,
    and more while the model has idle slots (threads waiting for the sandbox hold no request)."""
    if threads:
        return BoundedScheduler(threads)
    slots = llm_settings.concurrency * max(len(llm_settings.base_urls), 1)
    return BoundedScheduler(threads_for(llm_settings.concurrency, len(llm_settings.base_urls),
                                        synth.threads_per_request),
                            grow_while=lambda: in_flight() < slots,
                            max_concurrency=math.ceil(slots * synth.max_threads_per_request))


async def run_batch(args: argparse.Namespace, roster: Roster, synth: SynthSettings, llm_settings: LLMSettings,
                    sandbox: Sandbox | None, seeds: list[Any], console: Console, log: RunLog,
                    cluster: RayCluster | None = None) -> BatchEnd:
    """The batch itself, with live progress; Ctrl-C and SIGTERM stop it cleanly (a second one stops at once)."""
    outdir: Path = args.out
    async with LLMClient(llm_settings) as llm:
        ctx = RunContext(settings=synth, llm=llm, sandbox=sandbox, pool=FewShotPool(outdir / "pool"))
        scheduler: Any = scheduler_for(args.threads, llm_settings, synth, lambda: llm.in_flight)
        usage, in_flight = llm.usage, lambda: llm.in_flight
        if cluster is not None:
            scheduler = cluster.scheduler
            usage, in_flight = cluster.scheduler.usage, lambda: cluster.scheduler.in_flight
        runner = BatchRunner(roster, ctx, outdir, scheduler=scheduler, retry_failed=args.retry_failed,
                             stamp=model_stamp(llm_settings, synth))
        end = BatchEnd(stats=runner.stats)
        with _stopped_by_signals(end), _fewer_gc_pauses():
            try:
                async with live_progress(console, runner.stats, total=len(seeds), usage=usage,
                                         in_flight=in_flight, log=log,
                                         interval_s=synth.progress_interval_s):
                    await runner.run(seeds)
            except asyncio.CancelledError:
                if end.signal is None:
                    raise
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
            except CodemillError as error:
                end.error = error
        end.usage = usage().model_dump(mode="json")
        log.write(f"threads: at most {scheduler.peak} at once")
        console.print(usage())
        return end


@contextlib.contextmanager
def _stopped_by_signals(end: BatchEnd) -> Any:
    """The first SIGINT/SIGTERM cancels the batch (it stops cleanly); a second one gets the default behaviour."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals = (signal.SIGINT, signal.SIGTERM)

    def stop(signum: int) -> None:
        if end.signal is None:
            end.signal = signum
            if task is not None:
                task.cancel()
            return
        for other in signals:
            loop.remove_signal_handler(other)
        signal.raise_signal(signum)

    previous = {signum: signal.getsignal(signum) for signum in signals}
    for signum in signals:
        loop.add_signal_handler(signum, stop, signum)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous[signum])


@contextlib.contextmanager
def _fewer_gc_pauses() -> Any:
    """Collect garbage less often during the batch. With a thousand threads in flight, CPython's default
    thresholds spend a fifth of the event loop's time in the collector, in pauses of up to half a second, and a
    paused loop sends no requests. What is loaded before the batch (modules, settings, the graph) lives as long
    as the run, so it is frozen out of every collection."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
