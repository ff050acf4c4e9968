"""The rankers' names, importable without numpy (for a command line's `choices`)."""

RANKER_NAMES = ("bayes", "codet", "codet_sqrt", "max_pass", "pagerank")
DEFAULT_PAIR_RANKER = "bayes"
