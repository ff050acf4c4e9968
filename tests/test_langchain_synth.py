"""`run.py synth` driven by LangChain chat models (`--llm langchain:module.Class`): a fake chat model in-process,
and `ChatOpenAI` against the scripted OpenAI-protocol server; rows, usage, the reply cache and one-line failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from run import main
from tests import langchain_coder
from tests.coder_model import SOLUTION, CoderModel
from tests.fakes import ScriptedOpenAIServer
from tests.langchain_coder import sampled_by_seed
from tests.test_synth_e2e import rows, write_seeds

FAKE = "langchain:tests.langchain_coder.CoderChatModel"
SCENARIOS = ["accept", "malformed", "fail_all"]


@pytest.fixture(autouse=True)
def _no_calls_yet() -> None:
    langchain_coder.CALLS.clear()


def synth(seeds: Path, out: Path, *llm: str) -> int:
    return main(["synth", str(seeds), "--out", str(out), *llm, "--task-mix", "generation=1", "--n-candidates", "5",
                 "--n-tests", "4", "--exec-timeout", "2", "--max-attempts", "2", "--threads", "3", "--workers", "2",
                 "--max-retries", "1"])


def check_rows(out: Path, model: str) -> dict:
    ledger = {row["seed_id"].split("-", 2)[2]: row for row in rows(out / "ledger.jsonl")}
    assert set(ledger) == set(SCENARIOS)
    assert ledger["accept"]["status"] == "accepted" and ledger["malformed"]["status"] == "accepted"
    assert ledger["fail_all"]["status"] == "failed"
    sft = {row["provenance"]["seed_id"].split("-", 2)[2]: row for row in rows(out / "sft.jsonl")}
    assert sft["accept"]["output"] == SOLUTION
    pairs = [pair for pair in rows(out / "dpo.jsonl") if "accept" in pair["task_id"]]
    assert any(pair["kind"] == "correctness" for pair in pairs)  # the n candidates differed
    assert all("return x + 2" not in pair["chosen"] for pair in pairs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == model
    return manifest["usage"]["agents"]


def test_synth_with_a_langchain_fake_chat_model(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SCENARIOS)
    out = tmp_path / "out"
    assert synth(seeds, out, "--llm", FAKE) == 0
    usage = check_rows(out, FAKE)
    calls = langchain_coder.CALLS
    candidates = [call for call in calls if call["schema"] == "CandidateReply"]
    assert len({call["seed"] for call in candidates}) == len(candidates)  # every choice its own seed
    assert usage["generator"]["calls"] >= 3
    # tokens counted from each message's usage_metadata: the fake's prompt counts, summed over its calls
    assert sum(agent["prompt_tokens"] for agent in usage.values()) == sum(call["prompt_tokens"] for call in calls)

    asked = len(calls)
    (out / "ledger.jsonl").unlink()  # forget which threads finished: every request is asked again
    assert synth(seeds, out, "--llm", FAKE) == 0
    assert len(calls) == asked  # ... and answered by the reply cache


def test_synth_with_chat_openai_against_the_scripted_server(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", SCENARIOS)
    out = tmp_path / "out"
    with ScriptedOpenAIServer(sampled_by_seed(CoderModel())) as server:
        assert synth(seeds, out, "--llm", "langchain:langchain_openai.ChatOpenAI", "--base-url", server.base_url,
                     "--model", server.model, "--api-key", "k") == 0
        requests = [request.body for request in server.requests]
    usage = check_rows(out, server.model)
    formats = [body["response_format"]["json_schema"] for body in requests]
    assert all(schema["strict"] is True for schema in formats)
    assert {"GenerationReply", "CandidateReply", "Judgement"} <= {schema["name"] for schema in formats}
    assert all(body.get("n", 1) == 1 for body in requests)
    candidates = [body for body in requests if body["response_format"]["json_schema"]["name"] == "CandidateReply"]
    assert len(candidates) == 5 * 2 and len({body["seed"] for body in candidates}) == 10  # 2 accepted, 5 each
    assert sum(agent["calls"] for agent in usage.values()) + 4 * 2 == len(requests)  # n=5 is five requests
    # what the server reported, summed over every request (it counts words)
    assert sum(agent["prompt_tokens"] for agent in usage.values()) == sum(
        len(str(message["content"]).split()) for body in requests for message in body["messages"])


def test_a_chat_model_that_refuses_the_key_stops_synth_in_one_line(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"] * 6)
    out = tmp_path / "out"
    assert synth(seeds, out, "--llm", FAKE, "--llm-arg", "fail_with=401") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "AuthFailed" in err[-1] and "scripted HTTP 401" in err[-1]
    assert rows(out / "ledger.jsonl") == [] and rows(out / "sft.jsonl") == []


def test_chat_openai_with_a_wrong_key_stops_synth_before_anything_is_recorded(tmp_path: Path, capsys) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel(), api_key="right") as server:
        code = synth(seeds, out, "--llm", "langchain:langchain_openai.ChatOpenAI", "--base-url", server.base_url,
                     "--model", server.model, "--api-key", "wrong")
        assert server.call_count == 0  # refused at the model list: no chat request was sent
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "refused the API key" in err[-1]
    assert rows(out / "ledger.jsonl") == []
