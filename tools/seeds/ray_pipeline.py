"""The seeds stage on a Ray cluster: the same result as `prepare_seeds`, with the per-file and embedding work spread.

1. The driver walks the inputs (`iter_files`, the same sorted walk) and lists the files.
2. Ray Data tasks (`map_batches`) read each file, split it into units and apply the per-unit filters
   (`ingest` and `apply_filters` on that one file). The driver collects them and puts them back in walk order.
3. The driver runs exact dedup, MinHash-LSH near dedup and decontamination unchanged: each is one ordered pass
   over all the seeds, so running it in one place keeps it exact.
4. Embedding: the driver reads the cache first and sends only the missing texts, in the chunks of 1,024 that
   `embed` uses, one chunk per call, to an actor pool (`map_batches` over actors that each load the encoder
   once). MiniLM's vectors depend on the batch they are computed in by ~1e-7 (padding), enough to flip a near
   tie in exact KCenterGreedy, so the chunks must be the same. Each chunk is stored in the cache as it comes
   back (with `cache_dir=None`, in a temporary cache removed afterwards), so `select_diverse` then runs on the
   driver and reads every vector from it.

Every node must see the input files at the same paths (a shared filesystem); a file the driver listed that a
worker cannot find is an error, not a silent drop. `ray` is imported lazily; the caller connects it first.
"""

from __future__ import annotations

import pickle
import tempfile
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tools.errors import ConfigError
from tools.seeds.hygiene import apply_filters
from tools.seeds.ingest import ingest, iter_files
from tools.seeds.models import Drop, Seed, SeedsConfig, SeedsResult
from tools.seeds.pipeline import EmbedProgress, Stage, deduplicate_and_decontaminate, make_encoder, select_diverse

EMBED_CHUNK = 1024  # the chunk `tools.selection.embeddings.embed` encodes at a time: the vectors depend on it
FILES_PER_TASK = 16


def _read_files(batch: dict[str, Any], config: SeedsConfig) -> dict[str, list[Any]]:
    """Ray Data UDF: each listed file read, split and filtered; one pickled (seeds, drops, counts) per file."""
    import socket

    results = []
    for name in batch["path"]:
        path = Path(str(name))
        if not path.exists():
            raise ConfigError(f"{path} (listed on the driver) is not on Ray node {socket.gethostname()}: "
                              "`seeds --ray` needs the inputs at the same path on every node (a shared filesystem)")
        counts: Counter = Counter()
        seeds, drops = apply_filters(ingest([path], config, counts), config)
        results.append(pickle.dumps((seeds, drops, counts)))
    return {"index": list(batch["index"]), "result": results}


