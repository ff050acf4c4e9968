"""What the SQLite checkpointer may deserialize from the state (langgraph's msgpack allow-list)."""

from __future__ import annotations

from collections.abc import Sequence

from graphs import state


def state_serde_modules() -> Sequence[tuple[str, str]]:
    """(module, name) of every type the state holds."""
    names = ["SeedInput", "TaskType", "Instance", "RubricCheck", "Verdict", "Review", "Failure", "ExecutionChecks"]
    return [(state.__name__, name) for name in names]
