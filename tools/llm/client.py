"""LLMClient: the one way agents talk to a model — cached, retried, bounded, load-balanced, counted.

Speaks the OpenAI chat-completions protocol over httpx itself (see transport.py) rather than through
langchain-openai's ChatOpenAI or the `openai` SDK: it needs direct control of the request body (`n` in one
request, `response_format`, vLLM's extra fields), per-request usage and the HTTP status (which decides retry
vs. reject), and per-request CPU low enough to keep a server's every slot busy. Agents that want a LangChain
chat model can still build one from the same `LLMSettings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from tools.errors import LLMError, OutputRejected
from tools.llm.cache import CachedReply, ReplyCache, cache_key
from tools.llm.settings import LLMSettings
from tools.llm.structured import parse_replies, response_format, with_json_instructions, with_reask
from tools.llm.transport import RequestRejected, Transport
from tools.llm.usage import UsageCounter, UsageReport

T = TypeVar("T", bound=BaseModel)

# Statuses with which OpenAI-compatible servers refuse a `response_format` they do not support.
_UNSUPPORTED_FORMAT_STATUSES = (400, 422)


class LLMClient:
    """Chat completions (`complete`) and validated structured replies (`structured`) from `LLMSettings`."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._transport = Transport(settings)
        use_cache = settings.cache_enabled and settings.cache_path is not None
        self._cache = ReplyCache(settings.cache_path) if use_cache and settings.cache_path else None
        self._usage = UsageCounter()
        # Set once a server refused response_format and the prompt-only fallback worked.
        self.response_format_unsupported = False

    def _body(self, messages: Sequence[dict[str, str]], n: int, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "messages": [dict(m) for m in messages], "n": n,
                                **self.settings.sampling(), **params}
        return {key: value for key, value in body.items() if value is not None}  # `seed=None` unsets a default

    async def _request(self, body: dict[str, Any], agent: str) -> list[str]:
        usage = self._usage.of(agent)

        def count_retry() -> None:
            usage.retries += 1

        async def call_model() -> CachedReply:
            reply = await self._transport.chat(body, on_retry=count_retry)
            self._usage.record_call(agent, reply.prompt_tokens, reply.completion_tokens, reply.latency_s)
            return CachedReply(texts=reply.texts, prompt_tokens=reply.prompt_tokens,
                               completion_tokens=reply.completion_tokens)

        try:
            if self._cache is None:
                return (await call_model()).texts
            reply, hit = await self._cache.get_or_compute(cache_key(body), call_model)
        except LLMError:
            usage.failures += 1
            raise
        if hit:
            usage.cache_hits += 1
        return reply.texts

    async def complete(
        self, messages: Sequence[dict[str, str]], *, agent: str = "default", n: int = 1, **params: Any
    ) -> list[str]:
        """`n` completions of the conversation (one request); `params` override the sampling defaults."""
        return await self._request(self._body(messages, n, params), agent)

    async def _structured_texts(
        self, messages: Sequence[dict[str, str]], schema: type[BaseModel], agent: str, n: int,
        params: dict[str, Any],
    ) -> list[str]:
        fallback = self._body(with_json_instructions(messages, schema), n, params)
        if self.response_format_unsupported:
            return await self._request(fallback, agent)
        try:
            return await self._request(self._body(messages, n, {**params,
                                                                "response_format": response_format(schema)}), agent)
        except RequestRejected as error:
            if error.status not in _UNSUPPORTED_FORMAT_STATUSES:
                raise
            texts = await self._request(fallback, agent)  # raises too if the rejection was about something else
            self.response_format_unsupported = True
            return texts

    async def structured(
        self, messages: Sequence[dict[str, str]], schema: type[T], *, agent: str = "default", n: int = 1,
        **params: Any,
    ) -> list[T]:
        """Replies validated as `schema`: the valid ones of `n` samples; re-asks (bounded) while none is valid.

        Raises OutputRejected, with the validation error, when every attempt is invalid.
        """
        conversation: list[dict[str, str]] = [dict(message) for message in messages]
        problems: list[str] = []
        attempts = self.settings.structured_reasks + 1
        for _ in range(attempts):
            texts = await self._structured_texts(conversation, schema, agent, n, params)
            valid, problems = parse_replies(texts, schema)
            if valid:
                return valid
            conversation = with_reask(conversation, texts[0] if texts else "", problems[0] if problems else
                                      "empty reply")
        reason = problems[0] if problems else "the server returned no choices"
        raise OutputRejected(f"{agent}: no reply matched {schema.__name__} in {attempts} attempts; "
                             f"last error: {reason}")

    def usage(self) -> UsageReport:
        """Calls, cache hits, failures, retries, tokens and latency per agent so far."""
        return self._usage.report()

    async def aclose(self) -> None:
        await self._transport.aclose()
        if self._cache is not None:
            self._cache.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
