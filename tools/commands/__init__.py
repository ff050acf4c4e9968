"""One module per `run.py` command: `configure(parser)` adds flags, `run(args)` does the work."""
