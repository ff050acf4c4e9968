"""The LangChain backend: any LangChain chat model behind the client's seam, with the same structured output
(`with_structured_output(..., method="json_schema")`), reply cache, usage counting, retry budget and typed errors
as the OpenAI protocol; and the settings that choose and configure it (`--llm`, `--llm-arg`, `[llm.langchain]`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from tests import langchain_coder
from tests.coder_model import SOLUTION
from tests.fakes import Reply, prompt_tokens, settings_for
from tools.errors import (
    AuthFailed,
    ConfigError,
    ContextLengthExceeded,
    EndpointError,
    EndpointUnreachable,
    OutputRejected,
    RequestRejected,
    RoleOrderRejected,
    Transient,
    UnknownModel,
)
from tools.llm import LLMClient, LLMSettings
from tools.llm.cli import add_llm_arguments, llm_arg, llm_settings_from_args
from tools.llm.langchain import chat_model
from tools.llm.langchain_backend import LangChainBackend, finish_reason, tokens

FAKE = "langchain:tests.langchain_coder.CoderChatModel"
CHAT_OPENAI = "langchain:langchain_openai.ChatOpenAI"


class CandidateReply(BaseModel):
    code: str


@pytest.fixture(autouse=True)
def _no_calls_yet() -> None:
    langchain_coder.CALLS.clear()


def fake_settings(**values: Any) -> LLMSettings:
    return LLMSettings(backend=FAKE, retry_initial_s=0.01, retry_max_s=0.02, **values)


def openai_settings(server: Any, **values: Any) -> LLMSettings:
    return settings_for(server, **{"backend": CHAT_OPENAI, "api_key": "k", **values})


def schema_calls() -> list[dict[str, Any]]:
    return [call for call in langchain_coder.CALLS if call["schema"]]


# -- structured output, choices, cache, usage ---------------------------------------------------------------------


async def test_n_choices_are_n_calls_with_their_own_seeds_through_json_schema(tmp_path: Path) -> None:
    settings = fake_settings(cache_path=tmp_path / "cache.sqlite", temperature=0.3)
    async with LLMClient(settings) as client:
        replies = await client.structured([{"role": "user", "content": "scenario-accept"}], CandidateReply,
                                          agent="sampler", n=5, seed=10)
        again = await client.structured([{"role": "user", "content": "scenario-accept"}], CandidateReply,
                                        agent="sampler", n=5, seed=10)
        usage = client.usage().agents["sampler"]
    calls = schema_calls()
    assert [call["schema"] for call in calls] == ["CandidateReply"] * 5  # the fake refuses any other method
    assert sorted(call["seed"] for call in calls) == [10, 11, 12, 13, 14]
    assert {call["temperature"] for call in calls} == {0.3}
    assert SOLUTION in {reply.code for reply in replies} and len({reply.code for reply in replies}) > 2
    assert again == replies  # the second ask is the cache's
    assert (usage.calls, usage.cache_hits) == (1, 1)
    assert client.settings.model == FAKE  # a model without a name is named by its spec: its own cache keys
    # the sum of the five calls' usage_metadata (the fake counts with the scripted server's tokenizer)
    assert usage.prompt_tokens == 5 * prompt_tokens([{"role": "user", "content": "scenario-accept"}])
    assert usage.completion_tokens == sum(len(json.dumps({"code": reply.code}).split()) for reply in replies)


async def test_a_model_that_cannot_enforce_a_schema_is_asked_by_prompt_and_its_usage_still_counts() -> None:
    model = GenericFakeChatModel(messages=iter([
        AIMessage(content='{"code": "x = 1"}', usage_metadata={"input_tokens": 7, "output_tokens": 3,
                                                               "total_tokens": 10})]))
    backend = LangChainBackend("fake", model, "fake-model", timeout_s=5.0)
    async with LLMClient(fake_settings(cache_enabled=False), backends=[backend]) as client:
        [reply] = await client.structured([{"role": "user", "content": "code please"}], CandidateReply)
        report = client.usage()
    assert reply.code == "x = 1"
    assert report.prompt_only_requests == {"CandidateReply": 1}
    assert (report.agents["default"].prompt_tokens, report.agents["default"].completion_tokens) == (7, 3)


async def test_a_reply_that_breaks_the_schema_is_rejected_for_the_re_ask() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage(content='{"code": ')]))
    backend = LangChainBackend("fake", model, "fake-model", timeout_s=5.0)
    async with LLMClient(fake_settings(cache_enabled=False), backends=[backend]) as client:
        with pytest.raises(OutputRejected) as caught:
            await client.structured([{"role": "user", "content": "code please"}], CandidateReply)
    assert caught.value.reply == '{"code": '


def test_finish_reasons_and_tokens_of_the_usual_providers() -> None:
    assert finish_reason(AIMessage(content="", response_metadata={"finish_reason": "length"})) == "length"
    assert finish_reason(AIMessage(content="", response_metadata={"stop_reason": "max_tokens"})) == "length"
    assert finish_reason(AIMessage(content="", response_metadata={"done_reason": "stop"})) == "stop"
    assert finish_reason(AIMessage(content="")) is None
    assert tokens(AIMessage(content="", response_metadata={"token_usage": {"prompt_tokens": 5,
                                                                           "completion_tokens": 2}})) == (5, 2)
    assert tokens(AIMessage(content="", response_metadata={"usage": {"input_tokens": 4, "output_tokens": -3}})) \
        == (4, 0)


# -- errors: fail right -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error"), [(401, AuthFailed), (404, UnknownModel), (429, Transient),
                                               (503, Transient), (0, EndpointError)])
async def test_langchain_errors_become_typed_errors(status: int, error: type[Exception]) -> None:
    async with LLMClient(fake_settings(cache_enabled=False, max_retries=2, langchain={"fail_with": status})) \
            as client:
        with pytest.raises(error) as caught:
            await client.complete([{"role": "user", "content": "hi"}])
        retries = client.usage().agents["default"].retries
    assert FAKE in str(caught.value) and "\n" not in str(caught.value)
    transient = error is Transient
    assert retries == (2 if transient else 0)  # the transport's budget, and only for transient errors
    assert len(langchain_coder.CALLS) == (3 if transient else 1)


class ProviderError(Exception):
    """An integration's own SDK error that LangChain's standard types do not wrap (yet)."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = type("Response", (), {"status_code": status_code, "headers": headers or {}})()


