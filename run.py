"""codemill's command line: parse arguments, hand them to a command module, print errors as one line.

Each command lives in its own module of the app layer (`graphs/app/commands/`) exposing `configure(parser)`
and `run(args) -> int`; this file only dispatches, so that the edge stays thin and commands stay independently
testable. It imports nothing but the app layer.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from graphs.app.commands import COMMANDS, CodemillError

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; only the chosen command's module is imported (keeps `--help` and startup fast)."""
    parser = argparse.ArgumentParser(prog="run.py", description="codemill: seed code in, training data out")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="show tracebacks on errors")
        if name == command:
            module = importlib.import_module(module_name)
            module.configure(command_parser)
            command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error that reaches here is one `error:` line and a non-zero exit (the
    traceback only with --debug). SIGTERM stops any command as Ctrl-C does: one `interrupted` line, exit 143."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    received: list[int] = []
    try:
        with _sigterm_as_interrupt(received):
            command = next((word for word in argv if word in COMMANDS), None)
            args = build_parser(command).parse_args(argv)
            return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        signum = received[0] if received else signal.SIGINT
        name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
        print(f"interrupted{name}", file=sys.stderr)
        return SIGNAL_EXIT[signal.Signals(signum)]
    except CodemillError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:  # run by a Python without codemill's dependencies
        if debug:
            raise
        print(f"error: the module {error.name!r} is not installed for {sys.executable}: install codemill "
              "with `pip install -e .` (see README), or run the Python of its venv", file=sys.stderr)
        return 1
    except Exception as error:  # a bug or an unexpected condition: still one line
        if debug:
            raise
        first = str(error).splitlines()[0][:300] if str(error) else ""
        print(f"error: {type(error).__name__}: {first} (run with --debug for the traceback)", file=sys.stderr)
        return 1


@contextlib.contextmanager
def _sigterm_as_interrupt(received: list[int]) -> Iterator[None]:
    """While the command runs, SIGTERM raises KeyboardInterrupt (so every `finally` and context manager cleans up:
    sandbox workers, a vLLM server, a lock) and is noted in `received`; a second one gets the default action."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # (only the main thread may set handlers)
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    status = main()
    if status == 0:
        # The command has finished, closed its files and stopped its processes; what is left in memory is for
        # the operating system to drop. Frozen, it is skipped by the interpreter's last collections, which
        # would otherwise walk every object (pydantic's schemas, the command's data): ~50 ms of every exit.
        # (After an error or an interrupt the collections run: a finalizer may still have cleaning to do.)
        gc.freeze()
    sys.exit(status)
