"""LangChainBackend: any LangChain chat model behind the client's seam (`tools.llm.backend`), so that it gets the
same context fitting, reply cache, balancing, retry budget and usage counting as the OpenAI protocol.

A request becomes LangChain calls: the turns as LangChain messages; the sampling parameters (`temperature`,
`top_p`, `max_tokens`, `seed`, vendor extras) set on a copy of the chat model where the class declares them, and
dropped where it does not (a fake or local model); a `response_format` becomes
`with_structured_output(schema, method="json_schema", include_raw=True)`, and the raw message's text is the reply,
validated above the seam like any other. A model that cannot enforce a JSON schema is a 400 refusal of the format,
so the client asks by prompt instead. LangChain returns one message per call, so `n` choices are `n` concurrent
calls, choice `i` with seed `seed + i` (the same seed would give the same sample `n` times). Tokens come from each
message's `usage_metadata` (else the provider's `token_usage` in `response_metadata`).

Errors: LangChain's standard ones (`langchain_core.exceptions.ModelError`: authentication, not found, rate limit,
server, connection, timeout, context overflow) and, from integrations that do not raise them yet, an HTTP status
on the exception, become codemill's typed errors (`tools.llm.backend.error_for_status`); a timeout or a lost
connection is transient; a reply the `openai` SDK refuses to parse because it was cut off or filtered is a reply
with that finish reason (rejected above the seam, for the re-ask); anything else the chat model raises is an
`EndpointError` (the thread stays unfinished), never a retry. `models()` (the preflight) reads the server's model
list where the integration is built on the `openai` SDK, so a wrong key or model stops a run there, in one line;
other chat models list nothing and send nothing until the first request, whose typed error then stops the run
through the batch's circuit breaker, also in one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import openai
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages

from tools.errors import EndpointError, EndpointUnreachable, LLMError, RequestRejected, Transient
from tools.llm.backend import (
    ChatReply,
    ChatRequest,
    Message,
    ModelCard,
    context_length_exceeded,
    error_for_status,
    retry_after_s,
)
from tools.llm.langchain import chat_models, field_for, with_model_name
from tools.llm.settings import LLMSettings

log = logging.getLogger("codemill.llm")
_LENGTH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})


class LangChainBackend:
    """A `ChatBackend` for one LangChain chat model; `name` is its base URL, or the backend spec."""

    def __init__(self, name: str, chat_model: BaseChatModel, model: str, timeout_s: float) -> None:
        self.name = name
        self.model = model
        self.chat_model = chat_model
        self._timeout_s = timeout_s
        self._cards: list[ModelCard] | None = None  # asked once
        self._dropped: set[str] = set()  # parameters the class does not take, logged once each

    def _where(self) -> str:
        return f"{self.name} (model {self.model!r})"

    def _configured(self, params: Mapping[str, Any]) -> BaseChatModel:
        """The chat model with the request's parameters set, where its class declares them."""
        cls = type(self.chat_model)
        update: dict[str, Any] = {}
        for key, value in params.items():
            field = field_for(cls, key)
            if field is not None:
                update[field] = value
            elif key not in self._dropped:
                self._dropped.add(key)
                log.debug("%s takes no %r: not sent", cls.__name__, key)
        return self.chat_model.model_copy(update=update) if update else self.chat_model

    def _runnable(self, model: BaseChatModel, response_format: Any) -> Any:
        """The model, or its structured-output runnable for an OpenAI `response_format`."""
        if not response_format:
            return model
        try:
            spec = response_format["json_schema"]
            schema = {"title": spec["name"], **spec["schema"]}
            return model.with_structured_output(schema, method="json_schema", include_raw=True,
                                                strict=bool(spec.get("strict")))
        except (NotImplementedError, ValueError, TypeError, KeyError) as error:
            # the client asks by prompt instead (`structured.FormatSupport`)
            raise RequestRejected(f"{self._where()} cannot enforce a JSON schema "
                                  f"(with_structured_output, method='json_schema'): {error}", 400) from error

    async def _call(self, messages: list[BaseMessage], params: dict[str, Any]) -> AIMessage:
        response_format = params.pop("response_format", None)
        runnable = self._runnable(self._configured(params), response_format)
        try:
            output = await asyncio.wait_for(runnable.ainvoke(messages), self._timeout_s)
        except (asyncio.CancelledError, LLMError):
            raise
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as error:
            # the openai SDK's json_schema path raises on a reply cut off or filtered: it is the model's outcome
            return _stopped_early(error, "length" if isinstance(error, openai.LengthFinishReasonError)
                                  else "content_filter")
        except Exception as error:  # whatever the provider raises: translated, never retried as such
            raise self.translate(error) from error
        message = output.get("raw") if isinstance(output, dict) else output
        if not isinstance(message, AIMessage):  # a broken integration: asking again would not help
            raise EndpointError(f"{self._where()} returned {type(message).__name__}, not a chat message")
        return message

    async def chat(self, request: ChatRequest) -> ChatReply:
        messages = convert_to_messages(request.messages)
        seed = request.params.get("seed")
        choices = [{**request.params, **({"seed": seed + i} if isinstance(seed, int) and i else {})}
                   for i in range(max(request.n, 1))]
        started = time.perf_counter()
        tasks = [asyncio.ensure_future(self._call(messages, params)) for params in choices]
        try:
            replies = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        latency = time.perf_counter() - started
        usage = [tokens(reply) for reply in replies]
        return ChatReply(texts=[text_of(reply) for reply in replies],
                         finish_reasons=[finish_reason(reply) for reply in replies],
                         prompt_tokens=sum(prompt for prompt, _ in usage),
                         completion_tokens=sum(completion for _, completion in usage), latency_s=latency)

    def translate(self, error: BaseException) -> LLMError:
        """The typed error for what a chat model raised; the message names the endpoint and the model."""
        where = self._where()
        try:
            detail = " ".join(str(getattr(error, "message", None) or error).split())[:500]
        except Exception:  # a hostile __str__ must not hide the error it describes
            detail = ""
        detail = detail or type(error).__name__
        status = _status(error)
        if isinstance(error, ContextOverflowError):
            return context_length_exceeded(f"{where}: {detail}")
        if isinstance(error, ModelAuthenticationError | ModelPermissionDeniedError):
            status = status if status in (401, 403) else 401
        elif isinstance(error, ModelNotFoundError):
            return error_for_status(where, 404, f"model not found: {detail}")
        elif isinstance(error, ModelConnectionError):
            return EndpointUnreachable(f"cannot connect to {where}: {detail}")
        if status is not None:
            return error_for_status(where, status, detail, retry_after=_retry_after(error))
        if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
            return Transient(f"{where} timed out ({detail})")
        if isinstance(error, ConnectionError) or type(error).__name__ in ("ConnectError", "APIConnectionError"):
            return EndpointUnreachable(f"cannot connect to {where}: {detail}")
        if isinstance(error, ModelError) and error.is_retryable:
            return Transient(f"{where}: {type(error).__name__}: {detail}")
        return EndpointError(f"{where} failed: {type(error).__name__}: {detail}")

    async def models(self) -> list[ModelCard]:
        """What the endpoint serves: for an integration on the `openai` SDK (ChatOpenAI and its kin), the server's
        model list, read as the OpenAI backend reads it; any other chat model lists nothing, so it is the configured
        model, with its context length from the model's LangChain profile when known."""
        if self._cards is None:
            client = getattr(self.chat_model, "root_async_client", None)
            if isinstance(client, openai.AsyncOpenAI):
                try:
                    listing = await client.models.list()
                except openai.APIError as error:
                    raise self.translate(error) from error
                self._cards = [ModelCard(id=str(card.id), max_model_len=_count(getattr(card, "max_model_len", None))
                                         or None) for card in listing.data]
            else:
                profile = getattr(self.chat_model, "profile", None) or {}
                limit = profile.get("max_input_tokens") if isinstance(profile, Mapping) else None
                self._cards = [ModelCard(id=self.model, max_model_len=_count(limit) or None)]
        return self._cards

    async def count_tokens(self, model: str, messages: list[Message]) -> int | None:
        return None  # LangChain's counters may download a tokenizer or guess with GPT-2's: the estimate is safer

    async def aclose(self) -> None:
        """Nothing to close: LangChain integrations keep their HTTP clients for the process."""


