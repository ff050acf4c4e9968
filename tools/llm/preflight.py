"""Preflight: before any thread starts, every endpoint is asked for its models (`/v1/models`).

An endpoint that cannot be reached, refuses the key or does not serve the model is dropped, with a warning
line, as long as another one answers; when none does, `preflight` raises the first endpoint's typed error
(`EndpointUnreachable`, `AuthFailed`, `UnknownModel`, ...), one line, within `timeout_s`. Nothing is sent to
the chat endpoint, so nothing is recorded or cached.

    report = await preflight(settings)
    for line in report.warnings:
        console.print(f"warning: {line}")
    settings = report.apply(settings)          # only the endpoints that answered
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from tools.errors import ConfigError, EndpointUnreachable, LLMError, UnknownModel
from tools.llm.backend import ChatBackend
from tools.llm.client import backends_for
from tools.llm.settings import LLMSettings

# The README promises one line within 10 s for an endpoint that does not answer. The command's own start comes
# first (imports: 2-4 s on a busy 2-core machine), so the probe gets 4 s; vLLM answers /v1/models in milliseconds.
PREFLIGHT_TIMEOUT_S = 4.0


class EndpointCheck(BaseModel):
    """One endpoint's answer: the models it serves, the model's context length, or what went wrong."""

    base_url: str
    models: list[str] = Field(default_factory=list)
    max_model_len: int | None = None
    problem: str = ""  # empty when the endpoint serves the model

    @property
    def ok(self) -> bool:
        return not self.problem


class PreflightReport(BaseModel):
    """Every endpoint's check; `usable` are the ones to use."""

    model: str
    endpoints: list[EndpointCheck]

    @property
    def usable(self) -> list[str]:
        return [check.base_url for check in self.endpoints if check.ok]

    @property
    def warnings(self) -> list[str]:
        return [f"dropping endpoint {check.base_url}: {check.problem}" for check in self.endpoints if not check.ok]

    @property
    def max_model_len(self) -> int | None:
        """The model's context length: the smallest any usable endpoint reports, None when none reports it."""
        lengths = [check.max_model_len for check in self.endpoints if check.ok and check.max_model_len]
        return min(lengths) if lengths else None

    def apply(self, settings: LLMSettings) -> LLMSettings:
        # a LangChain model without a URL is named by its spec, which is not a URL: keep the given list's order
        return settings.model_copy(update={"base_urls": [url for url in settings.base_urls if url in self.usable]})


async def _check(backend: ChatBackend, model: str, timeout_s: float) -> tuple[EndpointCheck, LLMError | None]:
    try:
        cards = await asyncio.wait_for(backend.models(), timeout_s)
    except TimeoutError:
        error: LLMError = EndpointUnreachable(f"{backend.name} did not answer /models within {timeout_s:g} s")
        return EndpointCheck(base_url=backend.name, problem=str(error)), error
    except LLMError as failure:
        return EndpointCheck(base_url=backend.name, problem=str(failure)), failure
    served = [card.id for card in cards]
    if model not in served:
        error = UnknownModel(f"{backend.name} does not serve the model {model!r}; it serves: "
                             f"{', '.join(served) or 'nothing'} (pick one with --model)", 404)
        return EndpointCheck(base_url=backend.name, models=served, problem=str(error)), error
    length = next((card.max_model_len for card in cards if card.id == model), None)
    return EndpointCheck(base_url=backend.name, models=served, max_model_len=length), None


async def preflight(settings: LLMSettings, *, timeout_s: float = PREFLIGHT_TIMEOUT_S,
                    backends: list[ChatBackend] | None = None) -> PreflightReport:
    """Check every endpoint at once; raise the first endpoint's error when none serves the model."""
    owned = backends is None
    backends = backends_for(settings) if backends is None else backends
    if not backends:
        raise ConfigError("no model endpoint: give --base-url URL (or CODEMILL_BASE_URL)")
    try:
        results = await asyncio.gather(*(_check(backend, settings.model, timeout_s) for backend in backends))
    finally:
        if owned:
            await asyncio.gather(*(backend.aclose() for backend in backends), return_exceptions=True)
    report = PreflightReport(model=settings.model, endpoints=[check for check, _ in results])
    if not report.usable:
        first = next(error for _, error in results if error is not None)
        if len(results) > 1:
            first.args = ("no endpoint serves the model: " + "; ".join(check.problem for check, _ in results),)
        raise first
    return report
