"""`run.py chat`: an interactive terminal session with the agents — the command parser, the renderers, the
session that drives the synthesis graph, and the prompt loop."""
