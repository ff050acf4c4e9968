"""`run.py synth --ray ADDRESS` on a two-node cluster on this machine (`ray.cluster_utils.Cluster`: a head with
no CPUs, two worker nodes of one CPU): a node lost in the middle of the run (after a number of rows) and a driver
killed by SIGKILL; each run then resumed. Nothing is lost and nothing is written twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.coder_model import CoderModel
from tests.fakes import ScriptedOpenAIServer
from tests.ray_support import require_ray
from tests.test_synth_e2e import rows, synth_args, write_seeds

ray = require_ray()
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ["accept", "reject_once", "wrong_tests", "malformed"] * 3
FAST_FAILURE_DETECTION = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": 80 * 1024 * 1024,
        "_system_config": FAST_FAILURE_DETECTION})
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def worker_nodes(cluster: Cluster) -> list[Any]:
    return [node for node in cluster.list_all_nodes() if node is not cluster.head_node]


def driver(seeds: Path, out: Path, server: ScriptedOpenAIServer, cluster: Cluster, node_dir: Path) -> list[str]:
    return [sys.executable, "run.py", *synth_args(seeds, out, server, "--no-report", "--ray", cluster.address,
                                                  "--ray-workers", "2", "--threads", "2", "--workers", "1")]


def environment(node_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "CODEMILL_RAY_NODE_DIR": str(node_dir)}


def wait_for_rows(out: Path, process: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 240
    while len(rows(out / "ledger.jsonl")) < count and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the fault could be injected"
    assert len(rows(out / "ledger.jsonl")) >= count


def assert_complete_and_unique(out: Path) -> None:
    ledger = rows(out / "ledger.jsonl")
    assert len(ledger) == len(SCENARIOS)
    assert len({row["thread_id"] for row in ledger}) == len(SCENARIOS)
    for name in ("sft.jsonl", "dpo.jsonl", "matrix.jsonl"):
        ids = [row["id"] for row in rows(out / name)]
        assert len(ids) == len(set(ids)), name
    assert len(rows(out / "sft.jsonl")) == sum(row["status"] == "accepted" for row in ledger)


def test_a_node_lost_mid_run_loses_and_duplicates_nothing(tmp_path: Path, cluster: Cluster) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SCENARIOS)
    out, node_dir = tmp_path / "out", tmp_path / "nodes"
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.3) as server:
        args, env = driver(seeds, out, server, cluster, node_dir), environment(node_dir)
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_rows(out, process, 3)
            cluster.remove_node(worker_nodes(cluster)[-1], allow_graceful=False)
            _, stderr = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, stderr.decode()[-3000:]
        assert_complete_and_unique(out)  # the survivor redid the lost node's threads in the same run
        ray_info = json.loads((out / "manifest.json").read_text())["runs"][-1]["ray"]
        assert len(ray_info["lost_workers"]) == 1
        cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
        cluster.wait_for_nodes()
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert_complete_and_unique(out)  # the resume found everything done and wrote nothing again


def test_a_killed_driver_resumes_on_the_cluster_without_losing_or_duplicating(tmp_path: Path,
                                                                             cluster: Cluster) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SCENARIOS)
    out, node_dir = tmp_path / "out", tmp_path / "nodes"
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.3) as server:
        args, env = driver(seeds, out, server, cluster, node_dir), environment(node_dir)
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_rows(out, process, 3)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        killed_at = len(rows(out / "ledger.jsonl"))
        assert 3 <= killed_at < len(SCENARIOS)
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert_complete_and_unique(out)
    # the graph runners on the worker nodes kept their checkpoints under the node directory, not in OUTDIR
    assert list(node_dir.glob("*/checkpoints.sqlite"))
