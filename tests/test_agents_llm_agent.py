"""The shared LLM-agent helper: validate, re-ask with the error a bounded number of times, then give up."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, Field

from agents.llm_agent import GaveUp, LLMAgent
from graphs.state import SeedInput, SynthesisState, TaskType
from tests.scripted_chat import ScriptedChat, scripted_context
from tools.errors import ContextLengthExceeded, LLMError, OutputRejected


class Number(BaseModel):
    value: int = Field(ge=0, le=100)


class EvenAgent(LLMAgent):
    name: ClassVar[str] = "even"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"seed"})
    writes: ClassVar[frozenset[str]] = frozenset({"failures"})

    async def pick(self, state: SynthesisState, ctx: Any, n: int = 1) -> list[int]:
        def even(reply: Number) -> int:
            if reply.value % 2:
                raise OutputRejected(f"{reply.value} is odd; give an even number")
            return reply.value

        messages = [{"role": "user", "content": "An even number, please."}]
        return await self.ask(state, ctx, messages, Number, even, stage="pick", temperature=0.3, n=n)


STATE = SynthesisState(seed=SeedInput(id="s1", code="x = 1"), task_type=TaskType.GENERATION)


async def test_a_valid_first_reply_is_one_call() -> None:
    chat = ScriptedChat({"even": [{"value": 4}]})
    ctx, events = scripted_context(chat)
    assert await EvenAgent().pick(STATE, ctx) == [4]
    [call] = chat.calls
    assert call.schema is Number and call.params == {"temperature": 0.3} and call.n == 1
    assert [event.kind for event in events] == ["output"] and events[0].thread == "s1:generation"


async def test_a_rejected_reply_is_shown_back_to_the_model_with_the_reason() -> None:
    chat = ScriptedChat({"even": [{"value": 3}, {"value": 8}]})
    ctx, events = scripted_context(chat)
    assert await EvenAgent().pick(STATE, ctx) == [8]
    second = chat.calls[1].messages
    assert second[0] == chat.calls[0].messages[0]
    assert second[1] == {"role": "assistant", "content": '{"value":3}'}
    assert second[2]["role"] == "user" and "3 is odd; give an even number" in second[2]["content"]
    assert [event.kind for event in events] == ["rejected", "output"]


async def test_a_schema_rejection_is_reasked_but_an_endpoint_error_is_not_retried_again() -> None:
    chat = ScriptedChat({"even": [OutputRejected("reply is not JSON: Expecting value", reply="{oops"),
                                  LLMError("http://127.0.0.1:9/v1 (model m): 503"), {"value": 2}]})
    ctx, _ = scripted_context(chat, max_reasks=2)
    with pytest.raises(LLMError, match="503"):  # the transport already retried it: not the agent's to resend
        await EvenAgent().pick(STATE, ctx)
    assert len(chat.calls) == 2 and chat.remaining("even") == 1
    assert chat.calls[1].messages[-2] == {"role": "assistant", "content": "{oops"}  # roles alternate
    assert "reply is not JSON" in chat.calls[1].messages[-1]["content"]  # the model hears about its JSON


async def test_gives_up_after_the_bound_with_a_failure_naming_the_last_reason() -> None:
    chat = ScriptedChat({"even": [{"value": 1}, {"value": 3}, {"value": 5}, {"value": 6}]})
    ctx, _ = scripted_context(chat, max_reasks=2)
    with pytest.raises(GaveUp) as caught:
        await EvenAgent().pick(STATE, ctx)
    assert len(chat.calls) == 3 and chat.remaining("even") == 1
    failure = caught.value.failure
    assert failure.agent == "even" and failure.stage == "pick" and failure.error_type == "OutputRejected"
    assert failure.message == "gave up after 3 attempts: 5 is odd; give an even number"


async def test_no_reasks_means_exactly_one_call() -> None:
    chat = ScriptedChat({"even": [{"value": 1}]})
    ctx, _ = scripted_context(chat, max_reasks=0)
    with pytest.raises(GaveUp) as caught:
        await EvenAgent().pick(STATE, ctx)
    assert len(chat.calls) == 1
    assert caught.value.failure.message == "gave up after 1 attempt: 1 is odd; give an even number"


async def test_a_prompt_too_long_for_the_model_fails_the_stage_at_once() -> None:
    chat = ScriptedChat({"even": [ContextLengthExceeded("the prompt takes 3000 tokens", 2048), {"value": 2}]})
    ctx, _ = scripted_context(chat, max_reasks=2)
    with pytest.raises(GaveUp) as caught:
        await EvenAgent().pick(STATE, ctx)
    assert len(chat.calls) == 1  # never resent unchanged
    failure = caught.value.failure
    assert failure.error_type == "ContextLengthExceeded" and "3000 tokens" in failure.message


async def test_with_n_the_valid_replies_are_kept_and_extra_replies_ignored() -> None:
    chat = ScriptedChat({"even": [[{"value": 2}, {"value": 3}, {"value": 4}, {"value": 6}]]})
    ctx, _ = scripted_context(chat)
    assert await EvenAgent().pick(STATE, ctx, n=3) == [2, 4]  # the 4th reply exceeds n
    assert chat.calls[0].n == 3


async def test_with_n_all_rejected_reasks_with_the_first_reason() -> None:
    chat = ScriptedChat({"even": [[{"value": 1}, {"value": 3}], [{"value": 10}]]})
    ctx, events = scripted_context(chat)
    assert await EvenAgent().pick(STATE, ctx, n=2) == [10]
    assert events[0].payload["error"] == "all 2 replies rejected; the first because: 1 is odd; give an even number"
