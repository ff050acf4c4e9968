"""`run.py synth --ray` on a local Ray instance (2 CPUs, shared by this module's tests) with 2 graph runners
against the scripted OpenAI-protocol server: the same ids as a plain run, the per-endpoint limit held for the
whole cluster, the manifest's record of the cluster, a `--retry-failed` that reaches the actors (asking the model
anew), and the bound on runs a refused request may leave a thread unfinished, held by the actors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphs.cluster import Node, RayScheduler, endpoint_shares, merge_usage, place, split
from graphs.cluster_actor import RemoteResult
from graphs.state import SeedInput, TaskType
from graphs.thread_runner import ThreadResult
from run import main
from tests.coder_model import CoderModel
from tests.fakes import Reply, ScriptedOpenAIServer
from tests.ray_support import require_ray
from tests.test_synth_e2e import rows, synth_args, write_seeds
from tests.test_synth_faults import assert_nothing_lost_or_duplicated, faulty
from tests.test_synth_reruns import REFUSAL, ProseForSeed0, for_seed_0, unfinished
from tools.errors import ConfigError
from tools.llm.usage import AgentUsage, UsageReport

ray = require_ray()

pytestmark = pytest.mark.slow
SCENARIOS = ["accept", "reject_once", "wrong_tests", "malformed", "fail_all", "reject_always"]
IDS_OF = ("sft.jsonl", "dpo.jsonl", "matrix.jsonl", "ledger.jsonl")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One small local instance for the module: 2 logical CPUs, no dashboard, a small object store."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             log_to_driver=False)
    yield
    ray.shutdown()


def ids(out: Path) -> dict[str, list[str]]:
    return {name: sorted(row["id"] for row in rows(out / name)) for name in IDS_OF}


def outcomes(*outdirs: Path) -> str:
    """Each run's ledger status and failures per seed, for the message of a failed comparison."""
    return "\n".join(f"{out.name}: {row['seed_id']} {row['status']} {row.get('failures')}"
                     for out in outdirs for row in rows(out / "ledger.jsonl"))


def test_two_workers_write_the_same_ids_as_a_plain_run_and_share_the_endpoint_limit(
        tmp_path: Path, local_ray: None) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SCENARIOS)
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.05) as server:
        assert main(synth_args(seeds, tmp_path / "plain", server, "--no-report")) == 0
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.05) as server:
        args = synth_args(seeds, tmp_path / "ray", server, "--no-report", "--ray", "--ray-workers", "2",
                          "--concurrency", "2", "--workers", "1")
        assert main(args) == 0
        # two actors, each with its own client: together never more than --concurrency on the one endpoint
        assert 1 <= server.max_in_flight <= 2
    plain, clustered = ids(tmp_path / "plain"), ids(tmp_path / "ray")
    assert clustered == plain, outcomes(tmp_path / "plain", tmp_path / "ray")
    assert len(plain["ledger.jsonl"]) == len(SCENARIOS) and plain["sft.jsonl"]
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    info = manifest["ray"]
    assert info["workers"] == 2 and len(info["nodes"]) == 1
    node = info["nodes"][0]
    assert sorted(worker["index"] for worker in node["workers"]) == [0, 1]
    assert node["sandbox"].get("filesystem")  # each node's isolation is recorded
    assert manifest["runs"][-1]["ray"]["threads_redone"] == 0
    assert manifest["runs"][-1]["usage"]["agents"]  # the actors' usage reached the driver
    # the actors on the driver's node used OUTDIR's own checkpoints: a plain re-run finds every thread done
    with ScriptedOpenAIServer(CoderModel()) as server:
        assert main(synth_args(seeds, tmp_path / "ray", server, "--no-report")) == 0
        assert server.requests == []
    assert ids(tmp_path / "ray") == plain


def test_retry_failed_on_the_cluster_reruns_failed_threads_once_asking_the_model_anew(
        tmp_path: Path, local_ray: None) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "fail_all"])
    out = tmp_path / "out"
    fault = ProseForSeed0()
    _, handler = faulty(fault)
    with ScriptedOpenAIServer(handler) as server:
        ray_args = ("--no-report", "--ray", "--ray-workers", "2", "--workers", "1", "--max-attempts", "1")
        assert main(synth_args(seeds, out, server, *ray_args)) == 0
        failed = {row["thread_id"] for row in rows(out / "ledger.jsonl") if row["status"] == "failed"}
        assert {tid.split(":")[0] for tid in failed} == {"seed-0-accept", "seed-1-fail_all"}
        fault.broken = False  # seed 0's model answers now; its cached replies still say what it said then
        calls = server.call_count
        assert main(synth_args(seeds, out, server, *ray_args, "--retry-failed")) == 0
        asked = server.call_count - calls
    # the failed threads ran again on the actors, asking the model (not replaying the replies they failed with)
    status = {row["seed_id"]: row["status"] for row in rows(out / "ledger.jsonl")}
    assert status == {"seed-0-accept": "accepted", "seed-1-fail_all": "failed"}
    usage = json.loads((out / "manifest.json").read_text())["runs"][-1]["usage"]["agents"]
    assert asked > 0 and sum(agent["calls"] for agent in usage.values()) == asked
    superseded = [row["row"] for row in rows(out / "superseded.jsonl") if row["file"] == "ledger.jsonl"]
    assert sorted(row["thread_id"] for row in superseded) == sorted(failed)
    ledger = rows(out / "ledger.jsonl")
    assert sorted(row["thread_id"] for row in ledger) == sorted({row["thread_id"] for row in ledger})
    assert len(ledger) == 2


