"""A quick reachability check of the model endpoints before a step, so that a server that is down costs one
clear line instead of a round of retries."""

from __future__ import annotations

import httpx

from tools.errors import LLMError
from tools.llm.settings import LLMSettings
from tools.llm.transport import check_endpoint_allowed


async def probe_endpoints(settings: LLMSettings, timeout_s: float = 3.0) -> None:
    """Raise LLMError naming the endpoint unless at least one answers HTTP at all (any status will do)."""
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for base_url in settings.base_urls:
            check_endpoint_allowed(base_url, settings.allow_remote)
            try:
                await client.get(base_url.rstrip("/") + "/models")
                return
            except httpx.TransportError as error:
                reason = type(error).__name__ if not str(error) else str(error)
                problems.append(f"{base_url} ({reason})")
    if problems:
        raise LLMError(f"cannot reach {'; '.join(problems)}")
