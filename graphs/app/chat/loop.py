"""The prompt loop of `run.py chat`: read a line (prompt_toolkit with history and multi-line paste, or plain
lines when stdin is not a terminal), dispatch it, and run each step as a task that Ctrl-C cancels."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.table import Table
from rich.text import Text

from graphs.app.chat import render
from graphs.app.chat.parser import ChatInput, guess_language, parse_input
from graphs.app.chat.session import ChatSession, code_seed, words_seed
from graphs.state import TaskType
from tools.errors import CodemillError, EndpointUnreachable, InputError, LLMError, Transient

LANGUAGES_BY_SUFFIX = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript"}


class LineReader(Protocol):
    async def read(self, message: str, *, default: str = "", multiline: bool = False) -> str:
        """One entry; EOFError on Ctrl-D, KeyboardInterrupt on Ctrl-C."""
        ...


class TerminalReader:
    """prompt_toolkit: history file, ↑/↓, bracketed paste keeps pasted newlines, Esc Enter adds a newline."""

    def __init__(self, history: Path | None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

        bindings = KeyBindings()

        @bindings.add("escape", "enter")
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        if history is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
        self._session: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)) if history else InMemoryHistory(), key_bindings=bindings)
        # multi-line: Enter adds a line, Esc Enter ends
        self._editor: PromptSession[str] = PromptSession(history=InMemoryHistory())

    async def read(self, message: str, *, default: str = "", multiline: bool = False) -> str:
        if multiline:
            return await self._editor.prompt_async(message, default=default, multiline=True)
        return await self._session.prompt_async(message, default=default)


class PlainReader:
    """Lines from a pipe (scripts, CI): a line ending in a backslash continues on the next."""

    async def read(self, message: str, *, default: str = "", multiline: bool = False) -> str:
        lines: list[str] = []
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                if lines:
                    break
                raise EOFError
            if line.rstrip("\n").endswith("\\"):
                lines.append(line.rstrip("\n")[:-1])
                continue
            lines.append(line.rstrip("\n"))
            break
        return "\n".join(lines)


class ChatLoop:
    """Reads entries and turns them into session steps; one bad entry never ends the session."""

    def __init__(self, session: ChatSession, reader: LineReader, console: Console, *,
                 on_save: Callable[[Path], None] = lambda outdir: None) -> None:
        self.session, self.reader, self.console = session, reader, console
        self.on_save = on_save

    async def run(self) -> int:
        self.console.print(render.settings_line(self.session.settings, self.session.task_type, self.session.language))
        while True:
            try:
                text = await self.reader.read("codemill> ")
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                return 0
            try:
                item = parse_input(text)
            except InputError as error:
                self.console.print(Text(str(error), style="yellow"))
                continue
            if item.kind == "command" and item.name == "quit":
                return 0
            await self.step(self.dispatch(item))

    async def step(self, work: Awaitable[None]) -> None:
        """Run one step as a task: Ctrl-C cancels it and returns to the prompt; errors become one line."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(work)
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            self.console.print(Text("cancelled — back at the prompt (/resume goes on, /regen runs a stage again)",
                                    style="yellow"))
        except (EndpointUnreachable, Transient) as error:
            self.console.print(Text(f"model server unavailable: {_one_line(error)} — the session goes on "
                                    "(start the server or fix --base-url, then /regen instance)", style="bold red"))
        except LLMError as error:  # a refused key, an unknown model, a refused request
            self.console.print(Text(f"model endpoint refused: {_one_line(error)} — the session goes on "
                                    "(fix --api-key or --model, then /regen instance)", style="bold red"))
        except InputError as error:
            self.console.print(Text(str(error), style="yellow"))
        except CodemillError as error:
            self.console.print(Text(f"error: {_one_line(error)}", style="red"))
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def dispatch(self, item: ChatInput) -> None:
        session = self.session
        match item.kind:
            case "empty":
                return
            case "words":
                if session.task_type is not TaskType.GENERATION:
                    self.console.print(Text(f"a task in words is a generation task (paste code for "
                                            f"{session.task_type.value})", style="dim"))
                    session.task_type = TaskType.GENERATION
                await session.start(words_seed(item.text))
            case "code":
                await session.start(code_seed(item.text, session.language or guess_language(item.text)))
            case "file":
                path = Path(item.text)
                try:
                    code = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise InputError(f"cannot read {path}: {error}") from None
                language = LANGUAGES_BY_SUFFIX.get(path.suffix, session.language or guess_language(code))
                await session.start(code_seed(code, language, str(path)))
            case _:
                await self.command(item)

    async def command(self, item: ChatInput) -> None:
        session, console = self.session, self.console
        match item.name:
            case "help":
                console.print(render.help_table())
            case "n" | "m":
                field = "n_candidates" if item.name == "n" else "n_tests"
                session.with_settings(**{field: int(item.number or 1)})
                console.print(render.settings_line(session.settings, session.task_type, session.language))
            case "temp":
                session.with_settings(temperature=item.number, sample_temperature=item.number)
                console.print(render.settings_line(session.settings, session.task_type, session.language))
            case "task":
                session.task_type = TaskType(item.choice)
                console.print(render.settings_line(session.settings, session.task_type, session.language))
                if session.seed is not None:
                    console.print(Text("/regen instance runs the current seed as this task type", style="dim"))
            case "lang":
                session.language = "" if item.choice == "auto" else item.choice
                console.print(render.settings_line(session.settings, session.task_type, session.language))
            case "status":
                console.print(render.settings_line(session.settings, session.task_type, session.language))
                state = session.peek()
                if state is not None and state.instance is not None:
                    console.print(render.instance_panel(state.instance, state.attempt))
            case "regen":
                await session.regenerate(item.choice)
            case "resume":
                await session.resume()
            case "edit-test":
                index = int(item.number or 1)
                code = item.text
                if not code:
                    current = await session.current_test(index)
                    console.print(Text("edit the test; Esc Enter (or Alt-Enter) to finish", style="dim"))
                    try:
                        code = await self.reader.read(f"test {index}> ", default=current, multiline=True)
                    except (KeyboardInterrupt, EOFError):
                        raise InputError("edit cancelled; the test is unchanged") from None
                await session.edit_test(index, code)
            case "accept" | "reject":
                await session.verdict(item.name == "accept", item.text)
            case "save":
                outdir = Path(item.text).expanduser() if item.text else session.outdir
                written = session.save(outdir)
                self.on_save(outdir)
                console.print(f"saved to {outdir}: {written['sft']} new SFT rows, {written['dpo']} new "
                              f"preference pairs, {written['matrix']} new matrices (pool/ is updated live)")
            case "agents":
                table = Table(title="agents", title_justify="left")
                for column in ("slot", "agent", "from"):
                    table.add_column(column)
                for row in session.describe_agents():
                    table.add_row(*row)
                console.print(table)
            case "graph":
                console.print(session.drawing(item.choice), markup=False, highlight=False)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "…"
