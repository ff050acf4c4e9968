"""The project's error hierarchy, grouped by who has to act on the error."""

from __future__ import annotations


class CodemillError(Exception):
    """Base of every error codemill raises on purpose; `run.py` prints it as one line."""


class ConfigError(CodemillError):
    """Bad configuration or command-line input: the operator has to fix something."""


class InputError(CodemillError):
    """A malformed input file or record."""


class OutputRejected(CodemillError):
    """A model's output failed validation: tell the model why and ask again."""


class SandboxError(CodemillError):
    """The sandbox itself failed (not the code it ran)."""


class LLMError(CodemillError):
    """A model call failed for good; the message names the endpoint and the model."""
