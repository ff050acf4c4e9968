"""The generator: writes a WaveCoder-style instance from a seed for each task type, and samples N candidate
solutions for an accepted instance (one request with `n=N`, so vLLM shares the prompt prefix).

Its prompts carry a worked example of the reply's format, few-shot examples from the pool, good and bad with
the discriminator's analysis, and on a retry the reasons the previous attempt was rejected. A reply that fills
its fields with placeholders or copies the prompt's words, the worked example or (for a summary) the code or its
instruction is re-asked like any invalid reply. Candidates never see the reference solution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from agents.llm_agent import GaveUp, LLMAgent, stable_seed
from agents.schemas import (
    CandidateReply,
    GenerationReply,
    RepairReply,
    Reply,
    SummarizationReply,
    TranslationReply,
)
from agents.validation import (
    EXECUTABLE_LANGUAGES,
    copy_problem,
    defines,
    display_name,
    normalized,
    syntax_error,
    unfence,
)
from graphs.context import RunContext
from graphs.state import EXECUTABLE_TASKS, Instance, SynthesisState, TaskType
from tools.errors import OutputRejected
from tools.prompting import chat_messages, render

SCHEMAS: dict[TaskType, type[Reply]] = {
    TaskType.GENERATION: GenerationReply,
    TaskType.SUMMARIZATION: SummarizationReply,
    TaskType.REPAIR: RepairReply,
    TaskType.TRANSLATION: TranslationReply,
}


def reply_view(instance: Instance) -> dict[str, str]:
    """An instance in the shape of its task's reply, as examples and previous attempts are shown."""
    match instance.task_type:
        case TaskType.GENERATION:
            return {"task_name": instance.task_name, "instruction": instance.instruction,
                    "input": instance.input, "entry_point": instance.entry_point, "solution": instance.output}
        case TaskType.SUMMARIZATION:
            return {"task_name": instance.task_name, "instruction": instance.instruction,
                    "summary": instance.output}
        case TaskType.REPAIR:
            return {"task_name": instance.task_name, "entry_point": instance.entry_point,
                    "fixed_code": instance.output, "buggy_code": instance.buggy_code,
                    "instruction": instance.instruction}
        case _:
            return {"task_name": instance.task_name, "entry_point": instance.entry_point,
                    "translated_code": instance.output, "instruction": instance.instruction}


def _code_problem(code: str, entry_point: str, language: str, what: str) -> str | None:
    if (error := syntax_error(code, language)) is not None:
        return f"{what} does not parse as {display_name(language)}: {error}"
    if not defines(code, entry_point, language):
        return f"entry point `{entry_point}` is not defined at the top level of {what}"
    return None


def _reject_if(problem: str | None) -> None:
    if problem is not None:
        raise OutputRejected(problem)


@dataclass(frozen=True)
class CopySources:
    """What a reply must not copy: the prompt's own words (without the seed code and the examples), the worked
    example of the reply's format it shows, and the seed code."""

    prompt: str
    examples: str
    seed_code: str

    @classmethod
    def of(cls, task: TaskType, variables: dict[str, Any]) -> CopySources:
        worked = render(f"generator/_worked_{task.value}.j2", **variables).strip()
        bare = chat_messages("generator/system.j2", f"generator/{task.value}.j2",
                             **{**variables, "seed_code": "", "examples": [], "feedback": [], "previous": ""})
        # An instruction may say what the worked example's says ("Translate this Python function into
        # JavaScript"): only the answer is held against the example. The pool's examples are not: they answer
        # other seeds, and a near-duplicate seed may rightly earn the same answer (deduplication's business).
        prompt = "\n".join(message["content"] for message in bare).replace(worked, "")
        return cls(prompt=prompt, examples=worked, seed_code=variables["seed_code"])

    def problem(self, fields: dict[str, str], answer: str, *, prose: bool = False) -> str | None:
        return copy_problem(fields, answer, prompt=self.prompt, examples=self.examples,
                            seed_code=self.seed_code if prose else "")