class ConnectError(Exception):
    """httpx's name for a refused connection."""


class Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


@pytest.mark.parametrize(("raised", "expected"), [
    (ProviderError(401, "invalid x-api-key"), AuthFailed),
    (ProviderError(404, "model: claude-nope"), UnknownModel),
    (ProviderError(400, "prompt is too long: 300000 tokens > 200000 maximum"), ContextLengthExceeded),
    (ProviderError(400, "Conversation roles must alternate user/assistant"), RoleOrderRejected),
    (ProviderError(422, "temperature: out of range"), RequestRejected),
    (ProviderError(529, "overloaded"), Transient),
    (TimeoutError(), Transient),
    (ConnectError("connection refused"), EndpointUnreachable),
    (ConnectionResetError("reset by peer"), EndpointUnreachable),
    (Hostile(), EndpointError),
])
def test_provider_errors_without_langchains_types_are_typed_by_their_status(raised: Exception,
                                                                            expected: type[Exception]) -> None:
    backend = LangChainBackend("https://provider.example/v1", GenericFakeChatModel(messages=iter([])), "m", 1.0)
    error = backend.translate(raised)
    assert type(error) is expected
    assert "https://provider.example/v1 (model 'm')" in str(error) and "\n" not in str(error)


def test_a_server_retry_after_is_kept() -> None:
    backend = LangChainBackend("p", GenericFakeChatModel(messages=iter([])), "m", 1.0)
    error = backend.translate(ProviderError(429, "slow down", {"retry-after": "7"}))
    assert isinstance(error, Transient) and error.retry_after == 7.0


