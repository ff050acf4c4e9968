"""`seeds`: ingest seed code, clean, dedup and decontaminate it, pick a diverse subset, write JSONL (+ report)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from graphs.app.inputs import check_output_dir, check_seed_inputs, output_file
from tools.errors import ConfigError, validation_problems
from tools.ray_connect import LOCAL, connect, import_ray

if TYPE_CHECKING:
    from tools.seeds import SeedsConfig, SeedsResult

DEFAULT_CACHE = Path.home() / ".cache" / "codemill" / "embeddings"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="source directories or files, JSONL/JSON (CodeSearchNet or {'code': ...}), parquet")
    parser.add_argument("--out", type=Path, required=True, help="seeds JSONL to write")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--select", type=int, metavar="K", help="keep the K most diverse seeds (KCenterGreedy)")
    size.add_argument("--select-frac", type=float, metavar="F", help="keep this fraction of the candidates")
    parser.add_argument("--report", type=Path, help="write an HTML report here")
    parser.add_argument("--min-chars", type=int, default=50, help="shortest seed kept (default 50)")
    parser.add_argument("--max-chars", type=int, default=800, help="longest seed kept (default 800)")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip matching files/dirs (like a .gitignore line); repeatable")
    parser.add_argument("--jaccard", type=float, default=0.8, help="near-duplicate Jaccard threshold (0.8)")
    parser.add_argument("--no-dedup", action="store_true", help="keep duplicates")
    parser.add_argument("--ngram", type=int, default=10, help="decontamination n-gram size in tokens (10)")
    parser.add_argument("--no-decontaminate", action="store_true", help="skip benchmark decontamination")
    parser.add_argument("--data-dir", type=Path, help="benchmark data (default ../shared/data)")
    parser.add_argument("--embedder", choices=["minilm", "endpoint"], default="minilm",
                        help="minilm: bundled all-MiniLM-L6-v2 on CPU; endpoint: OpenAI-compatible /v1/embeddings")
    parser.add_argument("--embed-base-url", help="endpoint base URL, e.g. http://localhost:8000/v1")
    parser.add_argument("--embed-model", default="all-MiniLM-L6-v2", help="model name sent to the endpoint")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"embedding cache ({DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the first centre")
    parser.add_argument("--fast", action="store_true", help="fast selection (float32 on a PCA-reduced copy)")
    group = parser.add_argument_group("Ray cluster")
    group.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                       help="read, split and embed on a Ray cluster (Ray Data): no ADDRESS starts a local instance, "
                            "`auto` joins this machine's cluster, ray://HOST:PORT uses Ray Client; the inputs must "
                            "be at the same path on every node")
    group.add_argument("--ray-workers", type=int, metavar="N",
                       help="embedding actors, each loading the model once (default: one per CPU of the cluster)")


def _config(args: argparse.Namespace):
    from pydantic import ValidationError

    from tools.seeds import SeedsConfig

    if args.embedder == "endpoint" and not args.embed_base_url:
        raise ConfigError("--embedder endpoint needs --embed-base-url")
    try:
        return SeedsConfig(
            min_chars=args.min_chars, max_chars=args.max_chars, exclude=args.exclude, dedup=not args.no_dedup,
            jaccard=args.jaccard, decontaminate=not args.no_decontaminate, ngram=args.ngram,
            data_dir=args.data_dir, select=args.select, select_frac=args.select_frac, embedder=args.embedder,
            embed_base_url=args.embed_base_url, embed_model=args.embed_model,
            cache_dir=None if args.no_cache else args.cache_dir, seed=args.seed, fast=args.fast)
    except ValidationError as error:
        raise ConfigError(f"bad option {validation_problems(error, first_only=True)}") from error


_ROWS: list[tuple[str, str | tuple[str, ...]]] = [
         ("files read", "files_read"), ("seed units parsed", "units"), ("syntax errors (files)", "syntax_error"),
         ("bad UTF-8", "bad_utf8"), ("empty files", "empty_file"), ("bad JSON lines", "bad_json_line"),
         ("binary / too large", ("binary_file", "too_large_file")), ("too short", "too_short"),
         ("too long", "too_long"), ("minified / data", "minified_or_data"), ("generated", "generated"),
         ("near duplicates", "near_duplicate"), ("contaminated", "contaminated"), ("candidates", "candidates"),
         ("selected", "selected")]


def _on_ray(args: argparse.Namespace, config: SeedsConfig, on_stage: Callable[[str], None],
            on_embedded: Callable[[int], None]) -> SeedsResult:
    """`prepare_seeds` on the Ray cluster `--ray` names (shut down afterwards when this call started it)."""
    import logging

    from tools.seeds.ray_pipeline import prepare_seeds_on_ray

    ray = import_ray()
    started = connect(ray, args.ray)
    try:
        from ray import data as ray_data

        context = ray_data.DataContext.get_current()
        context.enable_progress_bars = False  # the command's own progress display is the one shown
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        actors = args.ray_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        return prepare_seeds_on_ray(args.paths, config, embed_actors=actors, on_stage=on_stage,
                                    embed_progress=on_embedded)
    finally:
        if started:
            ray.shutdown()


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from graphs.app.reports.seeds import write_report
    from tools.seeds import prepare_seeds, write_seeds

    config = _config(args)
    if args.ray_workers is not None and (args.ray is None or args.ray_workers < 1):
        raise ConfigError("--ray-workers needs --ray and must be 1 or more")
    check_seed_inputs(args.paths)  # wrong kinds of input and output: one line, before any work or write
    output_file(args.out)
    if args.report is not None:
        output_file(args.report, "--report")
    if config.cache_dir is not None and (config.select is not None or config.select_frac is not None):
        check_output_dir(config.cache_dir, "--cache-dir")  # (only selection embeds, and so uses the cache)
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        stage_task = progress.add_task("reading", total=None)
        embed_task = None

        def on_stage(name: str) -> None:
            progress.update(stage_task, description=name)

        def on_embedded(count: int) -> None:
            nonlocal embed_task
            if embed_task is None:
                embed_task = progress.add_task("embedding", total=None)
            progress.advance(embed_task, count)

        if args.ray is None:
            result = prepare_seeds(args.paths, config, on_stage=on_stage, embed_progress=on_embedded)
        else:
            result = _on_ray(args, config, on_stage, on_embedded)
    write_seeds(result.seeds, args.out)
    if args.report:
        write_report(result, args.report)
    table = Table(title=f"seeds → {args.out}")
    table.add_column("stage")
    table.add_column("count", justify="right")
    counts = result.counts
    for label, key in _ROWS:
        value = sum(counts.get(k, 0) for k in key) if isinstance(key, tuple) else counts.get(key, 0)
        table.add_row(label, str(value))
    console.print(table)
    if result.coverage:
        c = result.coverage
        console.print(f"coverage radius {c.kcenter_radius:.4f} (random subset of the same size: {c.random_radius:.4f})")
    if args.report:
        console.print(f"report: {args.report}")
    return 0
