"""The executor: no LLM. Runs candidates × tests through the sandbox with the verification library (pass
matrix, every ranking, efficiency timing, preference pairs) and, in parallel, the instance's own code
against the same tests: the executable checks beyond WaveCoder.

- generation and translation: the instance's solution (for translation, the translated code, run in the
  target language) must pass every trusted test;
- repair: the fixed code must pass every trusted test and at least one trusted test must fail on the buggy code.

Trusted tests are those the top-ranked candidate passes (self-verification; a suspect candidate is never
the top one); a test that the ranking distrusts is reported but does not reject the instance, since
model-written tests are wrong about as often as model-written solutions. With no candidate to rank (or
only suspect ones), every test is trusted.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from agents.validation import EXECUTABLE_LANGUAGES
from graphs.context import Event, RunContext
from graphs.state import EXECUTABLE_TASKS, ExecutionChecks, Failure, Instance, SynthesisState, TaskType
from tools.errors import SandboxError
from tools.sandbox.models import Check, CheckResult, Limits, Status
from tools.verification import VerifyConfig, VerifyTask, averify_task
from tools.verification.task import trusted_tests


def _describe(results: list[CheckResult], which: list[int]) -> str:
    parts = []
    for index in which[:5]:
        result = results[index]
        kind = f"{result.status.value}: {result.error_type}" if result.error_type else result.status.value
        parts.append(f"test {index + 1} ({kind})")
    more = f" and {len(which) - 5} more" if len(which) > 5 else ""
    return ", ".join(parts) + more


def execution_checks(instance: Instance, reference: list[CheckResult], buggy: list[CheckResult] | None,
                     trusted: list[int] | None = None) -> ExecutionChecks:
    """Fold the reference (and buggy-code) runs into `ExecutionChecks` with a human-readable detail."""
    total = len(reference)
    trusted = list(range(total)) if trusted is None else trusted
    failing = [index for index, result in enumerate(reference) if result.status is not Status.PASSED]
    failing_trusted = [index for index in failing if index in trusted]
    passes = total - len(failing)
    notes: list[str] = []
    ok = bool(trusted) and not failing_trusted
    what = {TaskType.REPAIR: "the fixed code", TaskType.TRANSLATION: "the translated code"}.get(
        instance.task_type, "the reference solution")
    if not trusted:
        notes.append("no test is trusted: the top-ranked candidate passes none")
    if failing_trusted:
        notes.append(f"{what} fails trusted {_describe(reference, failing_trusted)}")
    elif trusted:
        notes.append(f"{what} passes all {len(trusted)} trusted tests")
    distrusted = [index for index in failing if index not in trusted]
    if distrusted:
        notes.append(f"it also fails distrusted {_describe(reference, distrusted)}")
    buggy_fails: int | None = None
    if buggy is not None:
        buggy_fails = sum(buggy[index].status is not Status.PASSED for index in trusted)
        if buggy_fails == 0:
            ok = False
            notes.append("no trusted test fails on the buggy code, so the tests do not catch the bug")
        else:
            notes.append(f"{buggy_fails} of {len(trusted)} trusted tests fail on the buggy code")
    return ExecutionChecks(reference_passes=passes, tests_total=total, buggy_fails=buggy_fails, ok=ok,
                           detail="; ".join(notes))


class SandboxExecutor:
    """Writes `verification` (the `VerifyResult`, dumped) and `checks` (`ExecutionChecks`)."""

    name: ClassVar[str] = "executor"
    slot: ClassVar[str] = "executor"
    reads: ClassVar[frozenset[str]] = frozenset({"instance", "candidates", "tests"})
    writes: ClassVar[frozenset[str]] = frozenset({"verification", "checks", "failures"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        instance = state.instance
        if instance is None or instance.task_type not in EXECUTABLE_TASKS:
            return self._failed("no executable instance to run")
        if instance.language not in EXECUTABLE_LANGUAGES:
            return self._failed(f"cannot execute {instance.language!r} code")
        if not state.tests:
            return self._failed("no tests to run")
        language = instance.language
        limits = Limits(timeout_s=ctx.settings.timeout_s)
        checks = [Check(code=instance.output, test=test, language=language, limits=limits)
                  for test in state.tests]
        if instance.task_type is TaskType.REPAIR:
            checks += [Check(code=instance.buggy_code, test=test, language=language, limits=limits)
                       for test in state.tests]
        task = VerifyTask(task_id=state.thread_id,
                          prompt=_prompt(instance), language=language,
                          candidates=state.candidates, tests=state.tests)
        # A SandboxError (a check lost twice: the infrastructure, not the code) propagates: the batch leaves
        # the thread unfinished for the next run instead of recording a verdict nobody reached.
        if ctx.sandbox is None:
            raise SandboxError("this run context has no sandbox to execute in")
        own, result = await asyncio.gather(
            ctx.sandbox.arun(checks),
            averify_task(ctx.sandbox, task, VerifyConfig(limits=limits)) if state.candidates else _nothing(),
        )
        if result is not None and result.error is not None:
            raise SandboxError(result.error)
        total = len(state.tests)
        buggy = own[total:] if instance.task_type is TaskType.REPAIR else None
        trusted = trusted_tests(result.passed, result.top_candidate) if result is not None else list(range(total))
        execution = execution_checks(instance, own[:total], buggy, trusted)
        update: dict[str, Any] = {"checks": execution}
        thread = state.thread_id
        if result is not None:
            update["verification"] = result
            ctx.emit(Event(thread=thread, agent=self.name, kind="matrix",
                           payload={"matrix": result.matrix, "scores": result.scores,
                                    "ranker": result.ranker, "pairs": len(result.pairs)}))
        ctx.emit(Event(thread=thread, agent=self.name, kind="checks", payload=execution.model_dump()))
        return update

    def _failed(self, message: str) -> dict[str, Any]:
        return {"failures": [Failure(stage="execute", agent=self.name, message=message)]}


def _prompt(instance: Instance) -> str:
    """The task as a model being trained sees it: instruction, then the input."""
    return f"{instance.instruction}\n\n{instance.input}".strip() if instance.input else instance.instruction


async def _nothing() -> None:
    return None
