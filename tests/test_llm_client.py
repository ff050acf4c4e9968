"""LLMClient against the scripted server: what it sends, which failures it retries, what errors say."""

from __future__ import annotations

import httpx
import pytest
from rich.console import Console

from tests.fakes import Reply, settings_for
from tools.errors import ConfigError, LLMError, RequestRejected
from tools.llm import LLMClient, LLMSettings

USER = [{"role": "user", "content": "write a function"}]


async def test_request_body_carries_model_messages_sampling_and_n(scripted_server) -> None:
    server = scripted_server(["a reply"])
    async with LLMClient(settings_for(server, temperature=0.3, top_p=0.9, max_tokens=77, seed=11)) as client:
        texts = await client.complete(USER, n=3, stop=["\n\n"], top_k=20)
    assert texts == ["a reply"] * 3
    body = server.requests[0].body
    assert body["model"] == server.model
    assert body["messages"] == USER
    assert (body["n"], body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (3, 0.3, 0.9, 77, 11)
    assert body["stop"] == ["\n\n"]
    assert body["top_k"] == 20  # vLLM's own sampling fields pass through unchanged
    assert "response_format" not in body


async def test_per_call_params_override_defaults_and_none_unsets(scripted_server) -> None:
    server = scripted_server()
    async with LLMClient(settings_for(server, seed=5, temperature=0.7)) as client:
        await client.complete(USER, temperature=0.0, seed=None)
    body = server.requests[0].body
    assert body["temperature"] == 0.0
    assert "seed" not in body


async def test_n_choices_come_back_in_order(scripted_server) -> None:
    server = scripted_server([["first", "second", "third"]])
    async with LLMClient(settings_for(server)) as client:
        assert await client.complete(USER, n=3) == ["first", "second", "third"]
    assert server.call_count == 1


@pytest.mark.parametrize("failure", [Reply.error(429), Reply.error(500), Reply.error(503), Reply.dropped(),
                                     Reply(truncate=True), Reply(raw_body=b'{"id": "x", "choices": [')])
async def test_transient_failures_are_retried(scripted_server, failure: Reply) -> None:
    server = scripted_server([failure, failure, "finally"])
    async with LLMClient(settings_for(server, max_retries=3)) as client:
        assert await client.complete(USER) == ["finally"]
        usage = client.usage().agents["default"]
    assert server.call_count == 3
    assert (usage.calls, usage.retries, usage.failures) == (1, 2, 0)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(scripted_server, status: int) -> None:
    server = scripted_server([Reply.error(status, "bad field 'foo'"), "never reached"])
    async with LLMClient(settings_for(server, max_retries=5)) as client:
        with pytest.raises(RequestRejected) as caught:
            await client.complete(USER, agent="generator")
        assert client.usage().agents["generator"].failures == 1
    assert server.call_count == 1
    message = str(caught.value)
    assert server.base_url in message and server.model in message
    assert str(status) in message and "bad field 'foo'" in message


async def test_retries_are_bounded_and_the_error_names_endpoint_and_model(scripted_server) -> None:
    server = scripted_server(lambda request: Reply.error(503, "overloaded"))
    async with LLMClient(settings_for(server, max_retries=2)) as client:
        with pytest.raises(LLMError) as caught:
            await client.complete(USER)
    assert server.call_count == 3
    assert server.base_url in str(caught.value) and server.model in str(caught.value)
    assert "503" in str(caught.value) and "3 attempts" in str(caught.value)


async def test_slow_reply_times_out_then_a_retry_succeeds(scripted_server) -> None:
    server = scripted_server([Reply(contents=["late"], delay_s=2.0), "on time"])
    async with LLMClient(settings_for(server, timeout_s=0.3, max_retries=1)) as client:
        assert await client.complete(USER) == ["on time"]


async def test_persistent_timeouts_end_in_llm_error(scripted_server) -> None:
    server = scripted_server(lambda request: Reply(delay_s=1.0))
    async with LLMClient(settings_for(server, timeout_s=0.2, max_retries=1)) as client:
        with pytest.raises(LLMError, match=r"timed out \(2 attempts in a row\)") as caught:
            await client.complete(USER)
    assert server.base_url in str(caught.value)


async def test_unreachable_endpoint_is_an_llm_error() -> None:
    settings = LLMSettings(base_urls=["http://127.0.0.1:9/v1"], model="m", max_retries=1, retry_initial_s=0.01,
                           cache_enabled=False)
    async with LLMClient(settings) as client:
        with pytest.raises(LLMError, match=r"127\.0\.0\.1:9/v1 \(model 'm'\)"):
            await client.complete(USER)


def test_remote_endpoints_are_refused_in_tests() -> None:
    with pytest.raises(ConfigError, match="remote model requests are disabled"):
        LLMClient(LLMSettings(base_urls=["https://api.openai.com/v1"]))
    # Even a settings object that allows remote endpoints cannot get past the process-wide switch.
    with pytest.raises(ConfigError, match="remote model requests are disabled"):
        LLMClient(LLMSettings(base_urls=["https://example.com/v1"], allow_remote=True))


def test_the_test_session_turns_allow_remote_off_through_settings() -> None:
    assert LLMSettings().allow_remote is False


def test_no_endpoint_is_a_config_error_that_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match="--base-url"):
        LLMClient(LLMSettings(base_urls=[]))


async def test_usage_counts_tokens_and_latency_per_agent(scripted_server) -> None:
    server = scripted_server(lambda request: Reply(contents=["one two three"], delay_s=0.05))
    async with LLMClient(settings_for(server)) as client:
        await client.complete([{"role": "user", "content": "four words right here"}], agent="generator", n=2)
        await client.complete(USER, agent="discriminator")
        await client.complete(USER, agent="discriminator")
        report = client.usage()
    generator, discriminator = report.agents["generator"], report.agents["discriminator"]
    assert (generator.calls, generator.prompt_tokens, generator.completion_tokens) == (1, 4, 6)
    assert (discriminator.calls, discriminator.prompt_tokens, discriminator.completion_tokens) == (2, 6, 6)
    assert generator.latency_total_s >= 0.05 and discriminator.latency_mean_s >= 0.05
    assert report.total().calls == 3
    console = Console(width=160, record=True)
    console.print(report)
    table = console.export_text()
    assert "generator" in table and "discriminator" in table and "total" in table


async def test_langchain_chat_model_uses_the_same_settings(scripted_server) -> None:
    from tools.llm.langchain import chat_model

    server = scripted_server(["from langchain"])
    async with httpx.AsyncClient() as http:
        model = chat_model(settings_for(server, temperature=0.2, seed=4), http_async_client=http)
        reply = await model.ainvoke("hello")
    assert reply.content == "from langchain"
    body = server.requests[0].body
    assert (body["model"], body["temperature"], body["seed"]) == (server.model, 0.2, 4)
    with pytest.raises(ConfigError, match="remote model requests are disabled"):
        chat_model(LLMSettings(base_urls=["https://api.openai.com/v1"]))


def test_a_scripted_server_stops_cleanly_whether_or_not_it_ran() -> None:
    from tests.fakes import ScriptedOpenAIServer

    never_started = ScriptedOpenAIServer()
    never_started.stop()  # returns at once: the port is free
    with ScriptedOpenAIServer() as server:
        pass
    server.stop()  # a second stop is harmless
