"""A LangChain chat model for tests, selected as `--llm langchain:tests.langchain_coder.CoderChatModel`: it answers
as `tests.coder_model.CoderModel` does (scenario markers in the seed code), in-process, with no endpoint.

It is as strict as a real integration where the backend could cut corners: structured output only through
`with_structured_output(schema, method="json_schema")` (any other method is refused as LangChain refuses what a
model cannot do), one message per call (so `n` choices need `n` calls; the call's seed picks the candidate,
`sampled_by_seed`, so equal seeds give equal candidates), and token counts only in `usage_metadata`.
`fail_with=STATUS` makes every call raise LangChain's standard error for that HTTP status (`fail_with=0`: a plain
bug, a RuntimeError). Every call is recorded in `CALLS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelNotFoundError,
    ModelRateLimitError,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap
from pydantic import BaseModel, PrivateAttr

from tests.coder_model import CoderModel
from tests.fakes import ChatRequest, Reply, prompt_tokens

CALLS: list[dict[str, Any]] = []  # one per model call: seed, temperature, max_tokens, schema name, prompt tokens
ROLES = {"system": "system", "human": "user", "ai": "assistant"}
ERRORS: dict[int, type[Exception]] = {401: ModelAuthenticationError, 404: ModelNotFoundError,
                                      429: ModelRateLimitError, 503: ModelAPIError}


def sampled_by_seed(coder: CoderModel) -> Callable[[ChatRequest], Reply]:
    """`coder` for a model that answers one choice per request: a candidate request gets the candidate its seed
    picks (consecutive seeds, all of them), like a sampling model; everything else as `coder` answers."""

    def answer(request: ChatRequest) -> Reply:
        name = (request.response_format or {}).get("json_schema", {}).get("name", "")
        if name != "CandidateReply" or request.n > 1:
            return coder(request)
        every = coder(ChatRequest(request.path, {**request.body, "n": 5}, request.index))
        return Reply(contents=[every.contents[(request.body.get("seed") or 0) % len(every.contents)]])

    return answer


class CoderChatModel(BaseChatModel):
    """Scripted answers from the request's schema and scenario marker (see `tests.coder_model`)."""

    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    fail_with: int | None = None
    _coder: CoderModel = PrivateAttr(default_factory=CoderModel)  # shared by copies: one script per model

    @property
    def _llm_type(self) -> str:
        return "codemill-test-coder"

    def with_structured_output(self, schema: dict[str, Any] | type, *, include_raw: bool = False,
                               method: str = "function_calling", strict: bool | None = None,
                               **kwargs: Any) -> Runnable:
        if method != "json_schema":
            raise NotImplementedError(f"{type(self).__name__} enforces a schema only with method='json_schema'")
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            schema = schema.model_json_schema()
        assert isinstance(schema, dict)
        body = {k: v for k, v in schema.items() if k != "title"}
        bound = self.bind(response_format={"type": "json_schema", "json_schema": {
            "name": schema.get("title", "Reply"), "schema": body, "strict": bool(strict)}})

        def parse(raw: AIMessage) -> dict[str, Any]:
            try:
                return {"raw": raw, "parsed": json.loads(str(raw.content)), "parsing_error": None}
            except ValueError as error:
                return {"raw": raw, "parsed": None, "parsing_error": error}

        if include_raw:
            return RunnableMap(raw=bound) | RunnableLambda(lambda out: parse(out["raw"]))
        return bound | RunnableLambda(lambda raw: parse(raw)["parsed"])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        turns = [{"role": ROLES.get(message.type, message.type), "content": str(message.content)}
                 for message in messages]
        response_format = kwargs.get("response_format")
        name = (response_format or {}).get("json_schema", {}).get("name", "")
        CALLS.append({"seed": self.seed, "temperature": self.temperature, "max_tokens": self.max_tokens,
                      "schema": name, "prompt_tokens": prompt_tokens(turns)})
        if self.fail_with == 0:
            raise RuntimeError("a bug in the chat model")
        if self.fail_with is not None:
            raise ERRORS.get(self.fail_with, ModelAPIError)(f"scripted HTTP {self.fail_with}")
        body = {"messages": turns, "response_format": response_format, "seed": self.seed}
        reply = sampled_by_seed(self._coder)(ChatRequest("/v1/chat/completions", body, len(CALLS)))
        text = reply.contents[0] if reply.contents else ""
        prompt, completion = CALLS[-1]["prompt_tokens"], len(text.split())
        message = AIMessage(content=text, response_metadata={"finish_reason": reply.finish_reason},
                            usage_metadata={"input_tokens": prompt, "output_tokens": completion,
                                            "total_tokens": prompt + completion})
        return ChatResult(generations=[ChatGeneration(message=message)])
