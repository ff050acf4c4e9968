"""Embeddings: the bundled MiniLM offline, the on-disk cache, and an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tools.errors import LLMError
from tools.selection.embeddings import EndpointEncoder, MiniLMEncoder, embed, minilm_model_path


class CountingEncoder:
    """Deterministic vectors from the text's bytes; counts how many texts it was asked to encode."""

    def __init__(self, model_id: str = "counting") -> None:
        self.model_id = model_id
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        rows = [np.frombuffer(text.encode().ljust(8, b"_")[:8], dtype=np.uint8).astype(np.float32) for text in texts]
        return np.stack(rows) / np.linalg.norm(np.stack(rows), axis=1, keepdims=True)


def test_cache_makes_a_rerun_compute_nothing(tmp_path: Path) -> None:
    texts = ["def a(): pass", "def b(): return 1", "def a(): pass"]
    first = CountingEncoder()
    vectors = embed(texts, first, cache_dir=tmp_path)
    assert first.calls == 3 and vectors.shape == (3, 8)
    again = CountingEncoder()
    assert np.array_equal(embed(texts, again, cache_dir=tmp_path), vectors)
    assert again.calls == 0
    other_model = CountingEncoder("other")
    embed(texts[:1], other_model, cache_dir=tmp_path)
    assert other_model.calls == 1  # the key includes the model


def test_a_corrupt_cache_shard_is_ignored(tmp_path: Path) -> None:
    embed(["x = 1"], CountingEncoder(), cache_dir=tmp_path)
    (tmp_path / "counting" / "broken.npz").write_bytes(b"not a zip")
    encoder = CountingEncoder()
    embed(["x = 1"], encoder, cache_dir=tmp_path)
    assert encoder.calls == 0


def test_minilm_loads_offline_from_the_package_and_embeds_code() -> None:
    assert (minilm_model_path() / "model.safetensors").exists()
    vectors = MiniLMEncoder(batch_size=4).encode([
        "def add(a, b):\n    return a + b",
        "def plus(x, y):\n    return x + y",
        "SELECT name FROM users WHERE age > 30 ORDER BY name",
    ])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    fail = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.fail:
            self.send_response(400)
            payload = {"error": {"message": "model not found", "type": "invalid_request_error"}}
        else:
            self.send_response(200)
            data = [{"object": "embedding", "index": i, "embedding": [float(len(text)), 1.0, 0.0]}
                    for i, text in reversed(list(enumerate(body["input"])))]
            payload = {"object": "list", "data": data, "model": body["model"],
                       "usage": {"prompt_tokens": 1, "total_tokens": 1}}
        raw = json.dumps(payload).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingsHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    _EmbeddingsHandler.fail = False


def test_endpoint_encoder_speaks_v1_embeddings_in_batches(server: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{server.server_port}/v1"
    encoder = EndpointEncoder(url, "embedder", batch_size=2, max_retries=0)
    vectors = encoder.encode(["a", "bbb", "cc"])
    expected = np.array([[1, 1, 0], [3, 1, 0], [2, 1, 0]], dtype=np.float32)
    assert np.allclose(vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_endpoint_errors_name_the_endpoint(server: ThreadingHTTPServer) -> None:
    _EmbeddingsHandler.fail = True
    url = f"http://127.0.0.1:{server.server_port}/v1"
    with pytest.raises(LLMError, match=r"127\.0\.0\.1"):
        EndpointEncoder(url, "missing", max_retries=0).encode(["a"])
