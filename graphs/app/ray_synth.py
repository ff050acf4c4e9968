"""`run.py synth ... --ray [ADDRESS] [--ray-workers N]`: the batch's threads run on graph-runner actors of a Ray
cluster (`graphs.cluster`); the driver keeps OUTDIR, the plan, the writer, the progress display and the manifest.

ADDRESS: none starts a local Ray instance (stopped after the run); `auto` joins the cluster this machine belongs
to; `ray://HOST:PORT` connects through Ray Client. A process that already called `ray.init` keeps its instance.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from rich.console import Console

from graphs.app.manifest import Manifest
from graphs.app.run_log import RunLog
from graphs.app.sandbox_settings import SandboxSettings
from graphs.app.synth_settings import build_synth_settings
from graphs.cluster import RayCluster, endpoint_shares, place, split
from graphs.cluster import cpu_nodes as cluster_nodes
from graphs.cluster_actor import NodeReport, RunnerSpec
from graphs.context import SynthSettings
from graphs.scheduler import threads_for
from tools.llm import LLMSettings
from tools.ray_connect import LOCAL, connect, import_ray
from tools.rows import stable_id
from tools.settings import CodemillSettings, load_settings


class RaySettings(CodemillSettings):
    """The `[ray]` table of a config file and the `CODEMILL_RAY_*` environment variables."""

    config_section: ClassVar[str] = "ray"
    model_config = SettingsConfigDict(env_prefix="CODEMILL_RAY_")

    node_dir: Path = Field(Path("~/.cache/codemill/ray"), description="on nodes other than the driver's: where "
                           "graph runners keep checkpoints, the reply cache and the few-shot pool (one directory "
                           "per OUTDIR; `~` is each node's home)")
    gpus_per_replica: int | None = Field(None, ge=0, description="`serve --ray`: GPUs per vLLM replica, above "
                                         "one as tensor parallelism (default: 1, or 0 with --device cpu)")
    start_timeout_s: float = Field(600.0, gt=0, description="seconds the graph runners may take to start "
                                   "(waiting for free CPUs, importing codemill)")


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray cluster")
    group.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                       help="run the threads on a Ray cluster: no ADDRESS starts a local instance, `auto` joins "
                            "this machine's cluster, ray://HOST:PORT uses Ray Client")
    group.add_argument("--ray-workers", type=int, metavar="N",
                       help="graph-runner actors (default: one per node with CPUs); --concurrency is shared by all")


def run_key(outdir: Path) -> str:
    """The name of an OUTDIR's directory on other nodes: the driver's host and OUTDIR's path."""
    return stable_id("ray-outdir", socket.gethostname(), str(outdir.resolve()))


