"""The model flags every command that talks to a model shares, and LLMSettings built from them.

    def configure(parser):
        add_llm_arguments(parser)

    def run(args):
        settings = llm_settings_from_args(args)   # CLI > CODEMILL_LLM_* environment > --config file > defaults

`--llm langchain:module.Class` drives the agents with a LangChain chat model; each `--llm-arg KEY=VALUE` is one of
its keyword settings, over the `[llm.langchain]` table of the config file (a VALUE that reads as JSON is that JSON:
`timeout=30`, `streaming=false`, `stop=["###"]`; anything else is a string).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tools.llm.settings import SEED_OFF, LLMSettings
from tools.settings import add_config_argument, load_settings

# flag destination -> LLMSettings field
_FIELDS = {
    "llm": "backend", "base_url": "base_urls", "model": "model", "api_key": "api_key", "temperature": "temperature",
    "top_p": "top_p", "max_tokens": "max_tokens", "seed": "seed", "concurrency": "concurrency",
    "timeout": "timeout_s", "max_retries": "max_retries", "cache_path": "cache_path",
}


def seed_flag(text: str) -> int | str:
    """`--seed N`, or `--seed none` (kept as the string "none": "given, and off", unlike a missing flag)."""
    if text.strip().lower() in SEED_OFF:
        return "none"
    try:
        return int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from error


def base_seed(args: argparse.Namespace) -> int | None:
    """The integer `--seed`, or None when the flag is missing or `none` (for settings groups whose seed is an
    integer, e.g. the synth group's task-mix and per-request seed derivation)."""
    value = getattr(args, "seed", None)
    return value if isinstance(value, int) else None


def llm_arg(text: str) -> tuple[str, Any]:
    """`--llm-arg KEY=VALUE`: the value as JSON when it is JSON, else as the string given."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python identifier, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def add_llm_arguments(parser: argparse.ArgumentParser, *, model_flag: bool = True) -> None:
    """Add --llm, --llm-arg, --base-url (repeatable), --model, --api-key, --no-cache, --config and sampling flags."""
    add_config_argument(parser)
    group = parser.add_argument_group("model endpoint")
    group.add_argument("--llm", metavar="BACKEND",
                       help="what sends the requests: openai (default), or langchain:module.Class, any LangChain "
                            "chat model, e.g. langchain:langchain_openai.ChatOpenAI (env CODEMILL_LLM_BACKEND)")
    group.add_argument("--llm-arg", action="append", type=llm_arg, metavar="KEY=VALUE",
                       help="a keyword setting of the LangChain chat model; repeatable (config: [llm.langchain])")
    group.add_argument("--base-url", action="append", metavar="URL",
                       help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; repeat to balance "
                            "over several (env CODEMILL_BASE_URL)")
    if model_flag:
        group.add_argument("--model", metavar="NAME", help="model name as the server knows it (env CODEMILL_MODEL)")
    group.add_argument("--api-key", metavar="KEY", help="API key (env CODEMILL_API_KEY)")
    group.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per endpoint")
    group.add_argument("--timeout", type=float, metavar="S", help="seconds per request")
    group.add_argument("--max-retries", type=int, metavar="N", help="retries of transient failures")
    group.add_argument("--no-cache", action="store_true", help="do not read or write the reply cache")
    group.add_argument("--cache-path", type=Path, metavar="FILE", help="SQLite reply cache")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--temperature", type=float)
    sampling.add_argument("--top-p", type=float)
    sampling.add_argument("--max-tokens", type=int)
    sampling.add_argument("--seed", type=seed_flag, metavar="N|none",
                          help="sampling seed; `none` sends no seed with any request")


def llm_settings_from_args(args: argparse.Namespace, **overrides: Any) -> LLMSettings:
    """LLMSettings from parsed flags (only the flags given count) over environment, config file, defaults."""
    values: dict[str, Any] = {field: getattr(args, flag, None) for flag, field in _FIELDS.items()}
    if getattr(args, "no_cache", False):
        values["cache_enabled"] = False
    values.update(overrides)
    from tools.llm.client import client_settings  # the client (and the openai SDK) only once settings are built

    settings = load_settings(LLMSettings, config_file=getattr(args, "config", None), **values)
    given = dict(getattr(args, "llm_arg", None) or [])
    if given:  # key by key over the config file's [llm.langchain]
        settings = settings.model_copy(update={"langchain": {**settings.langchain, **given}})
    return client_settings(settings)
