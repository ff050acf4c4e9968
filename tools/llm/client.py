"""LLMClient: the one way agents talk to a model — fitted to the context, cached, balanced, retried, counted.

One call is one model request (plus transport retries of transient failures, `max_retries` at most, and,
once per schema a server refuses to enforce, the same question asked by prompt instead). The client never
re-asks a model about an invalid reply: that is the agent's loop (`agents.llm_agent`), the one budget. For
`structured`, a reply that fails its schema raises `OutputRejected` carrying the reply, so the re-ask can show
it back to the model. Endpoint failures raise `EndpointError` subclasses; a prompt too long for the model
raises `ContextLengthExceeded`, before it is sent when the client can tell.

With seeds switched off (`seed = none`), the `seed` a caller passes is not sent, but it still keys the reply
cache, so a retry with its own seed is asked anew rather than replayed.

Inside `fresh_replies()` (the batch runner's `--retry-failed` threads) the cache is not read, only written: a
thread retried because it failed asks the model again instead of replaying the replies it failed with, and a
later replay gives the new replies.

The backend is `settings.backend`: the OpenAI protocol (one `OpenAIBackend` per base URL) or a LangChain chat model
(`tools.llm.langchain_backend`); everything above the seam is the same for both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import BaseModel

from tools.errors import ConfigError, ContextLengthExceeded, LLMError, OutputRejected, RequestRejected
from tools.llm.backend import OPENAI, ChatBackend, ChatRequest, Message
from tools.llm.cache import CachedReply, ReplyCache, cache_key
from tools.llm.context import ContextWindow
from tools.llm.conversation import alternating
from tools.llm.openai_backend import OpenAIBackend
from tools.llm.settings import LLMSettings
from tools.llm.structured import FormatSupport, parse_choices, response_format, with_json_instructions
from tools.llm.transport import Transport, check_endpoint_allowed
from tools.llm.usage import UsageCounter, UsageReport, counters_for

T = TypeVar("T", bound=BaseModel)

# Statuses with which OpenAI-compatible servers refuse a `response_format` they do not support.
_UNSUPPORTED_FORMAT_STATUSES = (400, 422)

# Whether the requests made now skip reading the reply cache (set by `fresh_replies`, inherited by the asyncio
# tasks LangGraph starts for a thread's nodes, like the per-thread usage counter in `tools.llm.usage`).
_fresh_replies: ContextVar[bool] = ContextVar("codemill_fresh_replies", default=False)


@contextmanager
def fresh_replies(fresh: bool = True) -> Iterator[None]:
    """Inside this block (and the tasks it starts), when `fresh`, every request goes to the model: cached replies
    are not replayed, new ones are still stored."""
    token = _fresh_replies.set(fresh)
    try:
        yield
    finally:
        _fresh_replies.reset(token)


def openai_backends(settings: LLMSettings) -> list[ChatBackend]:
    """One `OpenAIBackend` per base URL (each allowed by the remote-request switch)."""
    for url in settings.base_urls:
        check_endpoint_allowed(url, settings.allow_remote)
    return [OpenAIBackend(url, settings) for url in settings.base_urls]


def backends_for(settings: LLMSettings) -> list[ChatBackend]:
    """The backends `settings.backend` names: `openai` (one per base URL) or `langchain:module.Class`."""
    if settings.backend == OPENAI:
        return openai_backends(settings)
    from tools.llm.langchain_backend import langchain_backends  # LangChain is imported only when it is used

    return list(langchain_backends(settings))


def client_settings(settings: LLMSettings) -> LLMSettings:
    """`settings` as the client uses them: a LangChain model's own name as `model` (requests, cache, manifest)."""
    if settings.backend == OPENAI:
        if settings.langchain:
            raise ConfigError("LangChain settings ([llm.langchain], --llm-arg) are for a LangChain chat model: "
                              "choose one with --llm langchain:module.Class")
        return settings
    from tools.llm.langchain import with_model_name

    return with_model_name(settings)