@contextlib.contextmanager
def ray_cluster(args: argparse.Namespace, synth: SynthSettings, llm: LLMSettings, sandbox_settings: SandboxSettings,
                manifest: Manifest, console: Console, log: RunLog) -> Iterator[RayCluster]:
    """The run's graph runners, started and recorded in the manifest; stopped (and Ray with them, when this
    started it) on the way out."""
    ray = import_ray()
    _, agents = build_synth_settings(args)  # the agents each actor builds its roster from
    settings = load_settings(RaySettings, config_file=args.config)
    address: str = args.ray
    started = connect(ray, address)
    cluster: RayCluster | None = None
    try:
        nodes = place(cluster_nodes(ray), args.ray_workers)
        shares = endpoint_shares(llm.concurrency, len(nodes))
        client_mode = address.startswith("ray://")
        driver_node = None if client_mode else str(ray.get_runtime_context().get_node_id())
        per_node = Counter(node.node_id for node in nodes)
        outdir = Path(args.out).resolve()
        cache = llm.cache_path.resolve() if llm.cache_path is not None else None
        specs = [RunnerSpec(
            index=index, outdir=outdir, synth=synth, agents=agents,
            llm=llm.model_copy(update={"concurrency": share, "cache_path": cache}),
            limits=sandbox_settings.limits(synth.timeout_s),
            sandbox_workers=sandbox_settings.workers or max(1, node.cpus // per_node[node.node_id]),
            local=node.node_id == driver_node, node_dir=settings.node_dir / run_key(outdir),
        ) for index, (node, share) in enumerate(zip(nodes, shares, strict=True))]
        slots, max_slots = _slots(args.threads, shares, llm, synth)
        log.say(console, f"Ray: starting {len(nodes)} graph runners on {len(per_node)} nodes "
                         f"({_address(ray, address)}); requests in flight per endpoint: {'+'.join(map(str, shares))}")
        cluster = RayCluster(ray, specs, nodes, start_timeout_s=settings.start_timeout_s, slots=slots,
                             max_slots=max_slots)
        reports = cluster.start()
        for line in node_warnings(reports):
            log.say(console, line, style="yellow")
        record(manifest, _address(ray, address), reports)
        yield cluster
    finally:
        if cluster is not None:
            record_end(manifest, cluster)
            cluster.close()
        if started:
            ray.shutdown()


def _address(ray: Any, address: str) -> str:
    if address != LOCAL:
        return address
    with contextlib.suppress(Exception):
        return f"local ({ray.get_runtime_context().gcs_address})"
    return "local"


def _slots(threads: int | None, shares: list[int], llm: LLMSettings,
           synth: SynthSettings) -> tuple[list[int], list[int]]:
    """Thread slots per actor: `--threads` split among them, else sized from each actor's share of the requests
    (more, up to `max_threads_per_request` per request slot, while its client has idle slots)."""
    if threads:
        fixed = split(threads, len(shares))
        return fixed, fixed
    endpoints = len(llm.base_urls)
    base = [threads_for(share, endpoints, synth.threads_per_request) for share in shares]
    most = [max(low, math.ceil(share * max(endpoints, 1) * synth.max_threads_per_request))
            for low, share in zip(base, shares, strict=True)]
    return base, most


def node_warnings(reports: list[NodeReport]) -> list[str]:
    """One line per node whose sandbox cannot seal its filesystem (as `graphs.app.notices` says on one machine)."""
    seen: dict[str, NodeReport] = {}
    for report in reports:
        if report.host_readable:
            seen.setdefault(report.node_id, report)
    return [f"warning: on Ray node {report.host} ({report.node_id[:12]}) the sandbox cannot seal its filesystem "
            f"({report.isolation.get('filesystem', '')}): checks can read that machine's files, benchmark answers "
            "included" for report in seen.values()]


def record(manifest: Manifest, address: str, reports: list[NodeReport]) -> None:
    """`"ray": {"address", "workers", "nodes"}` in manifest.json (the run's entry and the top level)."""
    nodes: dict[str, dict[str, Any]] = {}
    for report in reports:
        node = nodes.setdefault(report.node_id, {"node_id": report.node_id, "host": report.host, "workers": [],
                                                 "sandbox": report.isolation,
                                                 "host_readable": report.host_readable})
        node["workers"].append({"index": report.index, "pid": report.pid, "sandbox_workers": report.sandbox_workers,
                                "checkpoints": report.checkpoints, "reply_cache": report.cache})
    info = {"address": address, "workers": len(reports), "nodes": list(nodes.values())}
    manifest.data["ray"] = info
    if manifest.data["runs"]:
        manifest.data["runs"][-1]["ray"] = info
    manifest.save()


def record_end(manifest: Manifest, cluster: RayCluster) -> None:
    """Workers lost during the run and threads handed again, in the run's entry."""
    info = dict(manifest.data.get("ray") or {})
    info.update(lost_workers=sorted(cluster.scheduler.lost), threads_redone=cluster.scheduler.redone)
    manifest.data["ray"] = info
    if manifest.data["runs"]:
        manifest.data["runs"][-1]["ray"] = info
    with contextlib.suppress(OSError):
        manifest.save()
