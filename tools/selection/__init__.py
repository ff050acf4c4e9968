"""Diversity selection: embeddings (MiniLM or an endpoint, cached on disk) and KCenterGreedy."""

from tools.selection.kcenter import coverage_radius, kcenter_greedy, pca_reduce, random_selection

__all__ = ["coverage_radius", "kcenter_greedy", "pca_reduce", "random_selection"]
