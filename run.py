"""codemill's command line: parse arguments, hand them to a command module, print errors as one line.

Each command lives in its own module of the app layer (`graphs/app/commands/`) exposing `configure(parser)`
and `run(args) -> int`; this file only dispatches, so that the edge stays thin and commands stay independently
testable. It imports nothing but the app layer.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from graphs.app.commands import COMMANDS, CodemillError


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
    traceback only with --debug)."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        command = next((word for word in argv if word in COMMANDS), None)
        args = build_parser(command).parse_args(argv)
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
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


if __name__ == "__main__":
    sys.exit(main())
