"""The app layer: the `run.py` commands, the chat session, the reports, the manifest and the live progress
display. It runs the graphs and uses the libraries in `tools/`; nothing below it imports it, and it is the
only thing `run.py` imports (enforced by the import-linter contracts in pyproject.toml)."""
