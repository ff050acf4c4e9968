"""LLMSettings: which model, where it is served, how to sample, and how hard to try (the `[llm]` table)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tools.settings import CodemillSettings

DEFAULT_MODEL = "Qwen/Qwen2.5-Coder-7B-Instruct"


class LLMSettings(CodemillSettings):
    """Settings of the LLM client; environment `CODEMILL_MODEL`, `CODEMILL_BASE_URL` (comma-separated), ..."""

    config_section: ClassVar[str] = "llm"
    model_config = SettingsConfigDict(populate_by_name=True)

    model: str = DEFAULT_MODEL
    base_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("base_urls", "base_url", "CODEMILL_BASE_URLS", "CODEMILL_BASE_URL"),
        description="OpenAI-compatible endpoints, e.g. http://127.0.0.1:8000/v1; several are load-balanced",
    )
    api_key: SecretStr = SecretStr("EMPTY")
    # Sampling defaults; every call may override them.
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(2048, ge=1)
    seed: int | None = None
    # Transport.
    timeout_s: float = Field(120.0, gt=0.0, description="per request")
    max_retries: int = Field(4, ge=0, description="retries of a transient failure (connection, timeout, 429, 5xx)")
    retry_initial_s: float = Field(0.5, ge=0.0, description="first backoff; doubles with jitter")
    retry_max_s: float = Field(20.0, ge=0.0)
    concurrency: int = Field(32, ge=1, description="requests in flight per endpoint")
    # Structured output.
    structured_reasks: int = Field(2, ge=0, description="re-asks after an invalid structured reply")
    # Cache of replies (exact replay of a re-run or a resumed run).
    cache_enabled: bool = True
    cache_path: Path | None = Path(".codemill/llm-cache.sqlite")
    # Off in tests: refuse every endpoint that is not on this machine.
    allow_remote: bool = True

    @field_validator("base_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        """`CODEMILL_BASE_URL=http://a/v1,http://b/v1` and a single string both become a list."""
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list | tuple):
            return [str(url).strip().rstrip("/") for url in value if str(url).strip()]
        return value

    @field_validator("base_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base URL must start with http:// or https://: {url!r}")
        return urls

    def sampling(self) -> dict[str, Any]:
        """The default sampling parameters of a request (seed only when set)."""
        params: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p,
                                  "max_tokens": self.max_tokens}
        if self.seed is not None:
            params["seed"] = self.seed
        return params
