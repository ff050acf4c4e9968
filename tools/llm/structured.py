"""Structured replies: the `response_format` a server enforces, and the prompt-only fallback for servers
that do not (JSON instructions, tolerant extraction, pydantic validation, a re-ask naming the error)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import OutputRejected
from tools.llm.extract import extract_json

T = TypeVar("T", bound=BaseModel)

Messages = Sequence[dict[str, str]]


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


def with_json_instructions(messages: Messages, schema: type[BaseModel]) -> list[dict[str, str]]:
    """The conversation plus a system note asking for one JSON object matching the schema."""
    note = ("Reply with a single JSON object and nothing else (no prose, no code fence). It must match this "
            f"JSON schema:\n{json.dumps(json_schema_of(schema), separators=(',', ':'))}")
    messages = [dict(message) for message in messages]
    if messages and messages[0].get("role") == "system":
        messages[0]["content"] = f"{messages[0]['content']}\n\n{note}"
        return messages
    return [{"role": "system", "content": note}, *messages]


def with_reask(messages: Messages, reply: str, problem: str) -> list[dict[str, str]]:
    """The conversation plus the invalid reply and what was wrong with it, so the model can fix it."""
    return [*(dict(message) for message in messages), {"role": "assistant", "content": reply},
            {"role": "user", "content": f"That reply was rejected: {problem}\nReply again with only a JSON "
                                        "object that matches the schema."}]


def parse_reply(text: str, schema: type[T]) -> T:
    """The reply as a `schema` instance, or OutputRejected with the reason (no JSON, or validation errors)."""
    value = extract_json(text)
    try:
        return schema.model_validate(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']}" for item in error.errors()
        )
        raise OutputRejected(f"JSON does not match {schema.__name__}: {problems}") from error


def parse_replies(texts: list[str], schema: type[T]) -> tuple[list[T], list[str]]:
    """Valid instances, and the rejection reasons of the others."""
    valid: list[T] = []
    problems: list[str] = []
    for text in texts:
        try:
            valid.append(parse_reply(text, schema))
        except OutputRejected as error:
            problems.append(str(error))
    return valid, problems
