"""Structured replies: json_schema response_format first, the prompt-only fallback per schema, rejections.

One `structured` call is one request: re-asking is the agent's loop (tests/test_llm_faults.py)."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tests.fakes import ChatRequest, Reply, settings_for
from tools.errors import OutputRejected, RequestRejected
from tools.llm import LLMClient

USER = [{"role": "system", "content": "You judge code."}, {"role": "user", "content": "Is this correct?"}]


class Verdict(BaseModel):
    verdict: Literal["correct", "wrong"]
    reason: str = Field(max_length=200)


GOOD = '{"verdict": "correct", "reason": "handles the empty list"}'


async def test_asks_for_strict_json_schema_and_validates(scripted_server) -> None:
    server = scripted_server([GOOD])
    async with LLMClient(settings_for(server)) as client:
        verdicts = await client.structured(USER, Verdict)
    assert verdicts == [Verdict(verdict="correct", reason="handles the empty list")]
    response_format = server.requests[0].response_format
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Verdict"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["properties"] == Verdict.model_json_schema()["properties"]
    assert schema["additionalProperties"] is False  # a constrained decoder may not invent keys
    assert server.requests[0].messages == USER  # no prompt instructions needed when the server constrains


def _rejects_response_format(replies: list[str]):
    queue = list(replies)

    def handler(request: ChatRequest) -> Reply | str:
        if request.response_format is not None:
            return Reply.error(400, "response_format is not supported")
        return queue.pop(0)

    return handler


async def test_falls_back_to_prompt_instructions_when_the_server_rejects_response_format(scripted_server) -> None:
    reply = f"Here is my verdict:\n```json\n{GOOD}\n```\nHope this helps."
    server = scripted_server(_rejects_response_format([reply, reply]))
    async with LLMClient(settings_for(server)) as client:
        first = await client.structured(USER, Verdict)
        second = await client.structured(USER, Verdict)
    assert first == second == [Verdict(verdict="correct", reason="handles the empty list")]
    # one rejected attempt, then the fallback; the second call goes straight to the fallback
    assert [request.response_format is not None for request in server.requests] == [True, False, False]
    system = server.requests[1].messages[0]
    assert system["role"] == "system" and system["content"].startswith("You judge code.")
    assert '"verdict"' in system["content"] and "JSON" in system["content"]


async def test_an_invalid_reply_is_one_request_rejected_with_its_text_and_reason(scripted_server) -> None:
    bad = '{"verdict": "maybe", "reason": "unsure"}'
    server = scripted_server([bad, GOOD])
    async with LLMClient(settings_for(server)) as client:
        with pytest.raises(OutputRejected) as caught:
            await client.structured(USER, Verdict, agent="discriminator")
    assert server.call_count == 1  # the client never re-asks: the agent's loop owns the budget
    assert caught.value.reply == bad  # shown back to the model by the re-ask
    assert "'correct' or 'wrong'" in str(caught.value)  # pydantic's own message, for the model


@pytest.mark.parametrize("bad", ['{"verdict": "correct", "reason": "cut off', "I think it is fine.",
                                 '{"verdict": "wrong"}', '{"verdict": "wrong", "reason": "' + "x" * 300 + '"}'])
async def test_every_kind_of_invalid_reply_names_its_problem(scripted_server, bad: str) -> None:
    server = scripted_server(lambda request: bad)
    async with LLMClient(settings_for(server)) as client:
        with pytest.raises(OutputRejected) as caught:
            await client.structured(USER, Verdict, agent="judge")
    assert server.call_count == 1
    message = str(caught.value)
    assert any(hint in message for hint in ("incomplete", "no JSON", "Field required", "at most 200"))


async def test_n_samples_return_only_the_valid_ones(scripted_server) -> None:
    server = scripted_server([[GOOD, "not json", '{"verdict": "wrong", "reason": "off by one"}', "{}"]])
    async with LLMClient(settings_for(server)) as client:
        verdicts = await client.structured(USER, Verdict, n=4)
    assert [v.verdict for v in verdicts] == ["correct", "wrong"]
    assert server.call_count == 1 and server.requests[0].n == 4


async def test_a_rejection_unrelated_to_response_format_is_not_masked(scripted_server) -> None:
    server = scripted_server(lambda request: Reply.error(400, "prompt is longer than the context"))
    async with LLMClient(settings_for(server)) as client:
        with pytest.raises(RequestRejected, match="longer than the context"):
            await client.structured(USER, Verdict)
        assert client.usage().prompt_only_requests == {}  # the fallback failed too: nothing learned
    assert server.call_count == 2


async def test_the_fallback_is_per_schema_logged_once_and_counted(scripted_server, caplog) -> None:
    class Other(BaseModel):
        code: str

    def handler(request: ChatRequest) -> Reply | str:
        name = (request.response_format or {}).get("json_schema", {}).get("name")
        if name == "Verdict":
            return Reply.error(400, "this schema is not supported by the grammar backend")
        return '{"code": "x"}' if name == "Other" else GOOD

    server = scripted_server(handler)
    async with LLMClient(settings_for(server)) as client:
        await client.structured(USER, Verdict)
        await client.structured(USER, Other)
        await client.structured(USER, Verdict)
        assert client.usage().prompt_only_requests == {"Verdict": 2}
    formats = [(request.response_format or {}).get("json_schema", {}).get("name") for request in server.requests]
    assert formats == ["Verdict", None, "Other", None]  # Other keeps constrained decoding
    warnings = [record.getMessage() for record in caplog.records if "refused response_format" in record.getMessage()]
    assert len(warnings) == 1 and "Verdict" in warnings[0] and "grammar backend" in warnings[0]


async def test_fallback_output_with_trailing_commas_and_prose_is_accepted(scripted_server) -> None:
    reply = 'Sure! {"verdict": "wrong", "reason": "misses n=0",} Let me know.'
    server = scripted_server(_rejects_response_format([reply]))
    async with LLMClient(settings_for(server)) as client:
        verdicts = await client.structured(USER, Verdict)
    assert verdicts == [Verdict(verdict="wrong", reason="misses n=0")]
    assert json.loads(json.dumps(server.requests[1].body))["n"] == 1
