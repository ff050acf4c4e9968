"""Where a thread goes after each stage, and how its status is decided at the end."""

from __future__ import annotations

from typing import Any

from graphs.state import EXECUTABLE_TASKS, SynthesisState


def after_generate(state: SynthesisState) -> str:
    if state.instance is not None:
        return "discriminate"
    return "generate" if state.attempt < state.max_attempts else "finalize"


def after_discriminate(state: SynthesisState) -> str | list[str]:
    if state.verdict is None:
        return "finalize"
    if state.verdict.accepted:
        return ["write_tests", "sample"] if state.task_type in EXECUTABLE_TASKS else "finalize"
    return "generate" if state.attempt < state.max_attempts else "finalize"


async def finalize(state: SynthesisState) -> dict[str, Any]:
    """Decide the thread's status from what happened."""
    if state.verdict is None or state.instance is None:
        return {"status": "failed"}
    if not state.verdict.accepted:
        return {"status": "rejected"}
    if state.task_type in EXECUTABLE_TASKS and not (state.checks and state.checks.ok):
        return {"status": "failed" if state.checks is None else "rejected"}
    return {"status": "accepted"}
