"""codemill's command line: parse arguments, hand them to a command module, print errors as one line.

Each command lives in its own module exposing `configure(parser)` and `run(args) -> int`; this file only
dispatches, so that the edge stays thin and commands stay independently testable.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tools.errors import CodemillError

COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("tools.commands.verify", "run candidates against tests, score them, build preference pairs"),
    "evaluate": ("tools.commands.evaluate", "pass@k of completions on HumanEval or MBPP"),
    "seeds": ("tools.commands.seeds", "ingest, clean, dedup, decontaminate and select seed code"),
    "serve": ("tools.commands.serve", "start a local vLLM OpenAI-compatible server"),
    "synth": ("tools.commands.synth", "run the agent graph over seeds: instruction and preference data"),
    "chat": ("tools.commands.chat", "an interactive session with the agents: watch and steer them live"),
    "agents": ("tools.commands.agents", "list the registered agents, their slots and where they come from"),
}


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
    argv = sys.argv[1:] if argv is None else argv
    command = next((word for word in argv if word in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CodemillError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