class LLMClient:
    """Chat completions (`complete`) and schema-valid replies (`structured`) from `LLMSettings`, through the
    backends `settings.backend` names, or the given `backends`."""

    def __init__(self, settings: LLMSettings, *, backends: Sequence[ChatBackend] | None = None) -> None:
        settings = client_settings(settings)
        self.settings = settings
        backends = backends_for(settings) if backends is None else list(backends)
        self._transport = Transport(settings, backends)
        self._window = ContextWindow(settings, backends)
        self._formats = FormatSupport()
        use_cache = settings.cache_enabled and settings.cache_path is not None
        self._cache = ReplyCache(settings.cache_path) if use_cache and settings.cache_path else None
        self._usage = UsageCounter()

    def _request(self, messages: Sequence[Message], n: int, params: dict[str, Any]) -> tuple[ChatRequest, str]:
        """The request to send and its cache key."""
        merged = {key: value for key, value in {**self.settings.sampling(), **params}.items() if value is not None}
        unsent_seed = merged.pop("seed", None) if self.settings.seed is None else None
        request = ChatRequest(self.settings.model, alternating(messages), n, merged)
        body = request.body()
        if unsent_seed is not None:
            body["unsent_seed"] = unsent_seed
        return request, cache_key(body)

    async def _ask(self, request: ChatRequest, key: str, agent: str) -> CachedReply:
        counters = counters_for(self._usage)
        usages = [counter.of(agent) for counter in counters]

        def count_retry() -> None:
            for usage in usages:
                usage.retries += 1

        async def call_model() -> CachedReply:
            fitted = await self._window.fit(request)
            reply = await self._transport.chat(fitted, on_retry=count_retry)
            for counter in counters:
                counter.record_call(agent, reply.prompt_tokens, reply.completion_tokens, reply.latency_s)
            return CachedReply(texts=reply.texts, finish_reasons=reply.finish_reasons,
                               max_tokens=fitted.params.get("max_tokens"), prompt_tokens=reply.prompt_tokens,
                               completion_tokens=reply.completion_tokens)

        try:
            if self._cache is not None and not _fresh_replies.get():
                reply, hit = await self._cache.get_or_compute(key, call_model)
            else:
                reply, hit = await call_model(), False
                if self._cache is not None:  # asked anew: the new reply replaces the stale one for later replays
                    self._cache.store(key, reply)
        except LLMError as error:
            for usage in usages:
                usage.failures += 1
            if isinstance(error, ContextLengthExceeded) and error.limit:
                self._window.learn(error.limit)
            raise
        for usage in usages:
            usage.cache_hits += hit
            usage.truncated += reply.finish_reasons.count("length")
        return reply

    async def complete(
        self, messages: Sequence[Message], *, agent: str = "default", n: int = 1, **params: Any
    ) -> list[str]:
        """`n` completions of the conversation (one request); `params` override the sampling defaults."""
        return (await self._ask(*self._request(messages, n, params), agent)).texts

    async def _structured_reply(
        self, messages: Sequence[Message], schema: type[BaseModel], agent: str, n: int, params: dict[str, Any],
    ) -> CachedReply:
        if not self._formats.prompt_only(schema):
            constrained = {**params, "response_format": response_format(schema)}
            try:
                return await self._ask(*self._request(messages, n, constrained), agent)
            except RequestRejected as error:
                # A plain 400/422 may be the server refusing response_format; the typed refusals (key, model,
                # role order) are not. Ask by prompt once: if that is refused too, it was not the format.
                if type(error) is not RequestRejected or error.status not in _UNSUPPORTED_FORMAT_STATUSES:
                    raise
                reply = await self._ask(*self._request(with_json_instructions(messages, schema), n, params), agent)
                self._formats.refused(schema, str(error))
                self._formats.counted(schema)
                return reply
        self._formats.counted(schema)
        return await self._ask(*self._request(with_json_instructions(messages, schema), n, params), agent)

    async def structured(
        self, messages: Sequence[Message], schema: type[T], *, agent: str = "default", n: int = 1, **params: Any,
    ) -> list[T]:
        """The replies of one request with `n` choices that are valid `schema` instances (invalid ones are
        dropped). Raises OutputRejected, with the first choice's text and why it was rejected, when none is."""
        reply = await self._structured_reply(messages, schema, agent, n, params)
        valid, problems = parse_choices(reply.texts, reply.finish_reasons, schema, reply.max_tokens)
        if valid:
            return valid
        reason = problems[0] if problems else "the server returned no choices"
        if len(problems) > 1:
            reason = f"all {len(problems)} replies were rejected; the first because: {reason}"
        raise OutputRejected(reason, reply=reply.texts[0] if reply.texts else None)

    @property
    def response_format_unsupported(self) -> bool:
        """Whether the server refused `response_format` for any schema so far (those go prompt-only)."""
        return bool(self._formats.prompt_only_requests)

    @property
    def in_flight(self) -> int:
        """Requests on the wire right now."""
        return self._transport.in_flight

    def usage(self) -> UsageReport:
        """Calls, cache hits, failures, retries, cut-off replies, tokens and latency per agent so far, and what
        the client did to requests (prompt-only schemas, context fitting); cheap enough to poll."""
        report = self._usage.report()
        report.prompt_only_requests = dict(self._formats.prompt_only_requests)
        report.context = dict(self._window.stats)
        return report

    async def aclose(self) -> None:
        await self._transport.aclose()
        if self._cache is not None:
            self._cache.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
