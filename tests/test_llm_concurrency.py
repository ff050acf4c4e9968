"""Requests in flight stay under the per-endpoint cap; several endpoints share the load."""

from __future__ import annotations

import asyncio

from tests.fakes import Reply, settings_for
from tools.llm import LLMClient


async def _fire(client: LLMClient, count: int) -> None:
    await asyncio.gather(*(client.complete([{"role": "user", "content": f"task {i}"}]) for i in range(count)))


async def test_in_flight_requests_never_exceed_the_cap(scripted_server) -> None:
    server = scripted_server(latency_s=0.05)
    async with LLMClient(settings_for(server, concurrency=4)) as client:
        await _fire(client, 40)
    assert server.call_count == 40
    assert server.max_in_flight == 4  # reached, never exceeded


async def test_two_endpoints_share_the_load_each_within_its_cap(scripted_server) -> None:
    one, two = scripted_server(latency_s=0.05), scripted_server(latency_s=0.05)
    async with LLMClient(settings_for(one, two, concurrency=3)) as client:
        await _fire(client, 60)
    assert one.call_count + two.call_count == 60
    assert abs(one.call_count - two.call_count) <= 6
    assert one.max_in_flight <= 3 and two.max_in_flight <= 3


async def test_a_slow_endpoint_gets_fewer_requests(scripted_server) -> None:
    fast, slow = scripted_server(latency_s=0.01), scripted_server(latency_s=0.5)
    async with LLMClient(settings_for(fast, slow, concurrency=2)) as client:
        await _fire(client, 40)
    assert fast.call_count > 3 * slow.call_count


async def test_a_failing_endpoint_is_routed_around_on_retry(scripted_server) -> None:
    broken = scripted_server(lambda request: Reply.error(503))
    healthy = scripted_server()
    async with LLMClient(settings_for(broken, healthy, max_retries=3)) as client:
        await _fire(client, 10)
        usage = client.usage().agents["default"]
    assert healthy.call_count == 10 and usage.failures == 0


async def test_each_concurrent_request_gets_its_own_reply(scripted_server) -> None:
    server = scripted_server(lambda request: Reply(contents=[f"echo {request.last_user_message}"], delay_s=0.05))
    prompts = [f"task {i}" for i in range(100)]
    async with LLMClient(settings_for(server, concurrency=8)) as client:
        replies = await asyncio.gather(*(client.complete([{"role": "user", "content": p}]) for p in prompts))
    assert replies == [[f"echo {p}"] for p in prompts]  # no reply crosses over between reused connections
    assert server.max_in_flight == 8
