"""`seeds --ray` (tools/seeds/ray_pipeline.py) on a local Ray instance (2 CPUs, shared by this module's tests): the
same seeds, candidates, drops and counts, in the same order, as the plain `prepare_seeds`, on the example seeds
(MiniLM) and on a generated tree of 400+ files with every kind of bad input (an embeddings endpoint, two actors,
two chunks); the embedding cache read on the driver first; a file a worker cannot see is an error."""

from __future__ import annotations

import hashlib
import json
import random
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from run import main
from tests.ray_support import require_ray
from tools.benchmark_data import load_benchmark
from tools.errors import ConfigError
from tools.seeds import SeedsConfig, SeedsResult, load_seeds, prepare_seeds
from tools.seeds.ray_pipeline import EMBED_CHUNK, _read_files, embed_missing, prepare_seeds_on_ray

ray = require_ray()

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One small local instance for the module: 2 logical CPUs, no dashboard, a small object store."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
             log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


class _Embeddings(BaseHTTPRequestHandler):
    """/v1/embeddings: 16 numbers from each text's sha256, so a text's vector never depends on its batch."""

    texts = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).texts += len(body["input"])
        data = [{"object": "embedding", "index": i,
                 "embedding": [x - 127.5 for x in struct.unpack("16B", hashlib.sha256(text.encode()).digest()[:16])]}
                for i, text in enumerate(body["input"])]
        raw = json.dumps({"object": "list", "data": data, "model": body["model"],
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embeddings_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1"
    httpd.shutdown()


def _function(rng: random.Random, name: str) -> str:
    words = ["alpha", "bravo", "delta", "gamma", "kilo", "lima", "omega", "sigma", "theta", "zeta", "nova", "orbit"]
    a, b, c, d = (f"{rng.choice(words)}_{rng.randrange(10**6)}" for _ in range(4))
    op1, op2 = rng.choice("+-*"), rng.choice("+-*")
    return (f"def {name}({a}, {b}):\n    \"\"\"{' '.join(rng.sample(words, 4))}.\"\"\"\n"
            f"    {c} = {a} {op1} {rng.randrange(1000)}\n    for {d} in range({b}):\n"
            f"        {c} = {c} {op2} {d} * {rng.randrange(1000)}\n    return {c}\n")


def generated_tree(root: Path, files: int = 400) -> Path:
    """`files` Python files of three distinct functions, with exact and near copies, a contaminated file, bad
    UTF-8, an empty file, a syntax error, a binary, a JSONL with a broken line, an ignored file and a vendored
    directory, a JavaScript file and a too-long function."""
    rng = random.Random(13)
    previous = ""
    for index in range(files):
        text = "\n\n".join(_function(rng, f"f_{index}_{j}") for j in range(3))
        if index % 50 == 49:
            text = previous  # whole file copied: exact duplicates
        elif index % 50 == 25:
            text = previous.replace("return", "return 1 +")  # near duplicates
        (root / f"pkg{index % 7}").mkdir(parents=True, exist_ok=True)
        (root / f"pkg{index % 7}" / f"mod_{index:04d}.py").write_text(text)
        previous = text
    (root / "contaminated.py").write_text(load_benchmark("humaneval")[0].program())
    (root / "bad_utf8.py").write_bytes(b"def f():\n    return '\xff\xfe'\n")
    (root / "empty.py").write_text("  \n")
    (root / "broken.py").write_text("def broken(:\n    pass\n")
    (root / "blob.py").write_bytes(b"\0\1\2" * 100)
    (root / "long.py").write_text("def long_one():\n" + "".join(f"    value_{i} = {i} * {i}\n" for i in range(80)))
    (root / "app.js").write_text("function addNumbers(left, right) {\n  // add two numbers together\n"
                                 "  return left + right + 0;\n}\n\nconst twice = (value) => {\n"
                                 "  return addNumbers(value, value) * 1;\n};\n")
    records = [json.dumps({"code": _function(rng, f"record_{i}"), "repo": "r/x"}) for i in range(5)]
    (root / "records.jsonl").write_text("\n".join([*records[:2], "{not json", *records[2:]]) + "\n")
    (root / ".gitignore").write_text("ignored_*.py\n")
    (root / "ignored_file.py").write_text(_function(rng, "ignored"))
    (root / "vendor").mkdir()
    (root / "vendor" / "lib.py").write_text(_function(rng, "vendored"))
    return root


def assert_identical(plain: SeedsResult, clustered: SeedsResult) -> None:
    assert [seed.id for seed in clustered.seeds] == [seed.id for seed in plain.seeds]
    assert clustered.counts == plain.counts
    assert clustered.model_dump() == plain.model_dump()  # seeds, candidates, drops (in order), coverage


def test_the_example_seeds_select_the_same_minilm_seeds_and_fill_the_cache(tmp_path: Path, local_ray: None) -> None:
    paths = [EXAMPLES / "seeds", EXAMPLES / "seeds.jsonl"]
    config = SeedsConfig(select=6, cache_dir=None)
    plain = prepare_seeds(paths, config)  # embeds on the driver, no cache
    cache = tmp_path / "cache"
    embedded: list[int] = []
    clustered = prepare_seeds_on_ray(paths, config.model_copy(update={"cache_dir": cache}), embed_actors=2,
                                     embed_progress=embedded.append)
    assert_identical(plain, clustered)
    assert plain.coverage is not None and len(plain.seeds) == 6 and plain.counts["near_duplicate"] >= 1
    assert embedded[0] == 0 and sum(embedded) == len(plain.candidates)  # nothing cached, then every candidate
    assert list(cache.glob("*/*.npz"))  # the driver stored what the actor computed
    texts = [seed.code for seed in plain.candidates]
    assert embed_missing(texts, config, cache, actors=2) == 0  # read from the cache: no actor starts
    cached = prepare_seeds(paths, config.model_copy(update={"cache_dir": cache}))  # the plain path reads them
    assert_identical(plain, cached)


def test_a_generated_tree_gives_the_same_result_in_the_same_order(tmp_path: Path, local_ray: None,
                                                                   embeddings_url: str) -> None:
    root = generated_tree(tmp_path / "tree")
    config = SeedsConfig(select_frac=0.5, embedder="endpoint", embed_base_url=embeddings_url, embed_model="hash",
                         cache_dir=None)
    plain = prepare_seeds([root, tmp_path / "missing"], config)
    counts = plain.counts
    assert counts["candidates"] > EMBED_CHUNK  # two chunks, so both actors get one
    for reason in ("exact_duplicate", "near_duplicate", "contaminated", "bad_utf8", "empty_file", "syntax_error",
                   "binary_file", "bad_json_line", "too_long", "ignored_files", "skipped_dirs", "missing_path"):
        assert counts.get(reason), reason
    _Embeddings.texts = 0
    clustered = prepare_seeds_on_ray([root, tmp_path / "missing"], config, embed_actors=2)
    assert _Embeddings.texts == counts["candidates"]  # each candidate embedded once, by the actors
    assert_identical(plain, clustered)
    unselected = config.model_copy(update={"select_frac": None})
    assert_identical(prepare_seeds([root], unselected), prepare_seeds_on_ray([root], unselected))


def test_the_command_with_ray_writes_the_same_file(tmp_path: Path, local_ray: None) -> None:
    common = [str(EXAMPLES / "seeds"), "--no-decontaminate", "--no-cache"]
    assert main(["seeds", *common, "--out", str(tmp_path / "plain.jsonl")]) == 0
    assert main(["seeds", *common, "--out", str(tmp_path / "ray.jsonl"), "--ray", "--ray-workers", "2"]) == 0
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    assert len(load_seeds(tmp_path / "ray.jsonl")) >= 20
    assert ray.is_initialized()  # the command joined this process's instance and left it running


def test_bad_ray_flags_print_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.jsonl")
    assert main(["seeds", str(EXAMPLES / "seeds"), "--out", out, "--ray-workers", "2"]) == 1
    assert main(["seeds", str(EXAMPLES / "seeds"), "--out", out, "--ray", "--ray-workers", "0"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 2 and all("--ray-workers" in line for line in lines)


def test_a_file_a_worker_cannot_see_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="same path on every node"):
        _read_files({"index": [0], "path": [str(tmp_path / "only_on_the_driver.py")]}, SeedsConfig())
