"""The test writer: M independent unit tests for an instance's specification (instruction, input and the
entry point's signature), written without seeing the candidates or the reference solution's body.

Python tests are `assert` statements or small test functions that are called; JavaScript tests are
`console.assert(...)` lines (the sandbox makes them throw) or explicit `throw`s. Each test must parse, call
the entry point, assert something and not redefine the entry point; duplicates are dropped; at most M kept.
Fewer than half of M usable tests is re-asked; after the last re-ask the best set so far is kept.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agents.llm_agent import GaveUp, LLMAgent
from agents.schemas import TestsReply, tests_schema
from agents.validation import (
    EXECUTABLE_LANGUAGES,
    display_name,
    javascript_test_problem,
    normalized,
    python_test_problem,
    references,
    signature,
    syntax_error,
    unfence,
)
from graphs.context import RunContext
from graphs.state import EXECUTABLE_TASKS, Instance, SynthesisState, TaskType
from tools.errors import OutputRejected
from tools.prompting import chat_messages

INPUT_LABELS = {TaskType.REPAIR: "The buggy code to be fixed", TaskType.TRANSLATION: "The code to translate"}


def usable_tests(tests: list[str], entry_point: str, language: str, limit: int) -> tuple[list[str], list[str]]:
    """The usable tests (in order, de-duplicated, at most `limit`) and why each other one was dropped."""
    kept: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(tests, start=1):
        test = unfence(raw).strip()
        if (error := syntax_error(test, language)) is not None:
            problems.append(f"test {number} does not parse: {error}")
            continue
        if not references(test, entry_point, language):
            problems.append(f"test {number} does not call `{entry_point}`")
            continue
        check = python_test_problem if language == "python" else javascript_test_problem
        if (problem := check(test, entry_point)) is not None:
            problems.append(f"test {number} {problem}")
            continue
        key = normalized(test, language)
        if key in seen:
            problems.append(f"test {number} repeats an earlier test")
            continue
        seen.add(key)
        kept.append(test)
    return kept[:limit], problems


class TestWriter(LLMAgent):
    """Writes `tests` for executable instances."""

    __test__ = False  # not a pytest class

    name: ClassVar[str] = "test_writer"
    slot: ClassVar[str] = "test_writer"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"tests", "failures"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        instance = state.instance
        if instance is None or instance.task_type not in EXECUTABLE_TASKS:
            return self.failed("test", "no executable instance to write tests for")
        language = instance.language
        if language not in EXECUTABLE_LANGUAGES:
            return self.failed("test", f"cannot write executable tests for {language!r}")
        limit = ctx.settings.n_tests
        messages = chat_messages("test_writer/system.j2", "test_writer/user.j2", **self._variables(instance, limit))

        wanted = (limit + 1) // 2  # re-ask below half of M usable; settle for the best set at the end
        # The schema lets the model write up to 2·M tests: room for the duplicates and unusable ones.
        best: list[str] = []

        def validate(reply: TestsReply) -> list[str]:
            kept, problems = usable_tests(reply.tests, instance.entry_point, language, limit)
            if problems:
                self._emit(ctx, state, "dropped_tests", problems=problems)
            if len(kept) > len(best):
                best[:] = kept
            if len(kept) < wanted:
                usable = f"only {len(kept)} usable test{'s' if len(kept) != 1 else ''}" if kept \
                    else "no usable test"
                raise OutputRejected(f"{usable} (need {wanted} of {limit}): " + "; ".join(problems[:6]))
            return kept

        try:
            [tests] = await self.ask(state, ctx, messages, tests_schema(2 * limit), validate, stage="test",
                                     temperature=ctx.settings.test_temperature)
        except GaveUp as gave_up:
            return {"tests": list(best)} if best else {"failures": [gave_up.failure]}
        return {"tests": tests}

    @staticmethod
    def _variables(instance: Instance, n_tests: int) -> dict[str, Any]:
        # The signature comes from the code the task shows (the buggy code for repair), header only.
        shown = instance.buggy_code if instance.task_type is TaskType.REPAIR else instance.output
        return {
            "n_tests": n_tests, "entry_point": instance.entry_point, "instruction": instance.instruction,
            "input": instance.input, "input_is_code": instance.task_type is not TaskType.GENERATION,
            "input_label": INPUT_LABELS.get(instance.task_type, "Input"),
            "input_language_id": instance.source_language or instance.language,
            "signature": signature(shown, instance.entry_point, instance.language),
            "language": display_name(instance.language), "language_id": instance.language,
        }
