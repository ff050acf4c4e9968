"""Libraries, and only libraries: LLM client, sandbox, seeds, selection, verification, rows on disk, prompting,
settings, charts. None imports an agent, graph or app module (pyproject.toml's import-linter contracts)."""