def langchain_backends(settings: LLMSettings) -> list[LangChainBackend]:
    """One backend per `--base-url`, or one (see `tools.llm.langchain.chat_models`)."""
    settings = with_model_name(settings)
    return [LangChainBackend(name, model, settings.model, settings.timeout_s) for name, model in chat_models(settings)]


def text_of(message: AIMessage) -> str:
    """The reply's text: its content (the text blocks of a list content), else its first tool call's arguments
    (a model that answers a schema through a tool), else empty."""
    content = message.content
    if isinstance(content, list):
        content = "".join(block if isinstance(block, str) else str(block.get("text", "")) for block in content
                          if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text"))
    if content:
        return str(content)
    if message.tool_calls:
        return json.dumps(message.tool_calls[0].get("args", {}))
    return ""


def finish_reason(message: AIMessage) -> str | None:
    """OpenAI's `finish_reason`, Anthropic's `stop_reason`, Ollama's `done_reason`; a cut-off one is "length"."""
    metadata = message.response_metadata or {}
    reason = metadata.get("finish_reason") or metadata.get("stop_reason") or metadata.get("done_reason")
    if reason is None:
        return None
    reason = str(reason).lower()
    return "length" if reason in _LENGTH_REASONS else reason


def tokens(message: AIMessage) -> tuple[int, int]:
    """(prompt, completion) tokens from `usage_metadata`, else the provider's usage in `response_metadata`."""
    usage: Mapping[str, Any] | None = message.usage_metadata
    if usage:
        return _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    metadata = message.response_metadata or {}
    raw = metadata.get("token_usage") or metadata.get("usage") or {}
    if not isinstance(raw, Mapping):
        return 0, 0
    return (_count(raw.get("prompt_tokens", raw.get("input_tokens"))),
            _count(raw.get("completion_tokens", raw.get("output_tokens"))))


def _stopped_early(error: openai.LengthFinishReasonError | openai.ContentFilterFinishReasonError,
                   reason: str) -> AIMessage:
    """The reply the SDK refused to parse, as a message with its finish reason (the client rejects it for the
    re-ask, as it rejects a cut-off reply from the OpenAI backend)."""
    completion = error.completion
    choices = completion.choices if completion is not None else []
    text = (choices[0].message.content or "") if choices else ""
    usage = completion.usage if completion is not None else None
    prompt, output = (_count(usage.prompt_tokens), _count(usage.completion_tokens)) if usage else (0, 0)
    return AIMessage(content=text, response_metadata={"finish_reason": reason},
                     usage_metadata={"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output})


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _status(error: BaseException) -> int | None:
    """The HTTP status an SDK error carries (`status_code`, or its response's)."""
    for candidate in (getattr(error, "status_code", None),
                      getattr(getattr(error, "response", None), "status_code", None)):
        if isinstance(candidate, int) and 400 <= candidate <= 599:
            return candidate
    return None


def _retry_after(error: BaseException) -> float | None:
    headers = getattr(getattr(error, "response", None), "headers", None)
    return retry_after_s(headers) if isinstance(headers, Mapping) else None
