"""OpenAIBackend: one OpenAI-compatible endpoint (vLLM, or any server speaking the protocol) through the
`openai` SDK, with the SDK's own retries off — the transport above owns retrying — and its errors turned into
codemill's typed ones.

The body goes out as built, through the SDK's `post("/chat/completions", cast_to=httpx.Response)` (its
documented way to send a body as is), and the reply's JSON is read as a dict: `chat.completions.create`
would validate every message against the SDK's types and parse the reply into its models, which costs more
client CPU per request than everything else here, and vLLM's extra fields (`top_k`, ...) need no
translation. Each slot of the endpoint's cap has its own SDK client on one kept-alive connection: a shared
connection pool rescans every connection for each request, O(cap) CPU per request. The server's tokenizer is
asked through vLLM's `POST /tokenize` (at the server root).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx2
import openai

from tools.errors import (
    EndpointUnreachable,
    LLMError,
    Transient,
)
from tools.llm.backend import ChatReply, ChatRequest, Message, ModelCard, error_for_status, retry_after_s
from tools.llm.settings import LLMSettings


def _detail(error: openai.APIStatusError) -> str:
    """The server's own message (OpenAI's `{"error": {"message": ...}}`, vLLM's, or the raw body)."""
    body = error.body
    if isinstance(body, Mapping):
        message = body.get("message") or body.get("error") or body.get("detail")
        if message:
            return str(message)[:500]
    return (error.response.text or str(error))[:500]


class OpenAIBackend:
    """A `ChatBackend` for one base URL."""

    def __init__(self, base_url: str, settings: LLMSettings) -> None:
        self.name = base_url
        self._settings = settings
        self._timeout = httpx2.Timeout(settings.timeout_s, connect=min(settings.connect_timeout_s, settings.timeout_s))
        self._ssl = httpx2.create_ssl_context()  # shared by the slots: loading the CA bundle costs ~50 ms each
        self._idle: list[openai.AsyncOpenAI] = []  # one client per slot in use so far, each on one connection
        self._clients: list[openai.AsyncOpenAI] = []
        self._control = self._new_client(connections=2)  # /models and /tokenize, off the request slots
        self._tokenize_url = re.sub(r"/v1/?$", "", base_url.rstrip("/")) + "/tokenize"
        self._can_tokenize = True  # until the server says it cannot

    def _new_client(self, connections: int) -> openai.AsyncOpenAI:
        limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
        client = openai.AsyncOpenAI(
            base_url=self.name, api_key=self._settings.api_key.get_secret_value(), max_retries=0,
            timeout=self._timeout,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits, timeout=self._timeout, verify=self._ssl))
        self._clients.append(client)
        return client

    def _where(self, model: str | None) -> str:
        return f"{self.name} (model {model!r})" if model else self.name

    async def chat(self, request: ChatRequest) -> ChatReply:
        """Send once, on a slot's own client (the caller's semaphore bounds the slots to the cap)."""
        client = self._idle.pop() if self._idle else self._new_client(connections=1)
        started = time.perf_counter()
        try:
            response = await client.post("/chat/completions", body=request.body(), cast_to=httpx2.Response)
            completion = json.loads(response.content)
        except openai.APIError as error:
            raise self.translate(error, request.model) from error
        except ValueError as error:  # JSONDecodeError: garbled on the way
            raise Transient(f"{self._where(request.model)} sent a reply that is not JSON: {error}") from error
        finally:
            self._idle.append(client)
        return self._reply(completion, request.model, time.perf_counter() - started)

    def _reply(self, completion: Any, model: str, latency_s: float) -> ChatReply:
        try:
            choices = sorted(completion["choices"], key=lambda choice: choice.get("index", 0))
            texts = [choice["message"].get("content") or "" for choice in choices]
            reasons = [choice.get("finish_reason") for choice in choices]
            usage = completion.get("usage") or {}
            prompt, completion_tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (LookupError, TypeError, AttributeError, ValueError) as error:
            raise Transient(f"{self._where(model)} sent something that is not a chat completion: {error!r}") from error
        if not texts:
            raise Transient(f"{self._where(model)} returned no choices")
        return ChatReply(texts=texts, finish_reasons=reasons, prompt_tokens=prompt,
                         completion_tokens=completion_tokens, latency_s=latency_s)

    def translate(self, error: openai.APIError, model: str | None) -> LLMError:
        """The typed error for an SDK error; the message names the endpoint and the model."""
        where = self._where(model)
        cause = error.__cause__
        if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
            if isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout):
                return EndpointUnreachable(f"cannot connect to {where}: {cause or error}")
            what = "timed out" if isinstance(error, openai.APITimeoutError) else f"failed mid-request ({cause!r})"
            return Transient(f"{where} {what}")
        if not isinstance(error, openai.APIStatusError):
            return Transient(f"{where}: {error}")
        return error_for_status(where, error.status_code, _detail(error),
                                retry_after=retry_after_s(error.response.headers), model_named=bool(model))

    async def models(self) -> list[ModelCard]:
        try:
            response = await self._control.get("/models", cast_to=httpx2.Response)
            listing = json.loads(response.content)
            return [ModelCard(id=str(card["id"]), max_model_len=_positive(card.get("max_model_len")))
                    for card in listing["data"]]
        except openai.APIError as error:
            raise self.translate(error, None) from error
        except (ValueError, LookupError, TypeError, AttributeError) as error:
            raise Transient(f"{self.name}/models did not answer with a model list: {error!r}") from error

    async def count_tokens(self, model: str, messages: list[Message]) -> int | None:
        if not self._can_tokenize:
            return None
        body = {"model": model, "messages": messages, "add_generation_prompt": True}
        try:
            response = await self._control.post(self._tokenize_url, body=body, cast_to=httpx2.Response)
            return _positive(json.loads(response.content).get("count"))
        except openai.APIStatusError as error:
            if error.status_code in (404, 405, 501):
                self._can_tokenize = False  # no tokenizer endpoint: estimate from now on
            return None
        except (openai.APIError, ValueError, AttributeError):
            return None  # counting is an optimisation: the estimate still guards the context

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