def read_in_parallel(paths: Sequence[Path | str], config: SeedsConfig,
                     counts: Counter) -> tuple[list[Seed], list[Drop]]:
    """Filtered seed units and the filters' drops, in `ingest`'s order; `counts` gets ingest's counts."""
    import ray

    files: list[Path] = []
    for root in map(Path, paths):
        if root.exists():
            files.extend(iter_files(root, config, counts))
        else:
            counts["missing_path"] += 1
    if not files:
        counts["units"] += 0  # present even with no files, as `ingest` leaves it
        return [], []
    items = [{"index": index, "path": str(path)} for index, path in enumerate(files)]
    blocks = max(1, min(len(items) // FILES_PER_TASK, 200))
    dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        partial(_read_files, config=config), batch_size=FILES_PER_TASK, batch_format="numpy")
    per_file: list[bytes | None] = [None] * len(files)
    for row in dataset.iter_rows():
        per_file[int(row["index"])] = row["result"]
    seeds: list[Seed] = []
    drops: list[Drop] = []
    for index, result in enumerate(per_file):
        if result is None:
            raise RuntimeError(f"Ray Data returned no result for {files[index]}")
        file_seeds, file_drops, file_counts = pickle.loads(result)
        seeds += file_seeds
        drops += file_drops
        counts.update(file_counts)
    return seeds, drops


class _Embedder:
    """Ray Data actor: loads the encoder once, then encodes one chunk per call."""

    def __init__(self, config: SeedsConfig, threads: int) -> None:
        if config.embedder == "minilm":
            import torch

            torch.set_num_threads(max(1, threads))
        self.encoder = make_encoder(config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        vectors = [np.ascontiguousarray(self.encoder.encode([str(text) for text in texts]), dtype=np.float32)
                   for texts in batch["texts"]]
        return {"chunk": list(batch["chunk"]), "vectors": [vector.tobytes() for vector in vectors],
                "dim": [vector.shape[1] for vector in vectors]}


def embed_missing(texts: Sequence[str], config: SeedsConfig, cache_dir: Path, actors: int,
                  actor_cpus: int = 1, progress: EmbedProgress | None = None) -> int:
    """Store in the cache at `cache_dir` every text's vector it lacks, encoded on `actors` Ray actors; returns how
    many were encoded. The cache read and every write happen here, on the driver."""
    import ray

    from tools.selection.embeddings import EmbeddingCache, text_key

    model_id = make_encoder(config).model_id  # also checks, on the driver, that the encoder is installed
    keys = [text_key(model_id, text) for text in texts]
    cache = EmbeddingCache(cache_dir, model_id)
    missing = [index for index, row in enumerate(cache.get(keys)) if row is None]
    if progress:
        progress(len(texts) - len(missing))
    chunks = [missing[start:start + EMBED_CHUNK] for start in range(0, len(missing), EMBED_CHUNK)]
    if not chunks:
        return 0
    items = [{"chunk": number, "texts": [texts[i] for i in chunk]} for number, chunk in enumerate(chunks)]
    pool = max(1, min(actors, len(chunks)))
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _Embedder, fn_constructor_kwargs={"config": config, "threads": actor_cpus}, batch_size=1,
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=actor_cpus)
    stored = 0
    for row in dataset.iter_rows():  # stored as each chunk arrives: an interrupt keeps the finished ones
        chunk = chunks[int(row["chunk"])]
        vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(chunk), int(row["dim"]))
        cache.put([keys[i] for i in chunk], vectors)
        stored += len(chunk)
        if progress:
            progress(len(chunk))
    if stored != len(missing):
        raise RuntimeError(f"Ray Data returned {stored} embeddings for {len(missing)} texts")
    return stored


def prepare_seeds_on_ray(paths: Sequence[Path | str], config: SeedsConfig | None = None, *,
                         embed_actors: int = 1, actor_cpus: int = 1, on_stage: Stage | None = None,
                         embed_progress: EmbedProgress | None = None) -> SeedsResult:
    """`prepare_seeds` with reading, splitting, filtering and embedding on the connected Ray cluster; the same
    seeds, candidates, drops and counts, in the same order. The caller connects Ray (`ray.init`) first."""
    import ray

    if not ray.is_initialized():
        raise ConfigError("prepare_seeds_on_ray needs a connected Ray (call ray.init first)")
    config = config or SeedsConfig()
    stage = on_stage or (lambda name: None)
    counts: Counter = Counter()
    stage("reading, splitting, filtering (Ray Data)")
    seeds, drops = read_in_parallel(paths, config, counts)
    seeds, drops = deduplicate_and_decontaminate(seeds, drops, config, counts, stage)
    candidates, coverage = seeds, None
    k = config.select_count(len(seeds))
    if k is not None and k < len(seeds):
        stage("embedding (Ray Data)")
        with tempfile.TemporaryDirectory(prefix="codemill-embed-") as scratch:
            cached = config if config.cache_dir else config.model_copy(update={"cache_dir": Path(scratch)})
            assert cached.cache_dir is not None
            embed_missing([seed.code for seed in candidates], cached, cached.cache_dir, embed_actors,
                          actor_cpus, embed_progress)
            stage("selecting")
            seeds, coverage = select_diverse(candidates, k, cached)
    counts["selected"] = len(seeds)
    return SeedsResult(seeds=seeds, candidates=candidates, counts=dict(counts), drops=drops, coverage=coverage)