def test_a_request_always_refused_is_recorded_as_failed_on_the_cluster_after_the_bound(
        tmp_path: Path, local_ray: None, monkeypatch) -> None:
    """The runs an earlier run (here a plain one) left the thread unfinished reach the actors: at the bound, the
    actor records the refusal as the thread's failure."""
    monkeypatch.setenv("CODEMILL_SYNTH_MAX_INFRA_RUNS", "2")
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept"])
    out = tmp_path / "out"
    _, handler = faulty(lambda request, index: Reply.error(400, REFUSAL) if for_seed_0(request) else None)
    with ScriptedOpenAIServer(handler) as server:
        assert main(synth_args(seeds, out, server, "--no-report")) == 0
        assert [row["error_type"] for row in unfinished(out, "seed-0-accept")] == ["RequestRejected"]
        assert main(synth_args(seeds, out, server, "--no-report", "--ray", "--ray-workers", "2", "--workers", "1")
                    ) == 0
    ledger = {row["seed_id"]: row for row in assert_nothing_lost_or_duplicated(out, 2)}
    assert ledger["seed-1-accept"]["status"] == "accepted" and ledger["seed-0-accept"]["status"] == "failed"
    failure = ledger["seed-0-accept"]["failures"][-1]
    assert failure["agent"] == "endpoint" and failure["error_type"] == "RequestRejected"
    assert "HTTP 400" in failure["message"] and "2 runs" in failure["message"] and REFUSAL in failure["message"]
    assert len(unfinished(out, "seed-0-accept")) == 1


def test_the_limit_is_shared_never_multiplied() -> None:
    assert endpoint_shares(32, 3) == [11, 11, 10]
    assert sum(endpoint_shares(5, 5)) == 5
    with pytest.raises(ConfigError, match="--ray-workers"):
        endpoint_shares(2, 3)  # three actors cannot hold one slot each within a limit of two
    assert split(5, 2) == [3, 2] and split(1, 3) == [1, 1, 1]


def test_workers_are_dealt_round_the_nodes_with_cpus() -> None:
    big, small = Node("a", "host-a", 8), Node("b", "host-b", 2)
    assert place([big, small], None) == [big, small]
    assert place([big, small], 3) == [big, small, big]
    with pytest.raises(ConfigError):
        place([], None)
    with pytest.raises(ConfigError):
        place([big], 0)


def test_usage_of_all_actors_adds_up() -> None:
    one = UsageReport(agents={"generator": AgentUsage(calls=2, prompt_tokens=10)}, context={"too_long": 1})
    two = UsageReport(agents={"generator": AgentUsage(calls=3), "judge": AgentUsage(calls=1)},
                      context={"too_long": 2})
    total = merge_usage([one, two])
    assert total.agents["generator"].calls == 5 and total.agents["generator"].prompt_tokens == 10
    assert total.agents["judge"].calls == 1 and total.context == {"too_long": 3}


def test_an_actors_older_totals_arriving_last_do_not_replace_its_newer_ones() -> None:
    """Two threads of one actor ending together reach the driver in either order: the usage shown and recorded
    is the actor's latest, never an earlier snapshot."""
    scheduler = RayScheduler(None, [object()], [1], [2], [1])
    result = ThreadResult("t", SeedInput(id="s", code="x = 1"), TaskType.GENERATION, "accepted")
    newer = UsageReport(agents={"generator": AgentUsage(calls=4)})
    older = UsageReport(agents={"generator": AgentUsage(calls=2)})
    scheduler._absorb(0, RemoteResult(result, usage=newer, in_flight=0, sequence=2))
    scheduler._absorb(0, RemoteResult(result, usage=older, in_flight=1, sequence=1))
    assert scheduler.usage().agents["generator"].calls == 4 and scheduler.in_flight == 0
