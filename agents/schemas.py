"""The structured replies the LLM agents ask for, with bounds on every field.

A tiny or badly sampled model served with constrained decoding produces schema-valid but wild values
(endless strings, hundreds of list items), so every string and list has a bound here, and no field has a
default (strict JSON-schema mode wants every property required). The bounds are sized for real tasks
(WaveCoder's seeds are 50-800 characters); a reply that runs into `max_tokens` before its bounds is cut off
and re-asked like any invalid reply. Field order is the generation order: the
model writes its reasoning and working code before the parts that depend on them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

MAX_NAME = 120
MAX_TEXT = 2000
MAX_CODE = 6000
MAX_TEST = 800
MAX_TESTS = 64
MAX_REASON = 300
IDENTIFIER = r"^[A-Za-z_$][A-Za-z0-9_$]{0,79}$"

TaskName = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE)]
EntryPoint = Annotated[str, Field(pattern=IDENTIFIER)]


class Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GenerationReply(Reply):
    """A new self-contained programming task inspired by the seed, with its reference solution."""

    task_name: TaskName
    instruction: Text
    input: Annotated[str, Field(max_length=MAX_TEXT)]
    entry_point: EntryPoint
    solution: Code


class SummarizationReply(Reply):
    """A docstring-style summary of the seed code."""

    task_name: TaskName
    instruction: Text
    summary: Annotated[str, Field(min_length=1, max_length=1000)]


class RepairReply(Reply):
    """Working code, a realistic bug injected into it, and the instruction to fix it."""

    task_name: TaskName
    entry_point: EntryPoint
    fixed_code: Code
    bug_description: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]
    buggy_code: Code
    instruction: Text


class TranslationReply(Reply):
    """The seed rewritten in the target language."""

    task_name: TaskName
    entry_point: EntryPoint
    translated_code: Code
    instruction: Text


class CandidateReply(Reply):
    """One candidate solution, code only (no Markdown, no prose outside comments)."""

    code: Code


class TestsReply(Reply):
    """Independent unit tests for a task's specification."""

    __test__ = False  # not a pytest class

    tests: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_TEST)]],
                     Field(min_length=1, max_length=MAX_TESTS)]


class CheckAnswer(Reply):
    """One rubric question: the reasoning first, then the yes/no answer."""

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]
    passed: bool


def tests_schema(limit: int) -> type[TestsReply]:
    """`TestsReply` allowing at most `limit` tests, so constrained decoding cannot run on and on."""
    return _tests_schema(max(1, min(limit, MAX_TESTS)))


@lru_cache(maxsize=64)
def _tests_schema(limit: int) -> type[TestsReply]:
    tests = Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_TEST)]],
                      Field(min_length=1, max_length=limit)]
    return create_model(f"TestsReply{limit}", __base__=TestsReply, tests=(tests, ...))


@lru_cache(maxsize=32)
def judgement_schema(check_names: tuple[str, ...]) -> type[Reply]:
    """A reply model with one required `CheckAnswer` per rubric check (so constrained decoding cannot
    skip or invent a check), then a short overall analysis. There is deliberately no "overall" field:
    acceptance is computed in code from the checks."""
    fields: dict[str, Any] = {name: (CheckAnswer, ...) for name in check_names}  # (type, default) pairs
    fields["analysis"] = (Annotated[str, Field(min_length=1, max_length=600)], ...)
    return create_model("Judgement", __base__=Reply, **fields)
