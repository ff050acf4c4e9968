"""LangChain chat models built from codemill's settings: `backend = "langchain:module.Class"` (`--llm`) names the
class, `[llm.langchain]` (`--llm-arg KEY=VALUE`) holds its keyword settings.

The keyword settings go to the class as given. Of LangChain's standard parameters, the ones the class declares and
the keyword settings leave out come from codemill's settings: `model` (when configured, or when the class has no
default), `api_key` (when configured), `base_url` (one chat model per `--base-url`), `timeout` (`timeout_s`) and
`max_retries=0`: the transport's retries are the one budget. What codemill sets per request (sampling, `n`,
retries) is refused as a keyword setting, so that no setting is silently overridden.

The endpoint guard (`allow_remote`, and the tests' switch) sees the endpoint of a class that declares `base_url`;
without one given, such a class talks to its provider's default endpoint, which counts as remote.
"""

from __future__ import annotations

import importlib
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError
from pydantic_core import PydanticUndefined

from tools.errors import ConfigError, validation_problems
from tools.llm.backend import LANGCHAIN, OPENAI
from tools.llm.settings import LLMSettings
from tools.llm.transport import check_endpoint_allowed

EXAMPLE = "langchain:langchain_openai.ChatOpenAI"
# set by codemill for every request (tools/llm/langchain_backend.py) or by the transport: never a keyword setting
PER_REQUEST = {"temperature": "--temperature", "top_p": "--top-p", "max_tokens": "--max-tokens", "seed": "--seed",
               "n": "the agents' own n", "max_retries": "--max-retries"}


def is_langchain(settings: LLMSettings) -> bool:
    return settings.backend != OPENAI


def chat_model_class(spec: str) -> type[BaseChatModel]:
    """The class `langchain:module.Class` names; a ConfigError (one line) for anything else."""
    path = spec.removeprefix(LANGCHAIN)
    if not spec.startswith(LANGCHAIN) or "." not in path.strip("."):
        raise ConfigError(f"unknown LLM backend {spec!r}: use {OPENAI!r} or 'langchain:module.Class' (e.g. {EXAMPLE})")
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"--llm {spec}: cannot import {module_name} ({error}); install the package that "
                          "provides it") from error
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, BaseChatModel)):
        what = "nothing" if found is None else type(found).__name__
        raise ConfigError(f"--llm {spec}: {module_name}.{class_name} is {what}, not a LangChain chat model "
                          "(a subclass of langchain_core.language_models.BaseChatModel)")
    return found


def field_for(cls: type[BaseChatModel], name: str) -> str | None:
    """The field of `cls` named or aliased `name` (ChatOpenAI's `base_url` is the field `openai_api_base`)."""
    for field, info in cls.model_fields.items():
        if name in (field, info.alias, info.validation_alias):
            return field
    return None


def _given(cls: type[BaseChatModel], options: dict[str, Any]) -> dict[str, Any]:
    """The keyword settings by field name (keys the class does not declare stay as they are)."""
    return {field_for(cls, key) or key: value for key, value in options.items()}


def model_name(settings: LLMSettings) -> str:
    """The model's name in requests, the reply cache and the manifest: the `model` keyword setting, else the
    configured `model`, else the class's default, else the backend spec itself (a model without a name)."""
    cls = chat_model_class(settings.backend)
    field = field_for(cls, "model")
    configured = "model" in settings.model_fields_set
    given = _given(cls, settings.langchain).get(field) if field else None
    if given is not None:
        if configured and settings.model != str(given):
            raise ConfigError(f"two model names: --model {settings.model} and the LangChain setting model={given}; "
                              "give one")
        return str(given)
    if configured or (field and cls.model_fields[field].is_required()):
        return settings.model
    default = cls.model_fields[field].default if field else None
    return str(default) if default not in (None, PydanticUndefined) else settings.backend


