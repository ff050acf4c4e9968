"""The `seeds` extra: the heavy packages only parts of the seeds stage use (MiniLM embeddings for diversity
selection, tree-sitter grammars beyond JavaScript, parquet input), imported when a part needs them. A missing one
is one line naming the extra, never a traceback and never a silent fallback that changes the seeds."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from tools.errors import ConfigError

INSTALL = "pip install -e '.[seeds]'"


def missing(purpose: str, error: ImportError) -> ConfigError:
    """The one-line error: what needed the extra, which module was missing, how to install it."""
    module = error.name or str(error)
    return ConfigError(f"{purpose} needs the seeds extra, and {module} is not installed: {INSTALL}")


def require(module: str, purpose: str) -> ModuleType:
    """`module`, imported; a ConfigError naming the extra when it (or a package it imports) is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise missing(purpose, error) from error


def require_installed(purpose: str, *modules: str) -> None:
    """Check that `modules` are installed, without importing them (torch takes seconds to import)."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module unset in sys.modules
            found = False
        if not found:
            raise missing(purpose, ModuleNotFoundError(name=module))
