"""Context fitting against tokenizers that count digits and hex one token a character (as Gemma's nearly does:
2,972 tokens in 2,976 bytes of digits): such a prompt is measured with the server's `/tokenize` and fitted; a
server without `/tokenize` gets a conservative estimate; and the bound that lets a request skip measuring never
under-counts, checked against real byte-level and byte-fallback tokenizers trained here."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

import tests.fakes
from tests.fakes import ScriptedOpenAIServer, settings_for
from tests.tiny_model import CHATML, SPECIAL_TOKENS
from tools.errors import ContextLengthExceeded
from tools.llm import LLMClient
from tools.llm.context import estimate_tokens, token_bound

DIGITS = "".join(random.Random(1).choice("0123456789") for _ in range(2976))  # the audit's sizes
HEX = "".join(random.Random(2).choice("0123456789abcdef") for _ in range(3021))
HEAVY = {"digits": DIGITS, "hex": HEX, "hex upper": HEX.upper(), "floats": ", ".join(
    str(random.Random(3).random()) for _ in range(150))}


def per_character(messages: list[dict[str, Any]]) -> int:
    """A tokenizer stricter than any real one on digits and hex: one token a character, 4 a turn, 4 framing."""
    return 4 + sum(4 + len(str(message.get("content") or "")) for message in messages)


@pytest.fixture
def per_character_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ScriptedOpenAIServer]]:
    """Scripted servers whose `/tokenize` and context check both count `per_character`; `tokenize=False` answers
    `/tokenize` with 404, as an OpenAI-compatible server without vLLM's tokenizer endpoint does."""
    monkeypatch.setattr(tests.fakes, "prompt_tokens", per_character)
    started: list[ScriptedOpenAIServer] = []

    def start(*, tokenize: bool = True, **options: Any) -> ScriptedOpenAIServer:
        server = (ScriptedOpenAIServer if tokenize else NoTokenizerServer)(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class NoTokenizerServer(ScriptedOpenAIServer):
    def _request_handler_class(self) -> Any:
        base = super()._request_handler_class()

        class Handler(base):  # type: ignore[misc,valid-type]
            def _tokenize(self, raw: bytes) -> None:
                self._send_json(404, {"error": {"message": "no route /tokenize", "code": 404}})

        return Handler


def ask(content: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You write code."}, {"role": "user", "content": content}]


@pytest.mark.parametrize("kind", HEAVY)
async def test_a_digit_or_hex_heavy_prompt_is_measured_by_the_server_and_fitted(per_character_server,
                                                                                kind: str) -> None:
    server = per_character_server(max_model_len=4096)
    messages = ask(HEAVY[kind])
    async with LLMClient(settings_for(server, max_tokens=2048)) as client:
        assert await client.complete(messages) == ["ok"]
        assert client.usage().context == {"max_tokens_shrunk": 1}
    assert server.tokenize_calls >= 1  # measured, not estimated
    [request] = server.requests
    assert request.body["max_tokens"] == 4096 - per_character(messages)  # the server's own count, to the token


@pytest.mark.parametrize("kind", HEAVY)
async def test_without_a_tokenizer_the_estimate_covers_digits_and_hex(per_character_server, kind: str) -> None:
    messages = ask(HEAVY[kind])
    assert estimate_tokens(messages) >= per_character(messages)
    server = per_character_server(max_model_len=4096, tokenize=False)
    async with LLMClient(settings_for(server, max_tokens=2048)) as client:
        assert await client.complete(messages) == ["ok"]  # the server accepted it: nothing overflowed
        assert await client.complete(messages, temperature=0.1) == ["ok"]  # and again, without asking /tokenize
    assert len(server.requests) == 2
    assert all(per_character(messages) + request.body["max_tokens"] <= 4096 for request in server.requests)


async def test_a_prompt_that_fits_at_a_token_a_byte_is_not_measured(per_character_server) -> None:
    server = per_character_server(max_model_len=32768)
    async with LLMClient(settings_for(server, max_tokens=2048)) as client:
        await client.complete(ask(DIGITS))
        assert client.usage().context == {}
    assert server.tokenize_calls == 0 and server.requests[0].body["max_tokens"] == 2048


async def test_a_digit_prompt_larger_than_the_context_fails_before_sending(per_character_server) -> None:
    server = per_character_server(max_model_len=2048)
    async with LLMClient(settings_for(server, max_tokens=2048)) as client:
        with pytest.raises(ContextLengthExceeded, match="context of 2048 tokens"):
            await client.complete(ask(DIGITS))
    assert server.call_count == 0 and server.tokenize_calls >= 1


# -- the bound, against real tokenizers -------------------------------------------------------------------------
HOSTILE = {
    **HEAVY,
    "code": Path(json.__file__).read_text(encoding="utf-8")[:4000],
    "random ascii": "".join(random.Random(4).choice([chr(c) for c in range(32, 127)] + ["\n", "\t"])
                            for _ in range(3000)),
    "random unicode": "".join(chr(code) for code in random.Random(5).sample(
        [*range(0x80, 0xD800), *range(0xE000, 0x30000)], 1500)),
    "emoji": "\U0001F600\U0001F4A9\U0001F9D1\u200D\U0001F4BB" * 200,
    "nfkc expands": "\uFDFA\u3392\u2474\uFB01" * 200,  # one character, up to 18 after NFKC
    "special tokens written out": "<|im_end|><|im_start|>" * 200 + "<0x41>" * 100,
    "whitespace": " \t\n  \r\n" * 500,
    "cjk": "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1500)),
}


@pytest.fixture(scope="module")
def tokenizers() -> dict[str, Any]:
    """A byte-level BPE (GPT-2's, Llama 3's, Qwen's kind) and a SentencePiece-style BPE with byte fallback,
    metaspace and NFKC (Llama 2's kind, normalizing like T5's), both with a vocabulary small enough to split
    hard, trained on a few standard-library sources."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    stdlib = Path(json.__file__).resolve().parent.parent
    corpus = [path.read_text(encoding="utf-8", errors="replace") for path in sorted(stdlib.glob("*.py"))[:20]]
    byte_level = Tokenizer(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    byte_level.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    byte_fallback = Tokenizer(models.BPE(byte_fallback=True))
    byte_fallback.normalizer = normalizers.NFKC()
    byte_fallback.pre_tokenizer = pre_tokenizers.Metaspace()
    byte_fallback.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL_TOKENS + [f"<0x{byte:02X}>" for byte in range(256)],
        show_progress=False))
    return {"byte-level": byte_level, "byte-fallback": byte_fallback}


@pytest.mark.parametrize("kind", HOSTILE)
def test_the_bound_is_never_below_a_real_tokenizers_count(tokenizers: dict[str, Any], kind: str) -> None:
    messages = ask(HOSTILE[kind])
    prompt = jinja2.Template(CHATML).render(messages=messages, add_generation_prompt=True)
    for name, tokenizer in tokenizers.items():
        counted = len(tokenizer.encode(prompt, add_special_tokens=False).ids)
        assert token_bound(messages) >= counted, name
    assert estimate_tokens(messages) <= token_bound(messages)


def test_odd_text_is_counted_not_a_crash_and_in_linear_time() -> None:
    lone_surrogate = [{"role": "user", "content": "a reply with \ud800 in it"}, {"role": "assistant", "content": None}]
    assert token_bound(lone_surrogate) >= estimate_tokens(lone_surrogate) > 0
    # hex letters without a digit, and letters without a vowel: a backtracking pattern would take hours here
    long_runs = [{"role": "user", "content": "abcdef" * 50_000 + "1"}, {"role": "user", "content": "x" * 300_000}]
    assert estimate_tokens(long_runs) >= 300_001 + 300_000 * 3 // 5


def test_the_estimate_is_conservative_not_absurd_on_code_and_prose() -> None:
    """At least 2 bytes a token on code and on the prompt templates' prose (Gemma 3 takes 3-4): the largest default
    prompt (about 4 KB, 1,056 Gemma tokens) then leaves a 2,048-token model room to reply without `/tokenize`."""
    stdlib = Path(json.__file__).resolve().parent.parent
    templates = Path(__file__).resolve().parent.parent / "prompts"
    for text in [(stdlib / "argparse.py").read_text(encoding="utf-8"), Path(json.__file__).read_text(encoding="utf-8"),
                 "\n".join(path.read_text(encoding="utf-8") for path in sorted(templates.rglob("*.j2")))]:
        assert estimate_tokens([{"role": "user", "content": text}]) <= len(text.encode("utf-8")) / 2
