"""LLMSettings: which model, where it is served, how to sample, how hard to try (the `[llm]` table).

Environment: `CODEMILL_LLM_<FIELD>` for every field, plus the short names `CODEMILL_BASE_URL` (comma-separated),
`CODEMILL_MODEL`, `CODEMILL_API_KEY`, `CODEMILL_MODEL_CACHE_DIR` and `CODEMILL_VLLM_PYTHON`. Any other unprefixed
name of the old scheme (`CODEMILL_CONCURRENCY`, `CODEMILL_TIMEOUT_S`, ...) is an error naming its replacement
(`tools.settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tools.settings import CodemillSettings

DEFAULT_MODEL = "Qwen/Qwen2.5-Coder-7B-Instruct"
DEFAULT_MODEL_CACHE_DIR = Path("~/.cache/codemill/models")  # the demo model's build, and running servers' records
SEED_OFF = ("none", "off", "")  # spellings of "send no sampling seed" (--seed none, seed = "none")


class LLMSettings(CodemillSettings):
    """Settings of the LLM client."""

    config_section: ClassVar[str] = "llm"
    removed_keys: ClassVar[dict[str, str]] = {
        "structured_reasks": "re-asks have one budget, `max_reasks` in [synth]",
    }
    model_config = SettingsConfigDict(env_prefix="CODEMILL_LLM_", populate_by_name=True)

    model: str = DEFAULT_MODEL
    # What sends the requests: the OpenAI protocol, or any LangChain chat model (tools/llm/langchain.py).
    backend: str = Field("openai", description='"openai", or "langchain:module.Class" (a LangChain chat model)')
    langchain: dict[str, Any] = Field(default_factory=dict, description="the LangChain chat model's keyword "
                                      "settings (the [llm.langchain] table; --llm-arg KEY=VALUE)")
    base_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="OpenAI-compatible endpoints, e.g. http://127.0.0.1:8000/v1; several are load-balanced",
    )
    api_key: SecretStr = SecretStr("EMPTY")
    # Sampling defaults; every call may override them.
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(2048, ge=1, description="reply budget; shrunk per request to fit the context")
    seed: int | None = Field(0, description="sampling seed of requests that give none; None (`none`) sends no "
                                            "seed at all, not even the agents' own per-request seeds")
    # Transport: one loop owns retrying (the SDK's own retries are off).
    timeout_s: float = Field(120.0, gt=0.0, description="seconds per request")
    connect_timeout_s: float = Field(5.0, gt=0.0, description="seconds to open a connection")
    max_retries: int = Field(4, ge=0, description="retries of a transient failure (connection, timeout, 429, 5xx)")
    retry_initial_s: float = Field(0.5, ge=0.0, description="first backoff; doubles with jitter")
    retry_max_s: float = Field(20.0, ge=0.0, description="longest backoff")
    retry_after_max_s: float = Field(60.0, ge=0.0, description="longest wait a server's Retry-After may ask for")
    concurrency: int = Field(32, ge=1, description="requests in flight per endpoint")
    # The context window (vLLM reports max_model_len in /v1/models; that wins over this setting).
    max_model_len: int = Field(2048, ge=64, description="the model's context in tokens, when the server does "
                                                        "not report it")
    min_reply_tokens: int = Field(256, ge=1, description="a prompt that leaves less room than this for the reply "
                                                        "is trimmed, else fails its stage")
    # Cache of replies (exact replay of a re-run or a resumed run).
    cache_enabled: bool = True
    cache_path: Path | None = Path(".codemill/llm-cache.sqlite")
    # A local server, when no endpoint is given (graphs/app/model_endpoint.py).
    model_cache_dir: Path = Field(DEFAULT_MODEL_CACHE_DIR, description="where the demo model is built (about "
                                  "1.6 GiB free while building, 1.1 GiB kept) and running servers are recorded")
    vllm_python: Path | None = Field(None, description="the interpreter that has vLLM (default: this one if it "
                                     "has vLLM, else .venv-vllm/bin/python beside the checkout or in the working "
                                     "directory)")
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

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in SEED_OFF:
            return None
        return value

    def sampling(self) -> dict[str, Any]:
        """The default sampling parameters of a request (seed only when seeds are on)."""
        params: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p,
                                  "max_tokens": self.max_tokens}
        if self.seed is not None:
            params["seed"] = self.seed
        return params


LLMSettings.env_aliases = {
    "CODEMILL_LLM_BASE_URL": "base_urls", "CODEMILL_BASE_URL": "base_urls", "CODEMILL_MODEL": "model",
    "CODEMILL_API_KEY": "api_key", "CODEMILL_MODEL_CACHE_DIR": "model_cache_dir", "CODEMILL_VLLM_PYTHON": "vllm_python",
}
