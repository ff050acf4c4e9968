"""What a re-run of `run.py synth` does with a thread an earlier run could not finish well, against the scripted
OpenAI server: a request the endpoint always refuses (a plain 400) leaves its thread unfinished for a bounded
number of runs, then it is recorded as failed; `--retry-failed` asks the model again instead of replaying the
cached replies the thread failed with, and a later replay gives the new replies."""

from __future__ import annotations

import json
from pathlib import Path

from run import main
from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer
from tests.test_synth_e2e import rows, synth_args, write_seeds
from tests.test_synth_faults import assert_nothing_lost_or_duplicated, faulty, schema_of

REFUSAL = "this request uses a feature the server does not support"


def for_seed_0(request: ChatRequest) -> bool:
    return "def add_0(" in json.dumps(request.messages)


class ProseForSeed0:
    """A fault for `faulty`: while `broken`, seed 0's generator gets prose instead of JSON (a model failure)."""

    def __init__(self) -> None:
        self.broken = True

    def __call__(self, request: ChatRequest, index: int) -> Reply | None:
        if self.broken and schema_of(request) == "GenerationReply" and for_seed_0(request):
            return Reply(contents=["I would rather not answer in JSON."])
        return None


def unfinished(out: Path, seed_id: str) -> list[dict]:
    return [row for row in rows(out / "unfinished.jsonl") if row["thread_id"].startswith(seed_id + ":")]


def test_a_request_always_refused_with_a_plain_400_is_recorded_as_failed_after_the_bound(tmp_path: Path,
                                                                                        monkeypatch) -> None:
    monkeypatch.setenv("CODEMILL_SYNTH_MAX_INFRA_RUNS", "3")
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept"])
    out = tmp_path / "out"
    _, handler = faulty(lambda request, index: Reply.error(400, REFUSAL) if for_seed_0(request) else None)
    with ScriptedOpenAIServer(handler) as server:
        for run in (1, 2):
            assert main(synth_args(seeds, out, server, "--no-report")) == 0
            assert {row["seed_id"] for row in rows(out / "ledger.jsonl")} == {"seed-1-accept"}, run
            lines = unfinished(out, "seed-0-accept")
            assert len(lines) == run and lines[-1]["cause"] == "endpoint", run
            assert lines[-1]["error_type"] == "RequestRejected" and REFUSAL in lines[-1]["message"]
        assert main(synth_args(seeds, out, server, "--no-report")) == 0
        ledger = {row["seed_id"]: row for row in assert_nothing_lost_or_duplicated(out, 2)}
        assert ledger["seed-1-accept"]["status"] == "accepted"
        row = ledger["seed-0-accept"]
        assert row["status"] == "failed" and len(unfinished(out, "seed-0-accept")) == 2
        failure = row["failures"][-1]
        assert failure["error_type"] == "RequestRejected" and failure["agent"] == "endpoint"
        assert "HTTP 400" in failure["message"] and REFUSAL in failure["message"]
        assert "3 runs" in failure["message"] and "the bound is 3" in failure["message"]
        calls = server.call_count
        assert main(synth_args(seeds, out, server, "--no-report")) == 0  # recorded: no run asks again
        assert server.call_count == calls and len(unfinished(out, "seed-0-accept")) == 2
    assert len(rows(out / "ledger.jsonl")) == 2


def test_retry_failed_asks_the_model_again_with_the_cache_kept(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "accept"])
    out = tmp_path / "out"
    fault = ProseForSeed0()
    _, handler = faulty(fault)
    with ScriptedOpenAIServer(handler) as server:
        args = [*synth_args(seeds, out, server, "--no-report"), "--max-attempts", "1"]
        assert main(args) == 0
        first = {row["seed_id"]: row["status"] for row in rows(out / "ledger.jsonl")}
        assert first == {"seed-0-accept": "failed", "seed-1-accept": "accepted"}
        calls = server.call_count
        fault.broken = False  # the model would answer now; its cached replies still say what it said then
        assert main([*args, "--retry-failed"]) == 0
        retried = server.call_count - calls
        assert retried > 0
        ledger = {row["seed_id"]: row for row in assert_nothing_lost_or_duplicated(out, 2)}
        assert {seed: row["status"] for seed, row in ledger.items()} == {"seed-0-accept": "accepted",
                                                                          "seed-1-accept": "accepted"}
        usage = json.loads((out / "manifest.json").read_text())["usage"]["agents"]
        assert sum(agent["calls"] for agent in usage.values()) == retried
        # The new replies replaced the stale ones: a replay (checkpoints and ledger gone, cache kept) asks nothing
        # and gives the retried outcome.
        (out / "ledger.jsonl").unlink()
        (out / "checkpoints.sqlite").unlink()
        fault.broken = True
        calls = server.call_count
        assert main(args) == 0
        assert server.call_count == calls
    assert {row["seed_id"]: row["status"] for row in rows(out / "ledger.jsonl")} == {
        "seed-0-accept": "accepted", "seed-1-accept": "accepted"}
