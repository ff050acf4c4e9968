"""Structured replies: the `response_format` a server enforces, the prompt-only fallback for a schema a server
refuses to enforce (JSON instructions, tolerant extraction), and reading replies into pydantic models.

Reading never crashes on content: a reply nested deeper than the parser's recursion limit, or too large to
hold, is a rejected reply like any other invalid one. A reply cut off at `max_tokens` is rejected whatever
it parses to (a cut-off reply may still contain a complete inner object).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import OutputRejected, validation_problems
from tools.llm.backend import Message
from tools.llm.extract import extract_json

T = TypeVar("T", bound=BaseModel)
log = logging.getLogger("codemill.llm")


def _closed(node: Any) -> Any:
    """Every object schema without an explicit `additionalProperties` gets `false` (OpenAI's strict mode):
    otherwise a constrained decoder may legally append keys of its own choosing until the token limit."""
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        return node
    if isinstance(node, list):
        return [_closed(item) for item in node]
    return node


def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, closed to extra keys."""
    return _closed(schema.model_json_schema())


def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """OpenAI's strict `json_schema` response format; vLLM turns it into constrained decoding."""
    return {"type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": json_schema_of(schema), "strict": True}}


def with_json_instructions(messages: Sequence[Message], schema: type[BaseModel]) -> list[Message]:
    """The conversation plus a system note asking for one JSON object matching the schema."""
    note = ("Reply with a single JSON object and nothing else (no prose, no code fence). It must match this "
            f"JSON schema:\n{json.dumps(json_schema_of(schema), separators=(',', ':'))}")
    messages = [dict(message) for message in messages]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n\n{note}"
        return messages
    return [{"role": "system", "content": note}, *messages]


def parse_reply(text: str, schema: type[T]) -> T:
    """The reply as a `schema` instance, or OutputRejected with the reason (no JSON, or validation errors)."""
    try:
        value = extract_json(text)
        return schema.model_validate(value)
    except ValidationError as error:
        raise OutputRejected(f"JSON does not match {schema.__name__}: {validation_problems(error)}") from error
    except RecursionError as error:
        raise OutputRejected("the reply is nested too deeply to read; keep the JSON flat") from error
    except MemoryError as error:
        raise OutputRejected("the reply is too large to read") from error


def parse_choices(
    texts: Sequence[str], finish_reasons: Sequence[str | None], schema: type[T], max_tokens: int | None,
) -> tuple[list[T], list[str]]:
    """Valid instances, and the rejection reasons of the others (in choice order)."""
    valid: list[T] = []
    problems: list[str] = []
    for index, text in enumerate(texts):
        if index < len(finish_reasons) and finish_reasons[index] == "length":
            limit = f" of {max_tokens} tokens" if max_tokens else ""
            problems.append(f"the reply was cut off at the length limit{limit} before it was complete; "
                            "write a shorter reply")
            continue
        try:
            valid.append(parse_reply(text, schema))
        except OutputRejected as error:
            problems.append(str(error))
    return valid, problems


class FormatSupport:
    """Which schemas the server refused to enforce through `response_format`: those go prompt-only, each
    logged once and its requests counted; every other schema keeps constrained decoding."""

    def __init__(self) -> None:
        self._refused: set[type[BaseModel]] = set()
        self.prompt_only_requests: Counter[str] = Counter()

    def prompt_only(self, schema: type[BaseModel]) -> bool:
        return schema in self._refused

    def refused(self, schema: type[BaseModel], reason: str) -> None:
        if schema not in self._refused:
            self._refused.add(schema)
            log.warning("the server refused response_format for %s (%s): asking for it by prompt instructions "
                        "from now on, without constrained decoding", schema.__name__, reason)

    def counted(self, schema: type[BaseModel]) -> None:
        self.prompt_only_requests[schema.__name__] += 1
