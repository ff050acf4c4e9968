"""Self-verification scores, efficiency timing, preference pairs and pass@k.

Rankers (plain Python) and pass@k (numpy, for `evaluate` only) are pure; `verify_task` runs a task's
candidates × tests in a sandbox. Names are imported from their modules on first use, so that importing one
light module of this package (e.g. `ranker_names` for a command line) does not load numpy and pydantic models.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Efficiency": "efficiency", "Timing": "efficiency", "PreferencePair": "pairs", "mean_pass_at_k": "passk",
    "pass_at_k": "passk", "DEFAULT_PAIR_RANKER": "ranker_names", "RANKERS": "rankers", "BayesParams": "rankers",
    "PassMatrix": "rankers", "Ranking": "rankers", "bayes": "rankers", "codet": "rankers", "codet_sqrt": "rankers",
    "max_pass": "rankers", "pagerank": "rankers", "rank_all": "rankers", "VerifyConfig": "task",
    "VerifyResult": "task", "VerifyTask": "task", "averify_task": "task", "verify_task": "task",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
