"""Seeds in, diverse seeds out: ingestion, hygiene, dedup, decontamination and diversity selection."""

from tools.seeds.models import Drop, Seed, SeedsConfig, SeedsResult
from tools.seeds.pipeline import load_seeds, prepare_seeds, write_seeds

__all__ = ["Drop", "Seed", "SeedsConfig", "SeedsResult", "load_seeds", "prepare_seeds", "write_seeds"]
