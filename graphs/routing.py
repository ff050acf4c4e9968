"""Where a thread goes after each stage, and how its status is decided at the end."""

from __future__ import annotations

import zlib
from typing import Any

from langgraph.runtime import Runtime

from graphs.context import RunContext
from graphs.state import EXECUTABLE_TASKS, SynthesisState


def in_rejected_sample(thread: str, share: float) -> bool:
    """Whether `thread`'s finally rejected instance is executed anyway, for the quality numbers: about `share`
    of all threads, chosen by a hash of the thread id, so a resumed or repeated run chooses the same ones."""
    return zlib.crc32(thread.encode("utf-8")) / 2**32 < share


def after_generate(state: SynthesisState) -> str:
    if state.instance is not None:
        return "discriminate"
    return "generate" if state.attempt < state.max_attempts else "finalize"


def after_discriminate(state: SynthesisState, runtime: Runtime[RunContext] | None = None, *,
                       probe: bool = True) -> str | list[str]:
    """Accepted: on to tests and candidates (executable tasks). Rejected: another attempt while any is left;
    after the last, a thread in the rejected sample (`probe`, and the run's `rejected_sample` share) is
    executed anyway (`probe_rejected`), any other ends."""
    if state.verdict is None:
        return "finalize"
    executable = state.task_type in EXECUTABLE_TASKS
    if state.verdict.accepted:
        return ["write_tests", "sample"] if executable else "finalize"
    if state.attempt < state.max_attempts:
        return "generate"
    if probe and executable and runtime is not None \
            and in_rejected_sample(state.thread_id, runtime.context.settings.rejected_sample):
        return "probe_rejected"
    return "finalize"


def after_discriminate_for_review(state: SynthesisState) -> str | list[str]:
    """`after_discriminate` when a person reviews every instance (chat): a rejection goes to the person, who may
    overrule it, never into the rejected sample."""
    return after_discriminate(state, probe=False)


async def probe_rejected(state: SynthesisState) -> dict[str, Any]:
    """Mark a finally rejected instance as executed only to be measured: it yields no training rows."""
    return {"rejected_sample": True}


async def finalize(state: SynthesisState) -> dict[str, Any]:
    """Decide the thread's status from what happened."""
    if state.verdict is None or state.instance is None:
        return {"status": "failed"}
    if not state.verdict.accepted or state.rejected_sample:
        return {"status": "rejected"}
    if state.task_type in EXECUTABLE_TASKS and not (state.checks and state.checks.ok):
        return {"status": "failed" if state.checks is None else "rejected"}
    return {"status": "accepted"}
