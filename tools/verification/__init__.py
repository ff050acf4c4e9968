"""Self-verification scores, efficiency timing, preference pairs and pass@k.

Rankers and pass@k are pure (numpy only); `verify_task` runs a task's candidates × tests in a sandbox.
"""

from tools.verification.efficiency import Efficiency, Timing
from tools.verification.pairs import PreferencePair
from tools.verification.passk import mean_pass_at_k, pass_at_k
from tools.verification.rankers import (
    DEFAULT_PAIR_RANKER,
    RANKERS,
    BayesParams,
    Ranking,
    bayes,
    codet,
    codet_sqrt,
    max_pass,
    pagerank,
    rank_all,
)
from tools.verification.task import VerifyConfig, VerifyResult, VerifyTask, averify_task, verify_task

__all__ = [
    "DEFAULT_PAIR_RANKER", "RANKERS", "BayesParams", "Efficiency", "PreferencePair", "Ranking", "Timing",
    "VerifyConfig", "VerifyResult", "VerifyTask", "averify_task", "bayes", "codet", "codet_sqrt",
    "max_pass", "mean_pass_at_k", "pagerank", "pass_at_k", "rank_all", "verify_task",
]
