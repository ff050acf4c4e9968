"""One-line notices the commands print about the run's conditions."""

from __future__ import annotations

from typing import Any


def sandbox_warning(sandbox: Any) -> str | None:
    """The warning to print when checks could read the host's files (no sealed filesystem here)."""
    if not sandbox.host_readable:
        return None
    return (f"warning: the sandbox cannot seal its filesystem here ({sandbox.isolation['filesystem']}): "
            "checks can read this machine's files, benchmark answers included")
