"""Sandboxed execution of untrusted Python and JavaScript: `Sandbox` runs `Check`s into `CheckResult`s.

Names load from their modules on first use: `Sandbox` (the pool) needs no pydantic, so a command can
launch its workers first and let them boot while it imports the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.sandbox.models import Check, CheckResult, Language, Limits, Status
    from tools.sandbox.pool import Sandbox

_HOMES = {"Check": "models", "CheckResult": "models", "Language": "models", "Limits": "models", "Status": "models",
          "Sandbox": "pool"}

__all__ = ["Check", "CheckResult", "Language", "Limits", "Sandbox", "Status"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
