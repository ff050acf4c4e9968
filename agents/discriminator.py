"""The discriminator: judges an instance against its task's rubric, one yes/no check with a reason at a
time (WaveCoder's rubric), accepts only if every check passes, and records the verdict in the few-shot pool.

The reply schema has one required field per rubric check and no "overall" field: acceptance is computed
here from the checks, never taken from the model. The prompt shows a worked example of a judgment (of another
instance); a judgment without substance — empty or placeholder reasons, reasons copied from the rubric, the
instance or that example, an analysis that repeats the instructions — is re-asked, never a verdict.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agents.llm_agent import GaveUp, LLMAgent
from agents.schemas import CheckAnswer, Reply, judgement_schema
from agents.validation import display_name, judgment_problem
from graphs.context import RunContext
from graphs.state import Failure, RubricCheck, SynthesisState, TaskType, Verdict
from tools.errors import OutputRejected
from tools.prompting import chat_messages, render

RUBRICS: dict[TaskType, tuple[str, ...]] = {
    TaskType.GENERATION: ("language_stated", "related", "self_contained", "code_only", "no_hidden_logic",
                          "imports"),
    TaskType.SUMMARIZATION: ("language_stated", "faithful", "complete", "no_unrelated_content", "concise"),
    TaskType.REPAIR: ("language_stated", "related", "realistic_bug", "correct_fix", "code_only", "imports"),
    TaskType.TRANSLATION: ("language_stated", "faithful", "code_only", "no_hidden_logic", "imports"),
}
OUTPUT_LABELS = {
    TaskType.GENERATION: "Solution", TaskType.SUMMARIZATION: "Summary",
    TaskType.REPAIR: "Solution (fixed code)", TaskType.TRANSLATION: "Solution (translation)",
}


def worked_example(task_type: TaskType) -> str:
    """The worked judgment the task's prompt shows (of another instance), which no reply may copy."""
    return render(f"discriminator/_worked_{task_type.value}.j2")


def verdict_from(reply: Reply, task_type: TaskType, prompt: str = "", examples: str = "") -> Verdict:
    """The verdict in rubric order; accepted iff every check passed. A judgment without substance (empty or
    placeholder reasons, reasons or an analysis copied from the prompt or from its worked `examples`) is
    rejected, to be re-asked."""
    reasons = {name: getattr(reply, name).reason for name in RUBRICS[task_type]}
    problem = judgment_problem(reasons, str(getattr(reply, "analysis", "")), prompt, examples)
    if problem is not None:
        raise OutputRejected(problem)
    checks: list[RubricCheck] = []
    for name in RUBRICS[task_type]:
        answer: CheckAnswer = getattr(reply, name)
        checks.append(RubricCheck(name=name, passed=answer.passed, reason=answer.reason.strip()))
    return Verdict(checks=checks, accepted=all(check.passed for check in checks),
                   analysis=str(getattr(reply, "analysis", "")).strip(), source="model")


class RubricDiscriminator(LLMAgent):
    """Writes `verdict` and `feedback` (the failed checks' reasons, for the generator's next attempt)."""

    name: ClassVar[str] = "discriminator"
    slot: ClassVar[str] = "discriminator"
    reads: ClassVar[frozenset[str]] = frozenset({"instance", "task_type"})
    writes: ClassVar[frozenset[str]] = frozenset({"verdict", "feedback", "failures"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        instance = state.instance
        if instance is None:
            return self.failed("judge", "no instance to judge")
        task = instance.task_type
        input_language = instance.source_language or instance.language
        variables = {
            "task_name": instance.task_name, "instruction": instance.instruction, "input": instance.input,
            "input_language_id": input_language, "input_is_code": task is not TaskType.GENERATION,
            "output": instance.output,
            "output_is_code": task is not TaskType.SUMMARIZATION, "output_label": OUTPUT_LABELS[task],
            "language": display_name(instance.language), "language_id": instance.language,
            "source_language": display_name(instance.source_language or instance.language),
        }
        messages = chat_messages("discriminator/system.j2", f"discriminator/{task.value}.j2", **variables)
        schema = judgement_schema(RUBRICS[task])
        try:
            prompt = "\n".join(message["content"] for message in messages)
            examples = worked_example(task)
            [verdict] = await self.ask(state, ctx, messages, schema,
                                       lambda reply: verdict_from(reply, task, prompt, examples), stage="judge",
                                       temperature=0.0)
        except GaveUp as gave_up:
            return {"failures": [gave_up.failure]}
        update: dict[str, Any] = {"verdict": verdict, "feedback": verdict.reasons}
        if ctx.pool is not None:
            try:
                ctx.pool.add(instance, verdict)
            except OSError as error:  # a full disk costs a few-shot example, not the instance
                update["failures"] = [Failure(stage="judge", agent=self.name,
                                              message=f"few-shot pool not updated: {error}")]
        self._emit(ctx, state, "verdict", accepted=verdict.accepted, reasons=verdict.reasons)
        return update