async def test_chat_openai_against_a_strict_server_fails_right(scripted_server) -> None:
    keyed = scripted_server(api_key="right")
    async with LLMClient(openai_settings(keyed, api_key="wrong")) as client:
        with pytest.raises(AuthFailed, match="refused the API key"):
            await client.complete([{"role": "user", "content": "hi"}])
    server = scripted_server([Reply.error(429, retry_after=0.01), "fine"])
    async with LLMClient(openai_settings(server, max_retries=2)) as client:
        assert await client.complete([{"role": "user", "content": "hi"}]) == ["fine"]
        assert client.usage().agents["default"].retries == 1
    async with LLMClient(openai_settings(server, model="not-served")) as client:
        with pytest.raises(UnknownModel):
            await client.complete([{"role": "user", "content": "hi"}])
    small = scripted_server(max_model_len=300, reports_max_model_len=False)  # the server's 400 tells
    async with LLMClient(openai_settings(small, max_model_len=100_000, max_tokens=200)) as client:
        with pytest.raises(ContextLengthExceeded) as caught:
            await client.complete([{"role": "user", "content": "word " * 400}])
    assert caught.value.limit == 300
    down = scripted_server()
    down.stop()
    async with LLMClient(openai_settings(down, max_retries=1)) as client:
        with pytest.raises(EndpointUnreachable):
            await client.complete([{"role": "user", "content": "hi"}])


async def test_chat_openai_times_out_as_a_transient_failure(scripted_server) -> None:
    server = scripted_server([Reply(contents=["late"], delay_s=5.0)] * 2)
    async with LLMClient(openai_settings(server, timeout_s=0.2, max_retries=1)) as client:
        with pytest.raises(Transient, match="timed out"):
            await client.complete([{"role": "user", "content": "hi"}])


async def test_chat_openai_sends_the_openai_backends_body_and_reads_its_usage(scripted_server) -> None:
    server = scripted_server([json.dumps({"code": "y = 2"})])
    async with LLMClient(openai_settings(server, temperature=0.2, top_p=0.5, max_tokens=64, seed=3)) as client:
        [reply] = await client.structured([{"role": "user", "content": "code please"}], CandidateReply)
        usage = client.usage().agents["default"]
        cards = await client._transport.endpoints[0].backend.models()
    body = server.requests[-1].body
    assert reply.code == "y = 2"
    assert (body["model"], body["temperature"], body["top_p"], body["seed"]) == (server.model, 0.2, 0.5, 3)
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "CandidateReply"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"]["additionalProperties"] is False
    # what the server reported (it counts words)
    assert usage.prompt_tokens == sum(len(message["content"].split()) for message in body["messages"])
    assert usage.completion_tokens == len(['{"code":', '"y', '=', '2"}'])
    assert [(card.id, card.max_model_len) for card in cards] == [(server.model, server.max_model_len)]


async def test_chat_openai_replies_that_break_the_schema_or_were_cut_off_are_rejected_for_the_re_ask(
        scripted_server) -> None:
    server = scripted_server(["I'd rather not.", Reply(contents=['{"code": "x = 1"}'], finish_reason="length")])
    async with LLMClient(openai_settings(server)) as client:
        with pytest.raises(OutputRejected) as prose:
            await client.structured([{"role": "user", "content": "code"}], CandidateReply)
        with pytest.raises(OutputRejected, match="cut off at the length limit"):
            await client.structured([{"role": "user", "content": "code, again"}], CandidateReply)
        usage = client.usage().agents["default"]
    assert prose.value.reply == "I'd rather not."
    assert (usage.calls, usage.failures, usage.retries, usage.truncated) == (2, 0, 0, 1)


async def test_several_base_urls_are_balanced_like_the_openai_backend(scripted_server) -> None:
    one, two = scripted_server(), scripted_server()
    async with LLMClient(openai_settings(one, concurrency=1).model_copy(
            update={"base_urls": [one.base_url, two.base_url]})) as client:
        await client.complete([{"role": "user", "content": "a"}])
        await client.complete([{"role": "user", "content": "b"}])
    assert one.call_count == 1 and two.call_count == 1


