"""The context window: a prompt plus its `max_tokens` never exceeds the model's context.

The context length is the server's (`max_model_len` in vLLM's `/v1/models`, asked once per client; the
smallest over the endpoints), else the `max_model_len` setting. A request whose prompt fits even at one token per
byte (`token_bound`, which never under-counts) is sent as it is; any other is measured with the server's own
tokenizer (vLLM's `/tokenize`) when it has one, else with a conservative estimate (`estimate_tokens`). A request
that does not fit gets, in order: a smaller `max_tokens` (down to `min_reply_tokens`), then its longest re-ask
turns trimmed; if it still does not fit, `ContextLengthExceeded` — before anything is sent. At most
`MAX_FIT_ROUNDS` measurements per request.
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence

from tools.errors import ContextLengthExceeded
from tools.llm.backend import ChatBackend, ChatRequest, Message, ModelCard
from tools.llm.conversation import trim_reasks
from tools.llm.settings import LLMSettings

MAX_FIT_ROUNDS = 8
ASK_AGAIN_S = 30.0  # after no server answered `/v1/models`, the setting is used this long before asking again
CHARS_PER_TOKEN_CUT = 4  # characters cut per token of excess (a token is rarely longer)
# What a chat template adds besides the messages' text: per turn its markers (role header, end of turn, a
# SentencePiece dummy-prefix piece); once its framing (BOS, the generation prompt, and the default system text
# some templates add: Qwen 2.5's and Llama 3.1's are 20-35 tokens).
TURN_TOKENS = 8
FRAME_TOKENS = 48

_PIECES = re.compile(r"(?P<alnum>[0-9A-Za-z]+)|(?P<spaces> +)|(?P<other>.)", re.DOTALL)  # linear: no backtracking
_DIGITS_OR_LETTERS = re.compile(r"[0-9]+|[A-Za-z]+")
_WORD_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # camelCase and ACRONYMS apart
_RANDOM_LOOKING = re.compile(r"[aeiouy]{3}|[^aeiouy]{5}", re.IGNORECASE)
_VOWELS = frozenset("aeiouyAEIOUY")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _texts(messages: Sequence[Message]) -> Iterator[tuple[str, ...]]:
    """Each message's text, with its NFKC form when that differs: a tokenizer that normalizes may see more than
    was sent (U+FDFA is 3 bytes, 33 after NFKC), so both are counted and the larger count taken."""
    for message in messages:
        text = str(message.get("content") or "")
        yield (text,) if text.isascii() else (text, unicodedata.normalize("NFKC", text))


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))  # a lone surrogate (from a JSON escape) is not an error


def _template_tokens(messages: Sequence[Message]) -> int:
    return FRAME_TOKENS + TURN_TOKENS * len(messages)


def token_bound(messages: Sequence[Message]) -> int:
    """The most tokens a prompt can take: one per UTF-8 byte of its text, plus the template's tokens.

    A token covers at least one byte of text. A byte-level BPE tokenizer (GPT-2's, Llama 3's, Qwen's) starts from
    the bytes and only merges them; a SentencePiece tokenizer with byte fallback (Llama 2's, Gemma's) emits
    pieces of one character or more, and a character it does not know as one token per UTF-8 byte; a special
    token written in the text (`<eos>`) is one token for several bytes. What is not in the text — the template's
    markers and framing, SentencePiece's dummy prefix — is `TURN_TOKENS` a turn and `FRAME_TOKENS`."""
    return _template_tokens(messages) + sum(max(map(_utf8_length, forms)) for forms in _texts(messages))


def _part_tokens(part: str) -> int:
    """One camelCase part of a word: up to 4 letters one token, longer a token per 4 letters (real words take
    4-6 letters a token); a part that does not look like a word (no vowel in a short one, under a quarter vowels,
    3 vowels or 5 consonants in a row) 3 tokens per 5 letters (random letters: Gemma 3 takes 1.7-1.9 a token)."""
    size, vowels = len(part), sum(letter in _VOWELS for letter in part)
    if size >= 2 and (vowels == 0 if size <= 4 else vowels < size / 4 or _RANDOM_LOOKING.search(part)):
        return -(-3 * size // 5)
    return 1 if size <= 4 else -(-size // 4)


def _letters_tokens(letters: str) -> int:
    parts = _WORD_PARTS.findall(letters)
    if len(letters) >= 4 and len(letters) < 3 * len(parts):  # the case flips every letter or two: noise
        return -(-3 * len(letters) // 5)
    return sum(map(_part_tokens, parts))


def _alnum_tokens(run: str) -> int:
    """Digits are one token each (Llama's, Gemma's and Qwen's tokenizers split numbers into digits), and so is
    every character of a hex run that holds a digit (a hash, an address: 2,660 Gemma tokens in 3,021 bytes); the
    letters among other digits (base64, `x1`, `arr2d`) 3 per 5."""
    if run.isalpha():
        return _letters_tokens(run)
    if _HEX_DIGITS.issuperset(run):
        return len(run)
    return sum(len(piece) if piece[0].isdigit() else -(-3 * len(piece) // 5)
               for piece in _DIGITS_OR_LETTERS.findall(run))


def _text_tokens(text: str) -> int:
    tokens = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if match.lastgroup == "alnum":
            tokens += _alnum_tokens(piece)
        elif match.lastgroup == "spaces":  # indentation merges; one space before a word is part of the word's token
            glued = text[match.end():match.end() + 1] in _ASCII_LETTERS
            tokens += -(-(len(piece) - glued) // 4)
        else:  # punctuation, newlines, anything not ASCII: a token a byte
            tokens += _utf8_length(piece)
    return tokens


def estimate_tokens(messages: Sequence[Message]) -> int:
    """Tokens a prompt takes, conservatively, when the server cannot count them: by what the characters are
    (`_alnum_tokens`, `_part_tokens`; punctuation, newlines and non-ASCII text a token a byte), plus the template's
    tokens; never above `token_bound`. Against Gemma 3's tokenizer: 1.0x its count on digits and numbers, 1.1x on
    hex, 1.0-1.2x on random letters and base64, 1.4x on code, 1.6-1.8x on codemill's prompts (so the largest
    default prompt, 1,056 Gemma tokens, is estimated at 1,671 and still fits a 2,048-token context); short random
    words (`qua zex dov`) are the one text it may under-count, by about 7%."""
    return _template_tokens(messages) + sum(max(map(_text_tokens, forms)) for forms in _texts(messages))


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
        if token_bound(request.messages) + wanted <= limit:
            return request  # fits even at a token a byte: nothing to measure
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
