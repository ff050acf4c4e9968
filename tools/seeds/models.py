"""The seed contract: `Seed` (one line of seeds.jsonl), the stage's configuration and its result."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def seed_id(code: str, language: str) -> str:
    """Stable id from the content: the same code in the same language always gets the same id."""
    return "seed-" + hashlib.sha256(f"{language}\0{code}".encode()).hexdigest()[:16]


class Seed(BaseModel):
    """One unit of seed code (a function, class, method or whole file) with its provenance."""

    model_config = ConfigDict(extra="ignore")

    id: str = ""
    code: str
    language: str
    path: str | None = None
    lines: tuple[int, int] | None = None  # 1-based, inclusive
    repo: str | None = None
    name: str | None = None
    kind: Literal["function", "class", "method", "file", "snippet"] = "snippet"
    docstring: str | None = None
    license: str | None = None

    @model_validator(mode="after")
    def _fill_id(self) -> Seed:
        if not self.id:
            self.id = seed_id(self.code, self.language)
        return self


class Drop(BaseModel):
    """A seed that was left out, why, and (for duplicates and contamination) what it matched."""

    seed_id: str
    path: str | None = None
    lines: tuple[int, int] | None = None
    name: str | None = None
    reason: str
    matched: str | None = None  # the kept seed's id, or "benchmark:task_id"
    detail: str | None = None


class SeedsConfig(BaseModel):
    """Everything `prepare_seeds` needs; the command builds it from its flags."""

    min_chars: int = 50  # WaveCoder's defaults
    max_chars: int = 800
    max_file_bytes: int = 1_000_000
    exclude: list[str] = Field(default_factory=list)  # extra glob patterns, like .gitignore lines
    dedup: bool = True
    jaccard: float = Field(0.8, gt=0, le=1)
    num_perm: int = 128
    shingle: int = 5  # tokens per MinHash shingle
    decontaminate: bool = True
    ngram: int = Field(10, ge=3)
    benchmarks: list[str] = Field(default_factory=lambda: ["humaneval", "mbpp", "mbpp-sanitized",
                                                          "humanevalpack-python", "humanevalpack-js"])
    data_dir: Path | None = None
    select: int | None = Field(None, ge=1)
    select_frac: float | None = Field(None, gt=0, le=1)
    embedder: Literal["minilm", "endpoint"] = "minilm"
    embed_base_url: str | None = None
    embed_model: str = "all-MiniLM-L6-v2"
    embed_api_key: str = "EMPTY"
    cache_dir: Path | None = None
    seed: int = 0
    fast: bool = False

    def select_count(self, available: int) -> int | None:
        if self.select is not None:
            return min(self.select, available)
        if self.select_frac is not None:
            return min(available, max(1, round(self.select_frac * available))) if available else 0
        return None


class Coverage(BaseModel):
    """How well the selected seeds cover all candidates (smaller radius is better)."""

    candidates: int
    selected: int
    kcenter_radius: float
    random_radius: float
    mode: str
    embedder: str


class SeedsResult(BaseModel):
    """What the stage produced: the seeds to write, counts per reason, and what was dropped and why."""

    seeds: list[Seed]
    candidates: list[Seed]  # after hygiene, dedup and decontamination, before selection
    counts: dict[str, int]  # files_read, units, and one entry per drop reason
    drops: list[Drop]
    coverage: Coverage | None = None
