"""The endpoint check before each step of a chat session (`tools.llm.preflight`): a server that is down, a key
it refuses or a model it does not serve costs one clear line, and the session goes on."""

from __future__ import annotations

from tools.llm.preflight import preflight
from tools.llm.settings import LLMSettings

STEP_TIMEOUT_S = 5.0


async def probe_endpoints(settings: LLMSettings, timeout_s: float = STEP_TIMEOUT_S) -> None:
    """Raise the typed `EndpointError` of the first endpoint unless at least one serves the model."""
    await preflight(settings, timeout_s=timeout_s)
