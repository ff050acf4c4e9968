"""What the SQLite checkpointer may deserialize from the state (langgraph's msgpack allow-list)."""

from __future__ import annotations

from collections.abc import Sequence

STATE_TYPES = {
    "graphs.state": ("SynthesisState", "SeedInput", "TaskType", "Instance", "RubricCheck", "Verdict", "Review",
                     "Failure", "ExecutionChecks"),
    "tools.verification.task": ("VerifyResult",),
    "tools.verification.pairs": ("PreferencePair",),
    "tools.verification.efficiency": ("Efficiency", "Timing"),
}


def state_serde_modules() -> Sequence[tuple[str, str]]:
    """(module, name) of every type the state holds."""
    return [(module, name) for module, names in STATE_TYPES.items() for name in names]
