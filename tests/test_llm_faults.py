"""The fault suite at the client + agent level, against a scripted server as strict as vLLM with a strict chat
template: one fault mode per test, each ending in its typed error or recorded outcome, with the number of
requests the server saw asserted (the bound). The end-to-end fault suite (synth, resume) is elsewhere."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, Field

from agents.generator import LLMGenerator
from agents.llm_agent import GaveUp, LLMAgent
from graphs.context import RunContext, SynthSettings
from graphs.state import SeedInput, SynthesisState, TaskType
from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer, first_invalid, prompt_tokens, settings_for
from tools.errors import (
    AuthFailed,
    ContextLengthExceeded,
    EndpointUnreachable,
    OutputRejected,
    RoleOrderRejected,
    Transient,
    UnknownModel,
)
from tools.llm import LLMClient
from tools.llm.preflight import preflight
from tools.llm.transport import backoff_s

GOOD = '{"value": 4}'
STATE = SynthesisState(seed=SeedInput(id="s1", code="def f(x):\n    return x\n"), task_type=TaskType.GENERATION)


class Number(BaseModel):
    value: int = Field(ge=0, le=100)


class Pick(LLMAgent):
    """Asks for an even number: the schema is checked by the client, evenness by the agent."""

    name: ClassVar[str] = "pick"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"seed"})
    writes: ClassVar[frozenset[str]] = frozenset({"failures"})

    async def pick(self, ctx: RunContext, prompt: str = "An even number, please.") -> int:
        def even(reply: Number) -> int:
            if reply.value % 2:
                raise OutputRejected(f"{reply.value} is odd; give an even number")
            return reply.value

        messages = [{"role": "system", "content": "You pick numbers."}, {"role": "user", "content": prompt}]
        [value] = await self.ask(STATE, ctx, messages, Number, even, stage="pick", temperature=0.0)
        return value


Serve = Callable[..., AsyncIterator[tuple[ScriptedOpenAIServer, LLMClient, RunContext]]]


@pytest.fixture
def served(scripted_server: Callable[..., ScriptedOpenAIServer]) -> Callable[..., Any]:
    """`async with served(script, server options..., llm=dict(...), max_reasks=2) as (server, client, ctx)`."""
    clients: list[LLMClient] = []

    class Served:
        def __init__(self, script: Any = None, *, llm: dict[str, Any] | None = None, max_reasks: int = 2,
                     **server_options: Any) -> None:
            self.server = scripted_server(script, **server_options)
            self.client = LLMClient(settings_for(self.server, **(llm or {})))
            clients.append(self.client)
            self.ctx = RunContext(settings=SynthSettings(max_reasks=max_reasks), llm=self.client, sandbox=None,
                                  pool=None)

        async def __aenter__(self) -> tuple[ScriptedOpenAIServer, LLMClient, RunContext]:
            return self.server, self.client, self.ctx

        async def __aexit__(self, *exc_info: object) -> None:
            await self.client.aclose()

    return Served


def assert_strict_template_accepted(server: ScriptedOpenAIServer) -> None:
    """Every request the server saw alternated roles and fitted the context (the server would have said)."""
    for request in server.requests:
        roles = [message["role"] for message in request.messages if message["role"] != "system"]
        assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"], roles
        assert prompt_tokens(request.messages) + int(request.body.get("max_tokens") or 0) <= server.max_model_len


# -- endpoint faults: typed errors, never resent by the agent ------------------------------------------------
async def test_401_is_auth_failed_after_one_request(served) -> None:
    async with served([GOOD], api_key="the-right-key", llm={"max_retries": 4}) as (server, _, ctx):
        with pytest.raises(AuthFailed, match="API key") as caught:
            await Pick().pick(ctx)
    assert server.call_count == 1
    assert "\n" not in str(caught.value) and server.base_url in str(caught.value)


async def test_404_unknown_model_after_one_request(served) -> None:
    async with served([GOOD], llm={"model": "no-such-model", "max_retries": 4}) as (server, _, ctx):
        with pytest.raises(UnknownModel, match="no-such-model"):
            await Pick().pick(ctx)
    assert server.call_count == 1


async def test_500_is_retried_by_the_transport_only(served) -> None:
    async with served(lambda request: Reply.error(500, "engine dead"), llm={"max_retries": 2}) as (server, client, ctx):
        with pytest.raises(Transient, match=r"HTTP 500: engine dead \(3 attempts in a row\)"):
            await Pick().pick(ctx)
        usage = client.usage().agents["pick"]
    assert server.call_count == 3  # max_retries + 1, and the agent does not multiply them
    assert (usage.retries, usage.failures, usage.calls) == (2, 1, 0)


async def test_429_waits_as_long_as_retry_after_says(served) -> None:
    async with served([Reply.error(429, "slow down", retry_after=0.3), GOOD]) as (server, client, ctx):
        started = time.monotonic()
        assert await Pick().pick(ctx) == 4
        waited = time.monotonic() - started
        assert client.usage().agents["pick"].retries == 1
    assert server.call_count == 2
    assert waited >= 0.3  # the backoff alone would be ~0.01-0.05 s (settings_for)


async def test_retry_after_is_capped_and_backoff_never_overflows(served) -> None:
    async with served([Reply.error(503, "busy", retry_after=86400), GOOD],
                      llm={"retry_after_max_s": 0.05}) as (server, _, ctx):
        assert await Pick().pick(ctx) == 4  # waited 0.05 s, not a day
    assert server.call_count == 2
    assert backoff_s(100_000, 0.5, 20.0) == 20.0  # 32 threads failing for hours: no OverflowError
    assert backoff_s(1, 0.5, 20.0) == 0.5 and backoff_s(3, 0.5, 20.0) == 2.0


@pytest.mark.parametrize("fault", [Reply(reset=True), Reply(truncate=True), Reply(no_choices=True)],
                         ids=["connection reset mid-body", "body cut off", "no choices"])
async def test_a_broken_reply_is_retried_then_a_transient_error(served, fault: Reply) -> None:
    async with served([fault, GOOD], llm={"max_retries": 1}) as (server, _, ctx):
        assert await Pick().pick(ctx) == 4
    assert server.call_count == 2
    async with served(lambda request: fault, llm={"max_retries": 1}) as (server, _, ctx):
        with pytest.raises(Transient, match="2 attempts in a row"):
            await Pick().pick(ctx)
    assert server.call_count == 2


async def test_nothing_listening_is_unreachable(served) -> None:
    async with served([GOOD], llm={"max_retries": 1}) as (server, client, ctx):
        server.stop()
        with pytest.raises(EndpointUnreachable, match="cannot connect"):
            await Pick().pick(ctx)
        assert client.usage().agents["pick"].retries == 1


# -- the strict template: roles alternate, before and after re-asks ----------------------------------------
async def test_role_order_is_kept_and_a_template_refusal_is_typed(served) -> None:
    async with served(first_invalid(1, GOOD)) as (server, client, ctx):
        assert await Pick().pick(ctx) == 4
        assert_strict_template_accepted(server)
        reask = server.requests[1].messages
        assert reask[-2] == {"role": "assistant", "content": "this is not JSON"}
        # Two user turns in a row from any caller are merged rather than refused ...
        await client.complete([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
        assert server.requests[-1].messages == [{"role": "user", "content": "one\n\ntwo"}]
        # ... and a conversation the template refuses anyway is a typed error, sent once.
        with pytest.raises(RoleOrderRejected, match="must alternate"):
            await client.complete([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}])
    assert server.call_count == 4


# -- the context window -------------------------------------------------------------------------------------
async def test_a_prompt_that_cannot_fit_fails_its_stage_before_anything_is_sent(served) -> None:
    async with served([GOOD], max_model_len=300) as (server, client, ctx):
        with pytest.raises(GaveUp) as caught:
            await Pick().pick(ctx, prompt="an even number " * 200)
        assert client.usage().context == {"too_long": 1}
    assert server.call_count == 0 and server.tokenize_calls >= 1
    failure = caught.value.failure
    assert failure.error_type == "ContextLengthExceeded" and "context of 300 tokens" in failure.message


async def test_max_tokens_shrinks_to_what_the_context_leaves(served) -> None:
    async with served([GOOD], max_model_len=1024) as (server, client, ctx):
        assert await Pick().pick(ctx, prompt="x" * 1200) == 4
        assert client.usage().context == {"max_tokens_shrunk": 1}
    [request] = server.requests
    assert request.body["max_tokens"] == 1024 - prompt_tokens(request.messages)  # the server's own count
    assert_strict_template_accepted(server)


async def test_long_reasks_are_trimmed_to_fit(served) -> None:
    long_invalid = "Let me think. " + "y" * 4000  # no JSON: re-asked with itself shown back, shortened
    async with served([long_invalid, GOOD], max_model_len=600,
                      llm={"max_tokens": 300, "min_reply_tokens": 256}) as (server, client, ctx):
        assert await Pick().pick(ctx) == 4
        assert client.usage().context.get("reasks_trimmed") == 1
    assert server.call_count == 2
    assert_strict_template_accepted(server)
    assert len(server.requests[1].messages[2]["content"]) < 1200  # the shown reply was cut further


async def test_a_servers_context_400_is_recorded_never_resent_and_learned(served) -> None:
    async with served(lambda request: GOOD, max_model_len=600, reports_max_model_len=False,
                      llm={"max_model_len": 4096, "max_tokens": 500}) as (server, client, ctx):
        with pytest.raises(GaveUp) as caught:
            await Pick().pick(ctx, prompt="z" * 1000)
        assert server.call_count == 1
        assert caught.value.failure.error_type == "ContextLengthExceeded"
        assert "maximum context length is 600" in caught.value.failure.message
        assert await Pick().pick(ctx, prompt="z" * 1000) == 4  # the next request fits what the server said
        with pytest.raises(ContextLengthExceeded):
            await client.complete([{"role": "user", "content": "w" * 4000}])  # refused before sending
    assert server.call_count == 2


# -- the model's outcomes: one budget ------------------------------------------------------------------------
@pytest.mark.parametrize(("invalid", "requests", "accepted"), [(2, 3, True), (3, 3, False), (10, 3, False)])
async def test_invalid_json_costs_at_most_max_reasks_plus_one_requests(served, invalid: int, requests: int,
                                                                       accepted: bool) -> None:
    async with served(first_invalid(invalid, GOOD), max_reasks=2) as (server, _, ctx):
        if accepted:
            assert await Pick().pick(ctx) == 4
        else:
            with pytest.raises(GaveUp) as caught:
                await Pick().pick(ctx)
            assert caught.value.failure.message.startswith("gave up after 3 attempts: the reply contains no JSON")
    assert server.call_count == requests
    assert_strict_template_accepted(server)
    assert [len(request.messages) for request in server.requests] == [2, 4, 6]


async def test_a_reply_cut_off_at_the_length_limit_is_reasked(served) -> None:
    cut = Reply(contents=['{"value": 4'], finish_reason="length")
    async with served([cut, GOOD]) as (server, client, ctx):
        assert await Pick().pick(ctx) == 4
        assert client.usage().agents["pick"].truncated == 1
    assert server.call_count == 2
    assert "cut off at the length limit" in server.requests[1].messages[-1]["content"]


DEEP = {"task_name": "Deep", "instruction": "Write a Python function `deep` returning 1.", "input": "",
        "entry_point": "deep", "solution": "x = " + "-" * 5000 + "1\ndef deep():\n    return 1\n"}
FINE = {**DEEP, "solution": "def deep():\n    return 1\n"}


async def test_schema_valid_deep_code_is_a_rejected_reply_and_replays_as_one(served, tmp_path) -> None:
    cache = {"cache_enabled": True, "cache_path": tmp_path / "cache.sqlite"}
    async with served([json.dumps(DEEP), json.dumps(FINE)], llm=cache) as (server, _, ctx):
        update = await LLMGenerator()(STATE, ctx)
    assert update["instance"].output == FINE["solution"] and server.call_count == 2
    assert "nested too deeply" in server.requests[1].messages[-1]["content"]
    async with served(lambda request: json.dumps(DEEP), llm=cache) as (server, _, ctx):
        update = await LLMGenerator()(STATE, ctx)  # the cached deep reply is rejected again, not accepted
        assert update["instance"].output == FINE["solution"] and server.call_count == 0
        again = await LLMGenerator()(STATE.model_copy(update={"attempt": 1}), ctx)  # a new seed: asked anew
    assert "instance" not in again and server.call_count == 3
    [failure] = again["failures"]
    assert failure.error_type == "OutputRejected" and "nested too deeply" in failure.message


async def test_deeply_nested_json_is_rejected_not_a_crash(served) -> None:
    async with served(["[" * 100_000 + "]" * 100_000]) as (server, client, _):
        with pytest.raises(OutputRejected, match="nested too deeply"):
            await client.structured([{"role": "user", "content": "n"}], Number)
    assert server.call_count == 1


# -- seeds, caching, live counters -------------------------------------------------------------------------
async def test_with_seeds_off_nothing_carries_a_seed_but_retries_still_differ(served, tmp_path) -> None:
    cache = {"cache_enabled": True, "cache_path": tmp_path / "cache.sqlite", "seed": None}
    user = [{"role": "user", "content": "a number"}]
    async with served(lambda request: f"reply {request.index}", llm=cache) as (server, client, _):
        first = await client.complete(user, seed=11)
        second = await client.complete(user, seed=12)  # e.g. the generator's next attempt
        assert await client.complete(user, seed=11) == first  # a re-run replays
    assert first != second and server.call_count == 2
    assert all("seed" not in request.body for request in server.requests)


async def test_usage_is_readable_while_requests_are_in_flight(served) -> None:
    release = threading.Event()

    def handler(request: ChatRequest) -> Reply:
        if "slow" in request.last_user_message:
            release.wait(10)
        return Reply(contents=["done"])

    async with served(handler) as (_, client, _):
        slow = asyncio.ensure_future(client.complete([{"role": "user", "content": "slow"}], agent="a"))
        await client.complete([{"role": "user", "content": "fast"}], agent="a")
        usage = client.usage().agents["a"]
        assert (usage.calls, client.in_flight) == (1, 1)  # counted as it ended, not at the end of the batch
        release.set()
        await slow
        assert client.usage().agents["a"].calls == 2


# -- preflight ------------------------------------------------------------------------------------------------
async def test_preflight_reports_the_model_and_its_context(scripted_server) -> None:
    server = scripted_server(max_model_len=2048)
    report = await preflight(settings_for(server))
    assert report.usable == [server.base_url] and report.max_model_len == 2048 and report.warnings == []
    assert server.call_count == 0


async def test_preflight_unknown_model_names_it_and_what_the_server_has(scripted_server) -> None:
    server = scripted_server(also_serves=["tiny-coder"])
    with pytest.raises(UnknownModel) as caught:
        await preflight(settings_for(server, model="qwen-coder"))
    message = str(caught.value)
    assert "'qwen-coder'" in message and "scripted-model, tiny-coder" in message and "\n" not in message


async def test_preflight_bad_key_is_one_line_about_the_key(scripted_server) -> None:
    server = scripted_server(api_key="secret")
    with pytest.raises(AuthFailed, match="API key") as caught:
        await preflight(settings_for(server, api_key="wrong"))
    assert "\n" not in str(caught.value)
    assert (await preflight(settings_for(server, api_key="secret"))).usable == [server.base_url]


async def test_preflight_nothing_listening_is_one_line_fast(scripted_server) -> None:
    server = scripted_server()
    server.stop()
    with pytest.raises(EndpointUnreachable, match="cannot connect") as caught:
        await preflight(settings_for(server))
    assert "\n" not in str(caught.value)


async def test_preflight_a_server_that_never_answers_is_unreachable_within_the_bound() -> None:
    hung: list[asyncio.StreamWriter] = []

    async def accept_and_hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)

    listener = await asyncio.start_server(accept_and_hang, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        from tools.llm import LLMSettings

        settings = LLMSettings(base_urls=[f"http://127.0.0.1:{port}/v1"], model="m", cache_enabled=False)
        with pytest.raises(EndpointUnreachable, match="did not answer"):
            await preflight(settings, timeout_s=0.5)
    finally:
        for writer in hung:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_preflight_drops_a_failing_endpoint_while_another_answers(scripted_server) -> None:
    good, dead, wrong = scripted_server(), scripted_server(), scripted_server(model="other")
    dead.stop()
    settings = settings_for(good, dead, wrong)
    report = await preflight(settings)
    assert report.usable == [good.base_url]
    assert len(report.warnings) == 2
    assert dead.base_url in report.warnings[0] and "cannot connect" in report.warnings[0]
    assert wrong.base_url in report.warnings[1] and "scripted-model" in report.warnings[1]
    assert report.apply(settings).base_urls == [good.base_url]


def test_what_leaves_a_thread_unfinished_is_named_for_string_records() -> None:
    from tools.errors import RequestRejected, endpoint_error_names

    names = endpoint_error_names()
    for error in (EndpointUnreachable, Transient, RequestRejected, AuthFailed, UnknownModel, RoleOrderRejected):
        assert error.__name__ in names
    assert not names & {"ContextLengthExceeded", "OutputRejected", "LLMError"}  # recorded outcomes of a stage
