"""A LangChain chat model on the same settings, for code that wants LangChain's interfaces (tools, chains).

Agents use `LLMClient` (cache, balancing, usage); this is the escape hatch, and it obeys the same
remote-request switch. It talks to the first base URL only.
"""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI

from tools.errors import ConfigError
from tools.llm.settings import LLMSettings
from tools.llm.transport import check_endpoint_allowed


def chat_model(settings: LLMSettings, **overrides: Any) -> ChatOpenAI:
    """`ChatOpenAI` pointed at `settings.base_urls[0]` with the model, key, sampling and retry settings."""
    if not settings.base_urls:
        raise ConfigError("no model endpoint: give --base-url URL (or CODEMILL_BASE_URL)")
    check_endpoint_allowed(settings.base_urls[0], settings.allow_remote)
    options: dict[str, Any] = {
        "model": settings.model, "base_url": settings.base_urls[0], "api_key": settings.api_key,
        "temperature": settings.temperature, "top_p": settings.top_p, "max_completion_tokens": settings.max_tokens,
        "seed": settings.seed, "timeout": settings.timeout_s, "max_retries": settings.max_retries,
    }
    return ChatOpenAI(**{**options, **overrides})
