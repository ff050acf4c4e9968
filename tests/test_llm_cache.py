"""The reply cache: a second run makes zero calls; the key is the request as the model sees it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.fakes import Reply, settings_for
from tools.errors import RequestRejected
from tools.llm import LLMClient
from tools.llm.cache import CachedReply, ReplyCache, cache_key

USER = [{"role": "user", "content": "reverse a string"}]


class Answer(BaseModel):
    code: str


def numbered_replies():
    count = 0

    def handler(request):
        nonlocal count
        count += 1
        return [f"reply {count}.{i}" for i in range(request.n)]

    return handler


async def _batch(settings, prompts: list[str]) -> list[list[str]]:
    async with LLMClient(settings) as client:
        return await asyncio.gather(*(client.complete([{"role": "user", "content": p}], n=2) for p in prompts))


async def test_second_run_makes_zero_calls_and_replays_exactly(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(numbered_replies())
    settings = settings_for(server, cache_enabled=True, cache_path=tmp_path / "cache.sqlite")
    prompts = [f"task {i}" for i in range(20)]
    first = await _batch(settings, prompts)
    assert server.call_count == 20
    server.reset_stats()
    async with LLMClient(settings) as client:
        second = await asyncio.gather(*(client.complete([{"role": "user", "content": p}], n=2) for p in prompts))
        usage = client.usage().agents["default"]
    assert server.call_count == 0
    assert second == first
    assert (usage.calls, usage.cache_hits) == (0, 20)


async def test_cache_is_shared_across_endpoints_but_not_across_models(scripted_server, tmp_path: Path) -> None:
    one, two = scripted_server(numbered_replies()), scripted_server(numbered_replies(), also_serves=["other-model"])
    path = tmp_path / "cache.sqlite"
    async with LLMClient(settings_for(one, cache_enabled=True, cache_path=path)) as client:
        original = await client.complete(USER)
    async with LLMClient(settings_for(two, cache_enabled=True, cache_path=path)) as client:
        assert await client.complete(USER) == original  # another server, same model: replayed
    assert two.call_count == 0
    async with LLMClient(settings_for(two, cache_enabled=True, cache_path=path, model="other-model")) as client:
        await client.complete(USER)
    assert two.call_count == 1


async def test_seed_n_sampling_and_schema_are_part_of_the_key(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(lambda request: ['{"code": "x[::-1]"}'] * request.n)
    async with LLMClient(settings_for(server, cache_enabled=True, cache_path=tmp_path / "c.sqlite")) as client:
        await client.complete(USER, seed=1)
        await client.complete(USER, seed=1)  # hit
        await client.complete(USER, seed=2)
        await client.complete(USER, seed=1, n=2)
        await client.complete(USER, seed=1, temperature=0.0)
        await client.structured(USER, Answer, seed=1)
        await client.structured(USER, Answer, seed=1)  # hit
        usage = client.usage().agents["default"]
    assert server.call_count == 5
    assert usage.cache_hits == 2


async def test_identical_concurrent_requests_are_sent_once(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(lambda request: Reply(contents=["shared"], delay_s=0.2))
    async with LLMClient(settings_for(server, cache_enabled=True, cache_path=tmp_path / "c.sqlite")) as client:
        replies = await asyncio.gather(*(client.complete(USER) for _ in range(10)))
    assert replies == [["shared"]] * 10
    assert server.call_count == 1


async def test_failures_are_not_cached(scripted_server, tmp_path: Path) -> None:
    server = scripted_server([Reply.error(400, "nope"), "works now"])
    async with LLMClient(settings_for(server, cache_enabled=True, cache_path=tmp_path / "c.sqlite")) as client:
        with pytest.raises(RequestRejected):
            await client.complete(USER)
        assert await client.complete(USER) == ["works now"]
    assert server.call_count == 2


async def test_no_cache_means_every_call_reaches_the_model(scripted_server, tmp_path: Path) -> None:
    server = scripted_server()
    path = tmp_path / "c.sqlite"
    async with LLMClient(settings_for(server, cache_enabled=False, cache_path=path)) as client:
        await client.complete(USER)
        await client.complete(USER)
    assert server.call_count == 2
    assert not path.exists()


def test_key_ignores_dict_order_but_not_content() -> None:
    a = {"model": "m", "messages": USER, "n": 1, "temperature": 0.5}
    b = {"temperature": 0.5, "n": 1, "messages": USER, "model": "m"}
    assert cache_key(a) == cache_key(b)
    assert cache_key(a) != cache_key({**a, "temperature": 0.6})


async def test_every_reply_is_committed_to_the_file_when_the_client_closes(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(lambda request: f"answer to {request.last_user_message}")
    path = tmp_path / "c.sqlite"
    async with LLMClient(settings_for(server, cache_enabled=True, cache_path=path, concurrency=8)) as client:
        await asyncio.gather(*(client.complete([{"role": "user", "content": f"task {i}"}]) for i in range(50)))
    with sqlite3.connect(path) as db:  # another connection, as another process would see the file
        stored = [json.loads(reply)["texts"] for (reply,) in db.execute("SELECT reply FROM replies")]
    assert sorted(stored) == sorted([[f"answer to task {i}"] for i in range(50)])


async def test_store_replaces_a_keys_reply_before_and_after_it_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"

    async def never() -> CachedReply:
        raise AssertionError("a key with a reply is not asked")

    old, new, newer = (CachedReply(texts=[text]) for text in ("old", "new", "newer"))
    cache = ReplyCache(path)
    cache.store("k", old)
    cache.close()
    cache = ReplyCache(path)
    try:
        assert await cache.get_or_compute("k", never) == (old, True)
        cache.store("k", new)  # the committed reply is replaced at once, before the writer commits the new one
        assert await cache.get_or_compute("k", never) == (new, True) and len(cache) == 1
        cache.store("k", newer)
    finally:
        cache.close()
    with sqlite3.connect(path) as db:
        assert [json.loads(reply)["texts"] for (reply,) in db.execute("SELECT reply FROM replies")] == [["newer"]]
