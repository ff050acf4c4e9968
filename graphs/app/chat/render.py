"""Rich renderables for the chat session: the instance, candidates, tests, the pass matrix with coloured
statuses and self-verification scores, execution checks, verdicts and agent events."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from graphs.app.chat.parser import COMMANDS
from graphs.context import Event, SynthSettings
from graphs.state import ExecutionChecks, Instance, TaskType, Verdict
from tools.verification.task import VerifyResult

STATUS_STYLES = {"passed": "bold green", "failed": "bold red", "error": "red", "timeout": "yellow",
                 "memory": "magenta", "output_limit": "magenta", "crashed": "bold magenta"}
STATUS_LABELS = {"passed": "pass", "failed": "FAIL", "error": "ERR", "timeout": "TIME", "memory": "MEM",
                 "output_limit": "OUT", "crashed": "CRASH"}
THEME = "ansi_dark"


def code(text: str, language: str) -> Syntax:
    lexer = {"python": "python", "javascript": "javascript", "js": "javascript"}.get(language, language or "text")
    return Syntax(text.rstrip("\n"), lexer, theme=THEME, word_wrap=True)


def instance_panel(instance: Instance, attempt: int = 1) -> Panel:
    """The generator's instance: instruction, input (code or data) and solution."""
    parts: list[RenderableType] = [Text("instruction", style="bold"), Text(instance.instruction)]
    if instance.input.strip():
        language = instance.source_language or instance.language
        parts += [Text("input", style="bold")]
        if instance.task_type is TaskType.GENERATION:
            parts.append(Text(instance.input))
        else:
            parts.append(code(instance.input, language))
    parts.append(Text("summary" if instance.task_type is TaskType.SUMMARIZATION else "solution", style="bold"))
    if instance.task_type is TaskType.SUMMARIZATION:
        parts.append(Text(instance.output))
    else:
        parts.append(code(instance.output, instance.language))
    entry = f" · entry point {instance.entry_point}" if instance.entry_point else ""
    title = f"generator · {instance.task_type.value} · {escape(instance.task_name)} · attempt {attempt}{entry}"
    return Panel(Group(*parts), title=title, title_align="left", border_style="cyan")


def candidates_panel(candidates: Sequence[str], language: str) -> Panel:
    parts: list[RenderableType] = []
    for index, candidate in enumerate(candidates, 1):
        parts += [Text(f"candidate {index}", style="bold"), code(candidate, language)]
    return Panel(Group(*parts) if parts else Text("no candidates"), title=f"generator · {len(candidates)} candidates",
                 title_align="left", border_style="blue")


def tests_table(tests: Sequence[str], language: str, title: str = "") -> Table:
    title = title or f"test_writer · {len(tests)} tests"
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("#", justify="right", style="bold")
    table.add_column("test")
    for index, test in enumerate(tests, 1):
        table.add_row(str(index), code(test, language))
    return table


def status_cell(status: str) -> Text:
    return Text(STATUS_LABELS.get(status, status), style=STATUS_STYLES.get(status, ""))


def matrix_table(verification: VerifyResult) -> Table:
    """The executor's pass matrix: candidates × tests with coloured statuses, and the ranker's scores."""
    matrix = verification.matrix
    ranker = verification.ranker
    scores = verification.scores.get(ranker, [])
    test_scores = verification.test_scores.get(ranker, [])
    top = verification.top_candidate
    columns = len(matrix[0]) if matrix else len(verification.tests)
    table = Table(title=f"executor · pass matrix ({len(matrix)} candidates × {columns} tests)", title_justify="left")
    table.add_column("candidate", style="bold")
    for test in range(columns):
        table.add_column(f"t{test + 1}", justify="center")
    table.add_column("passed", justify="right")
    table.add_column(f"score ({ranker})" if ranker else "score", justify="right")
    for index, row in enumerate(matrix):
        passed = sum(status == "passed" for status in row)
        score = f"{scores[index]:.3f}" if index < len(scores) else "–"
        label = f"c{index + 1}" + (" ★" if index == top else "")
        table.add_row(label, *(status_cell(status) for status in row), f"{passed}/{len(row)}", score)
    if test_scores:
        table.add_row(Text("test score", style="dim"), *(Text(f"{s:.2f}", style="dim") for s in test_scores), "", "")
    pairs = len(verification.pairs)
    table.caption = f"★ top-ranked candidate · {pairs} preference pair{'s' if pairs != 1 else ''}"
    return table


def checks_line(checks: ExecutionChecks) -> Text:
    mark, style = ("✓ executable checks pass", "green") if checks.ok else ("✗ executable checks fail", "red")
    text = Text(mark, style=f"bold {style}")
    text.append(f" · reference passes {checks.reference_passes}/{checks.tests_total}")
    if checks.detail:
        text.append(f" · {checks.detail}")
    return text


def verdict_panel(verdict: Verdict) -> Panel:
    """The discriminator's (or a person's) verdict: each rubric check with its reason, then the analysis."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(width=2)
    table.add_column(style="bold")
    table.add_column()
    for check in verdict.checks:
        table.add_row(Text("✓", style="green") if check.passed else Text("✗", style="red"), check.name, check.reason)
    word = Text("ACCEPTED" if verdict.accepted else "REJECTED", style="bold green" if verdict.accepted else "bold red")
    parts: list[RenderableType] = [word, table]
    if verdict.analysis:
        parts.append(Text(verdict.analysis, style="italic"))
    judge = "human" if verdict.source == "human" else "discriminator"
    return Panel(Group(*parts), title=f"{judge} · verdict", title_align="left",
                 border_style="green" if verdict.accepted else "red")


def event_line(event: Event) -> Text | None:
    """Agent events worth a line of their own (re-asks, dropped tests); the rest arrive as state updates."""
    payload = event.payload
    if event.kind == "rejected":
        return Text(f"  {event.agent} · {payload.get('stage', '')} attempt {payload.get('attempt', '?')} "
                    f"rejected: {payload.get('error', '')}"[:400], style="yellow")
    if event.kind == "dropped_tests":
        problems = payload.get("problems") or []
        return Text(f"  {event.agent} · dropped {len(problems)} unusable test(s): " + "; ".join(problems[:3])[:300],
                    style="yellow")
    return None


def settings_line(settings: SynthSettings, task: TaskType, language: str) -> Text:
    return Text(f"task {task.value} · N={settings.n_candidates} candidates · M={settings.n_tests} tests · "
                f"temperature {settings.temperature:g} (sampling {settings.sample_temperature:g}) · "
                f"pasted code: {language or 'guessed'}", style="dim")


def help_table() -> Table:
    table = Table(title="type a task in words, a seed file path, or paste code; or a command:", title_justify="left",
                  box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for usage, text in COMMANDS.values():
        table.add_row(usage, text)
    table.caption = "Ctrl-C cancels the running step · Esc Enter inserts a newline · ↑ history"
    return table
