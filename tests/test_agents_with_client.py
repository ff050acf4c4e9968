"""The agents through the real LLM client over HTTP (scripted OpenAI-protocol server): the schemas they
send, `n` in one request, and malformed replies ending in a re-ask or a recorded failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.discriminator import RUBRICS, RubricDiscriminator
from agents.generator import LLMGenerator
from graphs.context import RunContext, SynthSettings
from graphs.state import Instance, SeedInput, SynthesisState, TaskType
from tests.fakes import Reply, ScriptedOpenAIServer, settings_for
from tools.errors import Transient
from tools.llm import LLMClient

INSTANCE = Instance(task_type=TaskType.GENERATION, task_name="Add", entry_point="add",
                    instruction="Write a Python function `add(a, b)` returning a + b.",
                    output="def add(a, b):\n    return a + b\n")
STATE = SynthesisState(seed=SeedInput(id="s", code="x = 1"), task_type=TaskType.GENERATION, instance=INSTANCE)
VERDICT = {**{name: {"reason": f"{name.replace('_', ' ')} holds for this instance", "passed": True}
              for name in RUBRICS[TaskType.GENERATION]}, "analysis": "A clear task with a correct solution."}


@pytest.fixture
async def served() -> AsyncIterator[tuple[ScriptedOpenAIServer, RunContext]]:
    with ScriptedOpenAIServer() as server:
        client = LLMClient(settings_for(server, max_retries=0))
        yield server, RunContext(settings=SynthSettings(n_candidates=3, max_reasks=1), llm=client,
                                 sandbox=None, pool=None)
        await client.aclose()


async def test_sampling_is_one_request_with_n_and_a_code_schema(served: Any) -> None:
    server, ctx = served
    server.push(Reply(contents=[json.dumps({"code": f"def add(a, b):\n    return a + b + {i}\n"}) for i in range(3)]))
    update = await LLMGenerator().sample(STATE, ctx)
    assert len(update["candidates"]) == 3 and update["candidates"][2].endswith("+ 2\n")
    [request] = server.requests
    assert request.n == 3
    schema = request.response_format["json_schema"]["schema"]
    assert schema["required"] == ["code"] and schema["properties"]["code"]["maxLength"] == 6000
    assert "return a + b\n" not in json.dumps(request.messages)  # the reference stays hidden


async def test_the_judgement_schema_requires_every_check_and_malformed_json_is_reasked(served: Any) -> None:
    server, ctx = served
    server.push(Reply(contents=['{"language_stated": {"reason": "fi']), Reply(contents=[json.dumps(VERDICT)]))
    update = await RubricDiscriminator()(STATE, ctx)
    assert update["verdict"].accepted and len(server.requests) == 2
    schema = server.requests[0].response_format["json_schema"]["schema"]
    assert schema["required"] == [*RUBRICS[TaskType.GENERATION], "analysis"]
    assert "overall" not in schema["properties"] and "accepted" not in schema["properties"]
    assert "rejected" in server.requests[1].messages[-1]["content"]


async def test_a_server_that_keeps_failing_is_not_retried_again_by_the_agent(served: Any) -> None:
    server, ctx = served
    server.push(Reply.error(500), Reply.error(500))
    with pytest.raises(Transient, match="HTTP 500"):  # an endpoint failure: not the model's outcome
        await RubricDiscriminator()(STATE, ctx)
    assert len(server.requests) == 1  # max_retries=0, and the agent does not resend it