# -- settings: choosing and configuring the model ------------------------------------------------------------------


def parse(*argv: str, config: Path | None = None) -> LLMSettings:
    parser = argparse.ArgumentParser()
    add_llm_arguments(parser)
    return llm_settings_from_args(parser.parse_args([*argv, *(["--config", str(config)] if config else [])]))


def test_llm_args_read_json_or_strings_and_override_the_config_table_key_by_key(tmp_path: Path) -> None:
    assert llm_arg("timeout=30") == ("timeout", 30)
    assert llm_arg("stop=[\"###\"]") == ("stop", ["###"])
    assert llm_arg("model=gpt-4o-mini") == ("model", "gpt-4o-mini")
    assert llm_arg("name=a=b") == ("name", "a=b")
    for bad in ("novalue", "=x", "two words=1"):
        with pytest.raises(argparse.ArgumentTypeError):
            llm_arg(bad)
    config = tmp_path / "codemill.toml"
    config.write_text(f'[llm]\nbackend = "{FAKE}"\n\n[llm.langchain]\nfail_with = 503\nmax_tokens_hint = 1\n')
    settings = parse("--llm-arg", "fail_with=401", config=config)
    assert settings.backend == FAKE and settings.langchain == {"fail_with": 401, "max_tokens_hint": 1}
    assert parse("--llm", CHAT_OPENAI, "--base-url", "http://127.0.0.1:9/v1", "--model", "m").model == "m"


@pytest.mark.parametrize(("argv", "message"), [
    (["--llm", "anthropic"], "unknown LLM backend 'anthropic'"),
    (["--llm", "langchain:ChatOpenAI"], "unknown LLM backend"),
    (["--llm", "langchain:no_such_module.Chat"], "cannot import no_such_module"),
    (["--llm", "langchain:json.JSONDecoder"], "not a LangChain chat model"),
    (["--llm", "langchain:json.nothing_here"], "is nothing"),
    (["--llm", FAKE, "--llm-arg", "temperature=0.1"], "use --temperature"),
    (["--llm", CHAT_OPENAI, "--llm-arg", "max_retries=3"], "use --max-retries"),
    (["--llm-arg", "timeout=3"], "choose one with --llm langchain:module.Class"),
    (["--llm", CHAT_OPENAI, "--model", "a", "--llm-arg", "model=b"], "two model names"),
])
def test_mistakes_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        LLMClient(parse(*argv))
    assert "\n" not in str(caught.value)


def test_the_endpoint_guard_sees_the_chat_models_endpoint() -> None:
    with pytest.raises(ConfigError, match=r"remote model requests are disabled.*default endpoint of ChatOpenAI"):
        LLMClient(LLMSettings(backend=CHAT_OPENAI, api_key="k"))
    with pytest.raises(ConfigError, match="remote model requests are disabled"):
        LLMClient(LLMSettings(backend=CHAT_OPENAI, api_key="k", langchain={"base_url": "https://api.openai.com/v1"}))
    with pytest.raises(ConfigError, match="takes no base_url"):
        LLMClient(LLMSettings(backend=FAKE, base_urls=["http://127.0.0.1:9/v1"]))
    with pytest.raises(ConfigError, match="given twice"):
        LLMClient(LLMSettings(backend=CHAT_OPENAI, base_urls=["http://127.0.0.1:9/v1"],
                              langchain={"base_url": "http://127.0.0.1:8/v1"}))


def test_codemill_settings_reach_the_standard_parameters_the_class_declares(scripted_server) -> None:
    server = scripted_server()
    model = chat_model(openai_settings(server, timeout_s=7.0))
    assert (model.model_name, model.openai_api_base, model.max_retries, model.request_timeout) == \
        (server.model, server.base_url, 0, 7.0)  # the transport's retries are the one budget
    assert model.openai_api_key is not None and model.openai_api_key.get_secret_value() == "k"
    fake = chat_model(fake_settings(), fail_with=503)
    assert isinstance(fake, langchain_coder.CoderChatModel) and fake.fail_with == 503
