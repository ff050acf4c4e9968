"""One module per `run.py` command: `configure(parser)` adds flags, `run(args)` does the work.

`COMMANDS` names each command's module and one-line help, so that `run.py` imports only the chosen command's
module (keeps `--help` and startup fast). `CodemillError` is here for `run.py`, which prints it as one line.
"""

from tools.errors import CodemillError

COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("graphs.app.commands.verify", "run candidates against tests, score them, build preference pairs"),
    "evaluate": ("graphs.app.commands.evaluate", "pass@k of completions on HumanEval or MBPP"),
    "seeds": ("graphs.app.commands.seeds", "ingest, clean, dedup, decontaminate and select seed code"),
    "serve": ("graphs.app.commands.serve", "start a local vLLM OpenAI-compatible server"),
    "synth": ("graphs.app.commands.synth", "run the agent graph over seeds: instruction and preference data"),
    "chat": ("graphs.app.commands.chat", "an interactive session with the agents: watch and steer them live"),
    "agents": ("graphs.app.commands.agents", "list the registered agents, their slots and where they come from"),
}

__all__ = ["COMMANDS", "CodemillError"]
