"""Sandboxed execution of untrusted Python and JavaScript: `Sandbox` runs `Check`s into `CheckResult`s."""

from tools.sandbox.models import Check, CheckResult, Language, Limits, Status
from tools.sandbox.pool import Sandbox

__all__ = ["Check", "CheckResult", "Language", "Limits", "Sandbox", "Status"]
