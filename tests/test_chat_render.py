"""The chat renderers, drawn on a recording console: what a person reads and the colours of the statuses."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from graphs.app.chat import render
from graphs.context import Event, SynthSettings
from graphs.state import ExecutionChecks, Instance, RubricCheck, TaskType, Verdict
from tools.verification import Efficiency, PreferencePair, VerifyResult


def shown(renderable: object, width: int = 120) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


VERIFICATION = VerifyResult(
    task_id="s:generation", prompt="p", language="python", candidates=["a", "b"], tests=["t1", "t2", "t3"],
    matrix=[["passed", "passed", "timeout"], ["failed", "error", "passed"]], exec_s=[[0.0] * 3] * 2,
    errors=[[None] * 3] * 2, ranker="bayes", scores={"bayes": [0.91, 0.12]}, test_scores={"bayes": [0.5, 0.4, 0.3]},
    top_candidate=0, efficiency=Efficiency(), timing_s={},
    pairs=[PreferencePair(prompt="p", chosen="a", rejected="b", kind="correctness")])


def test_the_pass_matrix_shows_statuses_passes_scores_and_the_top_candidate() -> None:
    text = shown(render.matrix_table(VERIFICATION))
    assert "2 candidates × 3 tests" in text
    lines = [line for line in text.splitlines() if line.startswith("│ c")]
    assert "c1 ★" in lines[0] and "pass" in lines[0] and "TIME" in lines[0] and "2/3" in lines[0]
    assert "0.910" in lines[0]
    assert "FAIL" in lines[1] and "ERR" in lines[1] and "1/3" in lines[1] and "0.120" in lines[1]
    assert "score (bayes)" in text and "1 preference pair" in text


def test_statuses_are_coloured_by_outcome() -> None:
    assert render.status_cell("passed").style == "bold green"
    assert render.status_cell("failed").style == "bold red"
    assert render.status_cell("timeout").style == "yellow"
    assert str(render.status_cell("something_new")) == "something_new"


def test_the_instance_panel_shows_instruction_and_highlighted_code() -> None:
    instance = Instance(task_type=TaskType.REPAIR, task_name="Fix inc", instruction="Fix the bug in `inc`.",
                        input="def inc(x):\n    return x - 1\n", output="def inc(x):\n    return x + 1\n",
                        entry_point="inc", buggy_code="def inc(x):\n    return x - 1\n")
    text = shown(render.instance_panel(instance, attempt=2))
    assert "repair · Fix inc · attempt 2 · entry point inc" in text
    assert "Fix the bug in `inc`." in text and "return x - 1" in text and "return x + 1" in text
    console = Console(record=True, width=100, color_system="truecolor", force_terminal=True)
    console.print(render.code("def inc(x):\n    return x + 1", "python"))
    assert "\x1b[" in console.export_text(styles=True)  # syntax-highlighted


def test_a_summary_is_prose_not_code() -> None:
    instance = Instance(task_type=TaskType.SUMMARIZATION, task_name="Summarize", instruction="Summarize it.",
                        input="def f(): pass", output="Does nothing at all, politely.")
    text = shown(render.instance_panel(instance))
    assert "summary" in text and "Does nothing at all, politely." in text


def test_the_verdict_lists_each_check_with_its_reason() -> None:
    verdict = Verdict(checks=[RubricCheck(name="language_stated", passed=True, reason="says Python"),
                              RubricCheck(name="imports", passed=False, reason="uses math without importing it")],
                      accepted=False, analysis="one check fails")
    text = shown(render.verdict_panel(verdict))
    assert "discriminator · verdict" in text and "REJECTED" in text
    assert "✓" in text and "language_stated" in text and "says Python" in text
    assert "✗" in text and "uses math without importing it" in text and "one check fails" in text
    human = Verdict(checks=[RubricCheck(name="human", passed=True, reason="fine")], accepted=True, source="human")
    assert "human · verdict" in shown(render.verdict_panel(human)) and "ACCEPTED" in shown(render.verdict_panel(human))


def test_tests_candidates_and_checks() -> None:
    tests = shown(render.tests_table(["assert f(1) == 2", "assert f(0) == 1"], "python"))
    assert "test_writer · 2 tests" in tests and "assert f(0) == 1" in tests
    candidates = shown(render.candidates_panel(["def f(x):\n    return x + 1", "def f(x):\n    return 1"], "python"))
    assert "2 candidates" in candidates and "candidate 2" in candidates and "return 1" in candidates
    checks = ExecutionChecks(reference_passes=2, tests_total=3, buggy_fails=1, ok=False, detail="fails test 3")
    assert "✗ executable checks fail · reference passes 2/3 · fails test 3" in shown(render.checks_line(checks))


def test_agent_events_worth_a_line() -> None:
    rejected = render.event_line(Event(thread="t", agent="generator", kind="rejected",
                                       payload={"stage": "generate", "attempt": 2, "error": "not JSON"}))
    assert isinstance(rejected, Text) and "generator · generate attempt 2 rejected: not JSON" in str(rejected)
    dropped = render.event_line(Event(thread="t", agent="test_writer", kind="dropped_tests",
                                      payload={"problems": ["test 2 does not call f"]}))
    assert dropped is not None and "dropped 1 unusable test(s): test 2 does not call f" in str(dropped)
    assert render.event_line(Event(thread="t", agent="generator", kind="output")) is None


def test_help_and_settings() -> None:
    assert "/regen tests|candidates|instance" in shown(render.help_table())
    line = str(render.settings_line(SynthSettings(n_candidates=7, n_tests=3, temperature=0.2), TaskType.REPAIR, ""))
    assert "task repair" in line and "N=7" in line and "M=3" in line and "temperature 0.2" in line
