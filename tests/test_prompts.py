"""Every prompt template renders; a missing variable fails loudly; code enters only as variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta

from agents.discriminator import RUBRICS
from graphs.state import TaskType
from tools.prompting import PromptError, chat_messages, environment, fence, render, template_names

ROOT = Path(__file__).resolve().parent.parent

VARIABLES: dict[str, Any] = {
    "seed_code": "def add(a, b):\n    return a + b\n", "seed_language": "Python", "seed_language_id": "python",
    "language": "JavaScript", "language_id": "javascript", "source_language": "Python",
    "examples": [
        {"accepted": True, "human": True, "reply": '{"task_name": "good one"}', "analysis": "Clear task.",
         "reasons": []},
        {"accepted": False, "human": False, "reply": '{"task_name": "bad one"}', "analysis": "Vague.",
         "reasons": ["language_stated: the instruction never says JavaScript"]},
    ],
    "feedback": ["imports: `math` is used but never imported"], "previous": '{"task_name": "earlier"}',
    "instruction": "Write a JavaScript function `add(a, b)` that returns the sum.", "input": "add(1, 2) is 3",
    "input_is_code": False, "input_language_id": "python", "input_label": "Input", "entry_point": "add",
    "task_name": "Add two numbers", "output": "function add(a, b) {\n  return a + b;\n}",
    "output_is_code": True, "output_label": "Solution", "n_tests": 5, "signature": "function add(a, b)",
    "error": "solution does not parse: line 3: invalid syntax",
}
PAGES = [name for name in template_names() if not Path(name).name.startswith("_")]


def declared_variables(name: str) -> set[str]:
    source = (ROOT / "prompts" / name).read_text()
    return meta.find_undeclared_variables(environment().parse(source))


PARAMETRIZED = [name for name in PAGES if declared_variables(name)]


def test_templates_ship_inside_the_prompts_package_of_this_repository() -> None:
    assert {"generator/system.j2", "generator/generation.j2", "generator/summarization.j2",
            "generator/repair.j2", "generator/translation.j2", "generator/sample.j2",
            "discriminator/generation.j2", "test_writer/user.j2", "common/reask.j2"} <= set(template_names())
    for name in template_names():
        assert (ROOT / "prompts" / name).is_file()


@pytest.mark.parametrize("name", PAGES)
def test_every_template_renders_without_leftover_markup(name: str) -> None:
    text = render(name, **VARIABLES)
    assert text.strip()
    assert "{{" not in text and "{%" not in text and "Undefined" not in text


@pytest.mark.parametrize("name", PARAMETRIZED)
def test_every_template_fails_on_a_missing_variable(name: str) -> None:
    with pytest.raises(PromptError, match=re.escape(name)):
        render(name)


def test_only_system_prompts_are_constant() -> None:
    assert set(PAGES) - set(PARAMETRIZED) == {"generator/system.j2", "discriminator/system.j2",
                                              "test_writer/system.j2"}


def test_the_error_names_the_missing_variable() -> None:
    partial = {key: value for key, value in VARIABLES.items() if key != "seed_code"}
    with pytest.raises(PromptError, match="seed_code"):
        render("generator/generation.j2", **partial)


def test_an_unknown_template_is_a_clear_error() -> None:
    with pytest.raises(PromptError, match=r"prompts/generator/nope\.j2"):
        render("generator/nope.j2")


def test_code_is_inserted_verbatim_never_interpreted_as_a_template() -> None:
    hostile = 'def f():\n    return "{{ seed_code }} {% raw %}"\n'
    text = render("generator/generation.j2", **{**VARIABLES, "seed_code": hostile})
    assert hostile.strip() in text


def test_fence_outgrows_backticks_inside_the_code() -> None:
    fenced = fence('s = "```"\n', "python")
    assert fenced.startswith("````python\n") and fenced.endswith("\n````")


def test_few_shot_examples_show_good_and_bad_with_the_analysis() -> None:
    text = render("generator/repair.j2", **VARIABLES)
    assert "GOOD (judged by a human)" in text and "BAD" in text
    assert "Reviewer's analysis: Vague." in text
    assert "failed language_stated: the instruction never says JavaScript" in text
    assert "imports: `math` is used but never imported" in text  # the retry's feedback


def test_no_examples_and_no_feedback_leave_no_trace() -> None:
    text = render("generator/generation.j2", **{**VARIABLES, "examples": [], "feedback": []})
    assert "Example" not in text and "rejected" not in text


@pytest.mark.parametrize("task_type", list(TaskType))
def test_each_discriminator_prompt_asks_every_rubric_question(task_type: TaskType) -> None:
    text = render(f"discriminator/{task_type.value}.j2", **VARIABLES)
    for check in RUBRICS[task_type]:
        assert f"- {check}:" in text


def test_chat_messages_build_a_system_and_a_user_message() -> None:
    messages = chat_messages("test_writer/system.j2", "test_writer/user.j2", **VARIABLES)
    assert [message["role"] for message in messages] == ["system", "user"]
    assert "console.assert" in messages[1]["content"]  # JavaScript test style for a JS target
    assert "5 independent unit tests" in messages[1]["content"]


@pytest.mark.parametrize("language_id", ["python", "javascript"])
@pytest.mark.parametrize("name", PAGES)
def test_no_prompt_shows_a_placeholder_as_the_value_to_fill(name: str, language_id: str) -> None:
    # A small model copies a format's "..." into its reply: every format shows a real, filled value instead.
    text = render(name, **{**VARIABLES, "language_id": language_id})
    assert '"..."' not in text and "[...]" not in text and "{...}" not in text


def _last_json(text: str) -> dict[str, Any]:
    import json

    return json.loads(next(line for line in reversed(text.splitlines()) if line.startswith("{")))


@pytest.mark.parametrize("task_type", list(TaskType))
def test_each_discriminator_prompt_shows_a_worked_judgment_that_no_reply_may_copy(task_type: TaskType) -> None:
    from agents.discriminator import verdict_from, worked_example
    from agents.schemas import judgement_schema
    from agents.validation import judgment_problem
    from tools.errors import OutputRejected

    example = worked_example(task_type)
    page = render(f"discriminator/{task_type.value}.j2", **VARIABLES)
    assert example.strip() in page
    reply = _last_json(example)
    assert list(reply) == [*RUBRICS[task_type], "analysis"]  # every check, in the rubric's order
    reasons = {name: reply[name]["reason"] for name in RUBRICS[task_type]}
    assert judgment_problem(reasons, reply["analysis"], prompt="") is None  # itself a judgment with substance
    with pytest.raises(OutputRejected, match="worked example"):
        verdict_from(judgement_schema(RUBRICS[task_type]).model_validate(reply), task_type, page, example)


def test_the_worked_judgments_show_both_answers() -> None:
    from agents.discriminator import worked_example

    answers = {check["passed"] for task in TaskType for name, check in _last_json(worked_example(task)).items()
               if name != "analysis"}
    assert answers == {True, False}


@pytest.mark.parametrize("language_id", ["python", "javascript"])
@pytest.mark.parametrize("task_type", list(TaskType))
def test_each_generator_prompt_shows_a_worked_reply_that_passes_its_own_checks(task_type: TaskType,
                                                                               language_id: str) -> None:
    from agents.generator import SCHEMAS, CopySources, LLMGenerator
    from graphs.state import SeedInput, SynthesisState

    variables = {**VARIABLES, "language_id": language_id}
    example = render(f"generator/_worked_{task_type.value}.j2", **variables)
    assert example.strip() in render(f"generator/{task_type.value}.j2", **variables)
    state = SynthesisState(seed=SeedInput(id="s", code="x = 1"), task_type=task_type)
    language = language_id if task_type is not TaskType.SUMMARIZATION else "python"
    build = LLMGenerator._builder(state, language, CopySources(prompt="", examples="", seed_code=""))
    instance = build(SCHEMAS[task_type].model_validate(_last_json(example)))
    assert instance.output.strip()


def _json_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("{")]


def test_the_summarization_page_reads_as_code_then_reply_with_the_seed_last() -> None:
    # A small base model continues a document: worked code/reply pairs first, then the seed's code and the
    # cue, so the next thing to write is the reply for the seed, in the compact shape guided decoding emits.
    import json

    from agents.generator import SCHEMAS, CopySources, LLMGenerator
    from graphs.state import SeedInput, SynthesisState

    page = render("generator/summarization.j2", **{**VARIABLES, "examples": [], "feedback": []})
    worked = render("generator/_worked_summarization.j2", **VARIABLES).strip()
    seed_block = fence(VARIABLES["seed_code"], "python")
    assert page.rstrip().endswith(f"{seed_block}\nJSON:")
    assert page.index(worked) < page.rindex(seed_block)
    replies = _json_lines(worked)
    assert len(replies) >= 2
    state = SynthesisState(seed=SeedInput(id="s", code="x = 1"), task_type=TaskType.SUMMARIZATION)
    build = LLMGenerator._builder(state, "python", CopySources(prompt="", examples="", seed_code=""))
    for line in replies:
        reply = json.loads(line)
        assert line == json.dumps(reply, separators=(",", ":"), ensure_ascii=False)
        assert build(SCHEMAS[TaskType.SUMMARIZATION].model_validate(reply)).output.strip()


def test_the_summarization_review_shows_worked_judgments_in_the_instance_layout_then_the_instance() -> None:
    import json

    from agents.discriminator import worked_example
    from agents.validation import judgment_problem

    page = render("discriminator/summarization.j2", **{**VARIABLES, "output_is_code": False})
    instance = render("discriminator/_instance.j2", **{**VARIABLES, "output_is_code": False}).strip()
    example = worked_example(TaskType.SUMMARIZATION)
    assert page.rstrip().endswith(f"{instance}\n\nJudgment:")
    assert page.index(example.strip()) < page.rindex(instance)
    judgments = _json_lines(example)
    assert len(judgments) >= 2 and example.count("Instruction:\n") == len(judgments)
    assert {json.loads(line)["faithful"]["passed"] for line in judgments} == {True, False}
    for line in judgments:
        reply = json.loads(line)
        assert line == json.dumps(reply, separators=(",", ":"), ensure_ascii=False)
        assert list(reply) == [*RUBRICS[TaskType.SUMMARIZATION], "analysis"]
        reasons = {name: reply[name]["reason"] for name in RUBRICS[TaskType.SUMMARIZATION]}
        assert judgment_problem(reasons, reply["analysis"], prompt="") is None
