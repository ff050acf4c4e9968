"""`fresh_replies`: inside it the client asks the model even when the reply cache holds the answer, stores the new
reply in its place, and tasks started inside inherit it; outside it, the cache replays as always."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes import settings_for
from tests.test_llm_cache import USER, numbered_replies
from tools.llm import LLMClient
from tools.llm.client import fresh_replies


async def test_fresh_replies_ask_again_and_replace_the_cached_reply(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(numbered_replies())
    settings = settings_for(server, cache_enabled=True, cache_path=tmp_path / "cache.sqlite")
    async with LLMClient(settings) as client:
        first = await client.complete(USER)
        assert await client.complete(USER) == first and server.call_count == 1  # replayed
        with fresh_replies():
            fresh = await asyncio.ensure_future(client.complete(USER))  # a task started inside inherits it
        assert fresh != first and server.call_count == 2
        with fresh_replies(False):
            assert await client.complete(USER) == fresh and server.call_count == 2
        usage = client.usage().agents["default"]
        assert (usage.calls, usage.cache_hits) == (2, 2)
    async with LLMClient(settings) as client:  # the new reply is what the file holds now
        assert await client.complete(USER) == fresh and server.call_count == 2


async def test_fresh_replies_are_only_for_the_block_that_asks_for_them(scripted_server, tmp_path: Path) -> None:
    server = scripted_server(numbered_replies())
    settings = settings_for(server, cache_enabled=True, cache_path=tmp_path / "cache.sqlite")
    async with LLMClient(settings) as client:
        cached = await client.complete(USER)

        async def retried() -> list[str]:
            with fresh_replies():
                await asyncio.sleep(0)  # the other task runs meanwhile, outside the block
                return await client.complete(USER)

        fresh, replayed = await asyncio.gather(retried(), client.complete(USER))
    assert replayed == cached and fresh != cached and server.call_count == 2