class LLMGenerator(LLMAgent):
    """Writes the instance (`__call__`) and samples candidates for it (`sample`)."""

    name: ClassVar[str] = "generator"
    slot: ClassVar[str] = "generator"
    reads: ClassVar[frozenset[str]] = frozenset(
        {"seed", "task_type", "target_language", "attempt", "feedback", "instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"instance", "attempt", "target_language", "failures"})
    sample_writes: ClassVar[frozenset[str]] = frozenset({"candidates", "failures"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        attempt = state.attempt + 1
        seed_language = state.seed.language
        task = state.task_type
        target = ""
        if task is TaskType.TRANSLATION:
            target = state.target_language or ctx.settings.translation_targets.get(seed_language, "")
            if not target or target == seed_language:
                return {"attempt": attempt, **self.failed(
                    "generate", f"no translation target for {seed_language!r} (settings.translation_targets)")}
            language = target
        elif task is TaskType.SUMMARIZATION or seed_language in EXECUTABLE_LANGUAGES:
            language = seed_language
        else:  # executable tasks from a seed we cannot run: the task is written in Python
            language = "python"
        variables = {
            "seed_code": state.seed.code, "seed_language": display_name(seed_language),
            "seed_language_id": seed_language, "language": display_name(language), "language_id": language,
            "examples": self._examples(state, ctx, attempt), "feedback": state.feedback,
            "previous": json.dumps(reply_view(state.instance), indent=1, ensure_ascii=False)
            if state.instance is not None and state.feedback else "",
        }
        messages = chat_messages("generator/system.j2", f"generator/{task.value}.j2", **variables)
        build = self._builder(state, language, CopySources.of(task, variables))
        try:
            # A sampling seed per attempt: a retry after a failed attempt may repeat the same prompt, and
            # must neither get the same sample back nor replay it from the reply cache.
            [instance] = await self.ask(
                state, ctx, messages, SCHEMAS[task], build, stage="generate",
                temperature=ctx.settings.temperature,
                seed=stable_seed(ctx.settings.seed, state.seed.id, task.value, attempt),
            )
        except GaveUp as gave_up:
            return {"attempt": attempt, "failures": [gave_up.failure]}
        update: dict[str, Any] = {"instance": instance, "attempt": attempt}
        if target:
            update["target_language"] = target
        return update

    async def sample(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        """N candidate solutions of the instance's instruction + input, in one request with `n=N`."""
        instance = state.instance
        if instance is None or instance.task_type not in EXECUTABLE_TASKS:
            return self.failed("sample", "no executable instance to sample candidates for")
        input_language = instance.source_language if instance.task_type is TaskType.TRANSLATION \
            else instance.language
        variables = {
            "instruction": instance.instruction, "input": instance.input,
            "input_is_code": instance.task_type is not TaskType.GENERATION,
            "input_language_id": input_language, "entry_point": instance.entry_point,
            "language": display_name(instance.language), "language_id": instance.language,
        }
        messages = chat_messages("generator/sample_system.j2", "generator/sample.j2", **variables)
        try:
            candidates = await self.ask(
                state, ctx, messages, CandidateReply, _candidate_code, stage="sample",
                temperature=ctx.settings.sample_temperature, n=ctx.settings.n_candidates,
                seed=stable_seed(ctx.settings.seed, state.seed.id, instance.task_type.value, "sample"),
            )
        except GaveUp as gave_up:
            return {"failures": [gave_up.failure]}
        return {"candidates": candidates}

    def _examples(self, state: SynthesisState, ctx: RunContext, attempt: int) -> list[dict[str, Any]]:
        if ctx.pool is None:
            return []
        entries = ctx.pool.examples(
            state.task_type, good=ctx.settings.few_shot_good, bad=ctx.settings.few_shot_bad,
            rng_seed=stable_seed(ctx.settings.seed, state.seed.id, attempt),
        )
        return [{
            "accepted": entry.verdict.accepted, "human": entry.verdict.source == "human",
            "reply": json.dumps(reply_view(entry.instance), indent=1, ensure_ascii=False),
            "analysis": entry.verdict.analysis, "reasons": entry.verdict.reasons,
        } for entry in entries]

    @staticmethod
    def _builder(state: SynthesisState, language: str, sources: CopySources) -> Callable[[Any], Instance]:
        """The semantic check for the task's reply, turning a valid reply into an `Instance`."""
        seed = state.seed

        def generation(reply: GenerationReply) -> Instance:
            reply.solution = unfence(reply.solution)
            _reject_if(_code_problem(reply.solution, reply.entry_point, language, "the solution"))
            if not re.search(rf"\b{re.escape(reply.entry_point)}\b", reply.instruction):
                raise OutputRejected(f"the instruction does not name the function `{reply.entry_point}`")
            _reject_if(sources.problem({"task_name": reply.task_name, "instruction": reply.instruction,
                                        "solution": reply.solution}, "solution"))
            return Instance(task_type=TaskType.GENERATION, task_name=reply.task_name,
                            instruction=reply.instruction, input=reply.input, output=reply.solution,
                            language=language, entry_point=reply.entry_point)

        def summarization(reply: SummarizationReply) -> Instance:
            summary = reply.summary.strip()
            if "```" in summary:
                raise OutputRejected("the summary must be prose, not a code block")
            if len(summary.split()) < 5:
                raise OutputRejected(f"the summary is too short to describe the code: {summary!r}")
            _reject_if(sources.problem({"task_name": reply.task_name, "instruction": reply.instruction,
                                        "summary": summary}, "summary", prose=True))
            return Instance(task_type=TaskType.SUMMARIZATION, task_name=reply.task_name,
                            instruction=reply.instruction, input=seed.code, output=summary,
                            language=seed.language)

        def repair(reply: RepairReply) -> Instance:
            reply.fixed_code, reply.buggy_code = unfence(reply.fixed_code), unfence(reply.buggy_code)
            _reject_if(_code_problem(reply.fixed_code, reply.entry_point, language, "fixed_code"))
            _reject_if(_code_problem(reply.buggy_code, reply.entry_point, language, "buggy_code"))
            if normalized(reply.buggy_code, language) == normalized(reply.fixed_code, language):
                raise OutputRejected("buggy_code is the same as fixed_code (ignoring formatting and "
                                     "comments): inject the bug you described into buggy_code")
            _reject_if(sources.problem({"task_name": reply.task_name, "instruction": reply.instruction,
                                        "bug_description": reply.bug_description, "fixed_code": reply.fixed_code},
                                       "fixed_code"))
            return Instance(task_type=TaskType.REPAIR, task_name=reply.task_name,
                            instruction=reply.instruction, input=reply.buggy_code, output=reply.fixed_code,
                            language=language, entry_point=reply.entry_point, buggy_code=reply.buggy_code)

        def translation(reply: TranslationReply) -> Instance:
            reply.translated_code = unfence(reply.translated_code)
            _reject_if(_code_problem(reply.translated_code, reply.entry_point, language, "translated_code"))
            _reject_if(sources.problem({"task_name": reply.task_name, "instruction": reply.instruction,
                                        "translated_code": reply.translated_code}, "translated_code"))
            return Instance(task_type=TaskType.TRANSLATION, task_name=reply.task_name,
                            instruction=reply.instruction, input=seed.code, output=reply.translated_code,
                            language=language, entry_point=reply.entry_point, source_language=seed.language)

        builders: dict[TaskType, Callable[[Any], Instance]] = {
            TaskType.GENERATION: generation, TaskType.SUMMARIZATION: summarization,
            TaskType.REPAIR: repair, TaskType.TRANSLATION: translation,
        }
        return builders[state.task_type]


def _candidate_code(reply: CandidateReply) -> str:
    """A candidate as written (wrong ones are wanted: they become the rejected side of pairs), unwrapped
    from a Markdown fence if the model added one anyway."""
    code = unfence(reply.code)
    if not code.strip():
        raise OutputRejected("the code is empty")
    return code
