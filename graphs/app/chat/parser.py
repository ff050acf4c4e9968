"""Parse one line (or a pasted block) typed into `run.py chat`: a slash command with typed arguments, a
seed file path, pasted code, or a programming task in words."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from graphs.state import TaskType
from tools.errors import InputError

REGEN_STAGES = ("tests", "candidates", "instance")
GRAPH_STYLES = ("mermaid", "ascii")

# name -> (usage, one-line help); the order is the order of /help
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("/help", "this list"),
    "n": ("/n N", "candidate solutions per task (the N of the pass matrix)"),
    "m": ("/m M", "unit tests per task (the M of the pass matrix)"),
    "temp": ("/temp T", "temperature of the generator and of candidate sampling (0–2)"),
    "task": ("/task TYPE", "task type for the next seed: generation, summarization, repair, translation"),
    "lang": ("/lang LANGUAGE", "language of pasted code: python, javascript, or auto (guessed)"),
    "regen": ("/regen tests|candidates|instance", "run a stage again (instance: the whole graph, same seed)"),
    "resume": ("/resume", "go on with a run cancelled by Ctrl-C, from its last completed step"),
    "edit-test": ("/edit-test K [CODE]", "replace test K (1-based) with CODE, or edit it in a prompt; re-runs"),
    "accept": ("/accept [REASON]", "accept the instance (a human verdict, kept in the few-shot pool)"),
    "reject": ("/reject REASON", "reject the instance with a reason (a human verdict)"),
    "save": ("/save [DIR]", "write accepted instances and pairs to --out (or DIR) as `synth` does"),
    "status": ("/status", "the current settings and instance"),
    "agents": ("/agents", "the agents in each slot and where they come from"),
    "graph": ("/graph [mermaid|ascii]", "draw the agent graph"),
    "quit": ("/quit", "leave the session (also /exit, Ctrl-D)"),
}
ALIASES = {"continue": "resume", "exit": "quit", "q": "quit", "h": "help", "?": "help", "temperature": "temp",
           "edit": "edit-test"}

CODE_HINTS = re.compile(r"^\s*(def |class |import |from \S+ import |function |const |let |var |async def )",
                        re.MULTILINE)


class ChatInput(BaseModel):
    """What the user typed, classified; `command` inputs carry their parsed argument."""

    kind: Literal["empty", "command", "words", "code", "file"]
    name: str = ""  # command name (aliases resolved)
    text: str = ""  # the task in words, the code, the file path, or a command's free-text argument
    number: float | None = None  # /n, /m, /temp, /edit-test's K
    choice: str = ""  # /task's type, /regen's stage, /graph's style, /lang's language


def usage(name: str) -> str:
    return COMMANDS[name][0]


def _number(name: str, text: str, *, integer: bool, low: float, high: float) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise InputError(f"usage: {usage(name)} ({text!r} is not a number)") from None
    if not low <= value <= high:
        raise InputError(f"{usage(name)}: {text} is out of range {low:g}–{high:g}")
    return value


def _choice(name: str, text: str, options: tuple[str, ...]) -> str:
    word = text.strip().lower()
    matches = [option for option in options if option == word] or [o for o in options if word and o.startswith(word)]
    if len(matches) != 1:
        raise InputError(f"usage: {usage(name)} (one of {', '.join(options)})")
    return matches[0]


def parse_command(line: str) -> ChatInput:
    """A slash command; unknown names and bad arguments raise InputError with the usage."""
    head, _, rest = line.strip()[1:].partition(" ")
    if not head and "\n" in rest:
        head, _, rest = rest.partition("\n")
    name = ALIASES.get(head.lower(), head.lower())
    rest = rest.strip()
    if name not in COMMANDS:
        raise InputError(f"unknown command /{head}; /help lists the commands")
    match name:
        case "n" | "m":
            return ChatInput(kind="command", name=name, number=_number(name, rest, integer=True, low=1, high=64))
        case "temp":
            return ChatInput(kind="command", name=name, number=_number(name, rest, integer=False, low=0, high=2))
        case "task":
            return ChatInput(kind="command", name=name, choice=_choice(name, rest, tuple(t.value for t in TaskType)))
        case "lang":
            word = {"js": "javascript", "py": "python", "node": "javascript"}.get(rest.lower(), rest)
            return ChatInput(kind="command", name=name, choice=_choice(name, word, ("python", "javascript", "auto")))
        case "regen":
            return ChatInput(kind="command", name=name, choice=_choice(name, rest, REGEN_STAGES))
        case "graph":
            return ChatInput(kind="command", name=name, choice=_choice(name, rest, GRAPH_STYLES) if rest else "mermaid")
        case "edit-test":
            index, _, code = rest.partition(" ") if " " in rest.split("\n")[0] else rest.partition("\n")
            number = _number(name, index, integer=True, low=1, high=64)
            return ChatInput(kind="command", name=name, number=number, text=code.strip("\n"))
        case "reject":
            if not rest:
                raise InputError(f"usage: {usage(name)} (say why: the reason goes into the few-shot pool)")
            return ChatInput(kind="command", name=name, text=rest)
        case _:
            return ChatInput(kind="command", name=name, text=rest)


def looks_like_code(text: str) -> bool:
    """Pasted code rather than a sentence: several lines, or a definition/import that parses."""
    stripped = text.strip()
    if CODE_HINTS.search(stripped):
        return True
    if "\n" not in stripped:
        return False
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return bool(re.search(r"[{};]\s*$", stripped, re.MULTILINE))
    return not all(isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Name)
                   for node in tree.body)


def guess_language(code: str) -> str:
    if re.search(r"^\s*(def |class |import |from \S+ import )", code, re.MULTILINE):
        return "python"
    if re.search(r"\bfunction\b|=>|^\s*(const|let|var) |;\s*$", code, re.MULTILINE):
        return "javascript"
    return "python"


def parse_input(text: str) -> ChatInput:
    """Classify what the user typed; slash commands are parsed, everything else is a seed or a task."""
    stripped = text.strip()
    if not stripped:
        return ChatInput(kind="empty")
    if stripped.startswith("/") and not Path(stripped.split()[0]).exists():
        return parse_command(stripped)
    if "\n" not in stripped and len(stripped) < 1024:
        candidate = Path(stripped.strip("'\"")).expanduser()
        if candidate.is_file():
            return ChatInput(kind="file", text=str(candidate))
    if looks_like_code(stripped):
        return ChatInput(kind="code", text=text.strip("\n"))
    return ChatInput(kind="words", text=stripped)
