"""`run.py synth` end to end: the built-in agents, the real sandbox and the LLM client against a scripted
OpenAI-protocol server over real HTTP; then a real kill (SIGKILL) in the middle of a batch and a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from run import main
from tests.coder_model import HANG, SOLUTION, CoderModel, seed_code
from tests.fakes import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ["accept", "reject_once", "reject_always", "malformed", "wrong_tests", "fail_all", "hang"]


def write_seeds(path: Path, scenarios: list[str]) -> Path:
    with path.open("w") as handle:
        for index, scenario in enumerate(scenarios):
            record = {"id": f"seed-{index}-{scenario}", "code": seed_code(scenario, index), "language": "python",
                      "path": f"examples/{scenario}.py", "lines": [1, 3]}
            handle.write(json.dumps(record) + "\n")
    return path


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def synth_args(seeds: Path, out: Path, server: ScriptedOpenAIServer, *extra: str) -> list[str]:
    return ["synth", str(seeds), "--out", str(out), "--base-url", server.base_url, "--model", server.model,
            "--task-mix", "generation=1", "--n-candidates", "5", "--n-tests", "4", "--exec-timeout", "1",
            "--max-attempts", "2", "--threads", "4", "--workers", "2", "--max-retries", "1", *extra]


def test_every_path_of_the_graph_writes_the_right_rows(tmp_path: Path) -> None:
    model = CoderModel()
    seeds = write_seeds(tmp_path / "seeds.jsonl", SCENARIOS)
    out = tmp_path / "out"
    with ScriptedOpenAIServer(model) as server:
        assert main(synth_args(seeds, out, server)) == 0
    ledger = {row["seed_id"].split("-", 2)[2]: row for row in rows(out / "ledger.jsonl")}
    assert set(ledger) == set(SCENARIOS)
    assert ledger["accept"]["status"] == "accepted" and ledger["accept"]["attempts"] == 1
    assert ledger["reject_once"]["status"] == "accepted" and ledger["reject_once"]["attempts"] == 2
    assert ledger["reject_always"]["status"] == "rejected" and ledger["reject_always"]["attempts"] == 2
    assert ledger["reject_always"]["verdict_reasons"]
    assert ledger["malformed"]["status"] == "accepted"
    assert ledger["fail_all"]["status"] == "failed" and ledger["fail_all"]["failures"]
    assert model.calls[("malformed", "GenerationReply")] >= 2  # the broken reply was re-asked

    sft = {row["provenance"]["seed_id"].split("-", 2)[2]: row for row in rows(out / "sft.jsonl")}
    assert {"accept", "reject_once", "malformed", "hang"} <= set(sft)
    assert "reject_always" not in sft and "fail_all" not in sft
    accepted = sft["accept"]
    assert accepted["output"] == SOLUTION and accepted["messages"][1]["content"] == SOLUTION
    assert accepted["provenance"]["path"] == "examples/accept.py"

    matrices = {row["task_id"].split("-", 2)[2].split(":")[0]: row for row in rows(out / "matrix.jsonl")}
    hang = matrices["hang"]
    hang_index = hang["candidates"].index(HANG)
    assert set(hang["verification"]["matrix"][hang_index]) == {"timeout"}
    wrong_tests = matrices["wrong_tests"]
    wrong_column = wrong_tests["tests"].index("assert inc(1) == 3")
    test_scores = wrong_tests["verification"]["test_scores"][wrong_tests["verification"]["ranker"]]
    assert test_scores[wrong_column] < min(s for j, s in enumerate(test_scores) if j != wrong_column)
    assert ledger["wrong_tests"]["status"] == "accepted"  # the distrusted test does not reject the instance

    pairs = rows(out / "dpo.jsonl")
    accept_pairs = [pair for pair in pairs if "accept" in pair["task_id"]]
    assert any(pair["kind"] == "correctness" and pair["chosen"] != pair["rejected"] for pair in accept_pairs)
    for pair in pairs:
        assert "return x + 2" not in pair["chosen"]  # the wrong candidate is never preferred
    for name in ("sft.jsonl", "dpo.jsonl", "matrix.jsonl", "ledger.jsonl"):
        ids = [row["id"] for row in rows(out / name)]
        assert len(ids) == len(set(ids)), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "scripted-model" and manifest["counts"]["status"]["accepted"] >= 4
    assert "Funnel" in (out / "report.html").read_text() or "funnel" in (out / "report.html").read_text()
    assert (out / "pool" / "generation.jsonl").exists()
    load_dataset = pytest.importorskip("datasets").load_dataset
    for name in ("sft", "dpo", "matrix"):
        loaded = load_dataset("json", data_files=str(out / f"{name}.jsonl"), split="train",
                              cache_dir=str(tmp_path / "hf-cache"))
        assert loaded.num_rows == len(rows(out / f"{name}.jsonl"))


def test_a_rerun_replays_from_the_cache_and_writes_nothing_twice(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "reject_once"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel()) as server:
        assert main(synth_args(seeds, out, server)) == 0
        first_calls = server.call_count
        before = {name: rows(out / name) for name in ("sft.jsonl", "dpo.jsonl", "matrix.jsonl")}
        (out / "ledger.jsonl").unlink()  # forget which threads finished: everything runs again
        assert main(synth_args(seeds, out, server)) == 0
        assert server.call_count == first_calls  # every model call was replayed from the cache
    assert {name: rows(out / name) for name in before} == before


def test_server_down_is_one_clear_error_and_nothing_is_recorded(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"] * 6)
    out = tmp_path / "out"
    server = ScriptedOpenAIServer(CoderModel())
    url = server.base_url
    server.stop()  # nothing listens there any more
    code = main(["synth", str(seeds), "--out", str(out), "--base-url", url, "--model", "m", "--max-retries", "0",
                 "--threads", "1", "--max-attempts", "1", "--task-mix", "generation=1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "re-run to resume" in err
    assert rows(out / "ledger.jsonl") == []


@pytest.mark.slow
def test_killed_batch_resumes_without_losing_or_duplicating_rows(tmp_path: Path) -> None:
    scenarios = ["accept", "reject_once", "wrong_tests", "malformed"] * 3
    seeds = write_seeds(tmp_path / "seeds.jsonl", scenarios)
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel(), latency_s=0.15) as server:
        args = [sys.executable, "run.py", *synth_args(seeds, out, server), "--threads", "2", "--no-report"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(rows(out / "ledger.jsonl")) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = len(rows(out / "ledger.jsonl"))
        assert 3 <= killed_at < len(scenarios)
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    ledger = rows(out / "ledger.jsonl")
    assert len(ledger) == len(scenarios)
    assert len({row["thread_id"] for row in ledger}) == len(scenarios)
    sft_ids = [row["id"] for row in rows(out / "sft.jsonl")]
    assert len(sft_ids) == len(set(sft_ids)) == sum(row["status"] == "accepted" for row in ledger)
    for name in ("dpo.jsonl", "matrix.jsonl"):
        ids = [row["id"] for row in rows(out / name)]
        assert len(ids) == len(set(ids)), name