def with_model_name(settings: LLMSettings) -> LLMSettings:
    """`settings` whose `model` is the LangChain model's name (unchanged for the OpenAI backend)."""
    if not is_langchain(settings):
        return settings
    name = model_name(settings)
    return settings if name == settings.model else settings.model_copy(update={"model": name})


def _options(cls: type[BaseChatModel], settings: LLMSettings) -> dict[str, Any]:
    """The keyword settings plus codemill's values of the standard parameters the class declares."""
    options = dict(settings.langchain)
    given = _given(cls, options)
    for standard, flag in PER_REQUEST.items():
        field = field_for(cls, standard)
        if field in given or standard in given:
            raise ConfigError(f"the LangChain setting {standard} is set by codemill (use {flag}); drop it from "
                              "[llm.langchain] / --llm-arg")

    def offer(standard: str, value: Any) -> None:
        field = field_for(cls, standard)
        if field is not None and field not in given:
            options[standard] = value

    name_field = field_for(cls, "model")
    if name_field is not None and name_field not in given:
        name = model_name(settings)
        if name != settings.backend:
            options["model"] = name
    if "api_key" in settings.model_fields_set:
        offer("api_key", settings.api_key.get_secret_value())
    offer("timeout", settings.timeout_s)
    offer("max_retries", 0)
    return options


def _build(cls: type[BaseChatModel], options: dict[str, Any], settings: LLMSettings) -> BaseChatModel:
    try:
        model = cls(**options)
    except ValidationError as error:
        raise ConfigError(f"--llm {settings.backend}: invalid settings: {validation_problems(error)}") from error
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--llm {settings.backend}: cannot build the chat model: {error}") from error
    base = field_for(cls, "base_url")
    if base is not None:  # the class talks to an endpoint: it must be an allowed one
        url = getattr(model, base, None)
        check_endpoint_allowed(str(url) if url else f"(the default endpoint of {cls.__name__})", settings.allow_remote)
    return model


def chat_models(settings: LLMSettings) -> list[tuple[str, BaseChatModel]]:
    """(name, chat model): one per `--base-url` (named by it), or one named by the backend spec."""
    cls = chat_model_class(settings.backend)
    options = _options(cls, settings)
    if not settings.base_urls:
        return [(settings.backend, _build(cls, options, settings))]
    base = field_for(cls, "base_url")
    if base is None:
        raise ConfigError(f"--llm {settings.backend}: {cls.__name__} takes no base_url; drop --base-url "
                          "(CODEMILL_BASE_URL)")
    if base in _given(cls, options):
        raise ConfigError(f"--llm {settings.backend}: the endpoint is given twice (--base-url and the LangChain "
                          "setting base_url); give one")
    return [(url, _build(cls, {**options, "base_url": url}, settings)) for url in settings.base_urls]


def chat_model(settings: LLMSettings, **overrides: Any) -> BaseChatModel:
    """A LangChain chat model on the same settings, for code that wants LangChain's interfaces (tools, chains):
    the configured LangChain backend (at the first base URL, `overrides` added to its keyword settings), or for
    the OpenAI backend a `ChatOpenAI` at the first base URL with the model, key, sampling and retry settings."""
    if is_langchain(settings):
        settings = settings.model_copy(update={"langchain": {**settings.langchain, **overrides},
                                               "base_urls": settings.base_urls[:1]})
        return chat_models(settings)[0][1]
    from langchain_openai import ChatOpenAI

    if not settings.base_urls:
        raise ConfigError("no model endpoint: give --base-url URL (or CODEMILL_BASE_URL)")
    check_endpoint_allowed(settings.base_urls[0], settings.allow_remote)
    options: dict[str, Any] = {
        "model": settings.model, "base_url": settings.base_urls[0], "api_key": settings.api_key,
        "temperature": settings.temperature, "top_p": settings.top_p, "max_completion_tokens": settings.max_tokens,
        "seed": settings.seed, "timeout": settings.timeout_s, "max_retries": settings.max_retries,
    }
    return ChatOpenAI(**{**options, **overrides})
