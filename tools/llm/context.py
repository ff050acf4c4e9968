"""The context window: a prompt plus its `max_tokens` never exceeds the model's context.

The context length is the server's (`max_model_len` in vLLM's `/v1/models`, asked once per client; the
smallest over the endpoints), else the `max_model_len` setting. A prompt is measured first by a pessimistic
estimate (`estimate_tokens`); only when that does not fit is the server's own tokenizer asked (vLLM's
`/tokenize`), when it has one. A request that does not fit gets, in order: a smaller `max_tokens` (down to
`min_reply_tokens`), then its longest re-ask turns trimmed; if it still does not fit, `ContextLengthExceeded`
— before anything is sent. At most `MAX_FIT_ROUNDS` measurements per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from tools.errors import ContextLengthExceeded
from tools.llm.backend import ChatBackend, ChatRequest, Message, ModelCard
from tools.llm.conversation import trim_reasks
from tools.llm.settings import LLMSettings

MAX_FIT_ROUNDS = 8
ASK_AGAIN_S = 30.0  # after no server answered `/v1/models`, the setting is used this long before asking again
CHARS_PER_TOKEN_CUT = 4  # characters cut per token of excess (a token is rarely longer)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """Tokens a prompt takes, pessimistically: one per 3 UTF-8 bytes (BPE tokenizers average 3.5-4.5 on code
    and English), plus 8 per turn and 16 for the chat template's framing."""
    return 16 + sum(8 + -(-len(str(message.get("content", "")).encode("utf-8")) // 3) for message in messages)


class ContextWindow:
    """Fits requests into the model's context; `stats` counts what fitting did."""

    def __init__(self, settings: LLMSettings, backends: Sequence[ChatBackend]) -> None:
        self._settings = settings
        self._backends = list(backends)
        self._limit: int | None = None
        self._ask_again_at = 0.0
        self._lock = asyncio.Lock()
        self.stats: Counter[str] = Counter()  # max_tokens_shrunk, reasks_trimmed, too_long

    async def limit(self) -> int:
        """The context length in tokens (asked of the servers once; the setting when none says)."""
        if self._limit is None and time.monotonic() >= self._ask_again_at:
            async with self._lock:
                if self._limit is None and time.monotonic() >= self._ask_again_at:
                    await self._discover()
        return self._limit or self._settings.max_model_len

    async def _discover(self) -> None:
        timeout = self._settings.connect_timeout_s + 5.0
        answers = await asyncio.gather(*(asyncio.wait_for(backend.models(), timeout) for backend in self._backends),
                                       return_exceptions=True)
        cards = [card for answer in answers if isinstance(answer, list) for card in answer
                 if isinstance(card, ModelCard) and card.id == self._settings.model and card.max_model_len]
        if cards:
            self._limit = min(card.max_model_len or 0 for card in cards)
        elif any(isinstance(answer, list) for answer in answers):
            self._limit = self._settings.max_model_len  # the servers answered without saying
        else:  # nobody answered: the requests themselves will say why
            self._ask_again_at = time.monotonic() + ASK_AGAIN_S

    def learn(self, limit: int) -> None:
        """A server said its context is `limit` tokens (in a context-length 400): believe it from now on."""
        self._limit = min(self._limit or limit, limit)

    async def _measure(self, model: str, messages: list[Message]) -> int:
        for backend in self._backends:
            counted = await backend.count_tokens(model, messages)
            if counted is not None:
                return counted
        return estimate_tokens(messages)

    async def fit(self, request: ChatRequest) -> ChatRequest:
        """`request`, or a copy with a smaller `max_tokens` and trimmed re-asks that fits; else raises."""
        limit = await self.limit()
        wanted = int(request.params.get("max_tokens") or self._settings.max_tokens)
        if estimate_tokens(request.messages) + wanted <= limit:
            return request
        floor = min(self._settings.min_reply_tokens, wanted)
        messages = request.messages
        size = await self._measure(request.model, messages)
        trimmed = False
        for _ in range(MAX_FIT_ROUNDS):
            if size + floor <= limit:
                break
            cut = trim_reasks(messages, (size + floor - limit) * CHARS_PER_TOKEN_CUT)
            if cut is None:
                break
            messages, trimmed = cut, True
            size = await self._measure(request.model, messages)
        if size + floor > limit:
            self.stats["too_long"] += 1
            raise ContextLengthExceeded(
                f"model {request.model!r}: the prompt takes {size} tokens and its reply needs at least {floor}, more "
                f"than the model's context of {limit} tokens{' even with its re-asks trimmed' if trimmed else ''}",
                limit)
        max_tokens = min(wanted, limit - size)
        if trimmed:
            self.stats["reasks_trimmed"] += 1
        if max_tokens < wanted:
            self.stats["max_tokens_shrunk"] += 1
        if not trimmed and max_tokens == wanted:
            return request
        return ChatRequest(request.model, messages, request.n, {**request.params, "max_tokens": max_tokens})
