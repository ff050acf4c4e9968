"""KCenterGreedy speed and quality: ours (exact and fast) against a WaveCoder-style reference, in one run.

Data: random unit vectors, and real all-MiniLM-L6-v2 embeddings of functions from the Python standard
library (cached on disk, so only the first run embeds). The reference is the loop of WaveCoder's released
script (sklearn `pairwise_distances` from each new centre, `np.minimum`, `np.argmax`), fixed to return the
selected rows, started from the same first centre as ours.

    python benchmarks/kcenter_speed.py                       # 100k×384, 10% selected, both data sets
    python benchmarks/kcenter_speed.py --n 20000 --frac 0.1  # a smaller run
    python benchmarks/kcenter_speed.py --data random --skip-reference
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.selection import coverage_radius, kcenter_greedy, random_selection

DEFAULT_CACHE = Path.home() / ".cache" / "codemill" / "embeddings"


def reference_kcenter(features: np.ndarray, k: int, first: int) -> list[int]:
    """WaveCoder's loop (from Google's active-learning `kcenter_greedy`), returning the selected indices."""
    from sklearn.metrics import pairwise_distances

    min_distances = None
    selected: list[int] = []
    index = first
    for _ in range(k):
        selected.append(index)
        distances = pairwise_distances(features, features[[index]], metric="euclidean")
        min_distances = distances if min_distances is None else np.minimum(min_distances, distances)
        index = int(np.argmax(min_distances))
    return selected


def random_unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def python_functions(limit: int) -> tuple[list[str], int]:
    """Distinct function/class sources from the stdlib, then site-packages if more are needed."""
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["stdlib"])
    roots = [stdlib, Path(sysconfig.get_paths()["purelib"])]
    seen: set[str] = set()
    texts: list[str] = []
    files = 0
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if len(texts) >= limit:
                return texts[:limit], files
            if root == roots[0] and "site-packages" in path.parts:
                continue
            try:
                source = path.read_text(encoding="utf-8")
                tree = ast.parse(source)
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            files += 1
            lines = source.splitlines(keepends=True)
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    text = "".join(lines[node.lineno - 1:node.end_lineno])
                    if len(text) >= 50 and text not in seen:
                        seen.add(text)
                        texts.append(text)
    return texts[:limit], files


def real_embeddings(limit: int, cache_dir: Path, cached_only: bool = False) -> np.ndarray:
    from tools.selection.embeddings import EmbeddingCache, MiniLMEncoder, embed, text_key

    encoder = MiniLMEncoder(batch_size=64)
    texts, files = python_functions(limit)
    print(f"real data: {len(texts)} distinct functions/classes from {files} files", flush=True)
    if cached_only:  # embedding 100k functions takes long on 2 shared cores: use what the cache holds
        found = EmbeddingCache(cache_dir, encoder.model_id).get([text_key(encoder.model_id, t) for t in texts])
        texts = [text for text, row in zip(texts, found, strict=True) if row is not None]
        print(f"real data: {len(texts)} of them already embedded in the cache; using those", flush=True)
    done = 0
    started = time.perf_counter()

    def progress(count: int) -> None:
        nonlocal done
        done += count
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"  embedded {done}/{len(texts)} ({rate:.0f}/s incl. cache hits)", flush=True)

    return embed(texts, encoder, cache_dir=cache_dir, progress=progress, chunk=2048)


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]


def run_one(name: str, matrix: np.ndarray, frac: float, seed: int, skip_reference: bool) -> list[str]:
    n = matrix.shape[0]
    k = max(1, round(frac * n))
    first = int(np.random.default_rng(seed).integers(n))
    rows = []
    timings: dict[str, float] = {}
    picks: dict[str, list[int]] = {}
    runs = [("ours exact", lambda: kcenter_greedy(matrix, k, first=first, mode="exact")),
            ("ours fast", lambda: kcenter_greedy(matrix, k, first=first, mode="fast"))]
    if not skip_reference:
        runs.append(("reference (sklearn loop)", lambda: reference_kcenter(matrix, k, first)))
    for label, call in runs:
        before = load()
        started = time.perf_counter()
        picks[label] = call()
        timings[label] = time.perf_counter() - started
        print(f"{name}: {label} {timings[label]:.1f} s (load before: {before})", flush=True)
        rows.append((label, timings[label], coverage_radius(matrix, picks[label]), before))
    picks["random"] = random_selection(n, k, seed)
    rows.append(("random subset", float("nan"), coverage_radius(matrix, picks["random"]), "-"))
    exact_radius = rows[0][2]
    lines = [f"\n### {name}: n={n}, d={matrix.shape[1]}, k={k}, first centre {first}\n",
             "| method | time (s) | coverage radius | vs exact | load avg (1/5/15 min) before |",
             "| --- | --- | --- | --- | --- |"]
    for label, seconds, radius, before in rows:
        shown = "-" if np.isnan(seconds) else f"{seconds:.1f}"
        lines.append(f"| {label} | {shown} | {radius:.4f} | {100 * (radius / exact_radius - 1):+.2f}% | {before} |")
    if "reference (sklearn loop)" in picks:
        same = picks["ours exact"] == picks["reference (sklearn loop)"]
        speedup = timings["reference (sklearn loop)"] / timings["ours exact"]
        lines.append(f"\nexact picks identical to the reference: **{same}**; exact speed-up: **{speedup:.1f}×**; "
                     f"fast speed-up: **{timings['reference (sklearn loop)'] / timings['ours fast']:.1f}×**")
    overlap = len(set(picks["ours fast"]) & set(picks["ours exact"])) / k
    lines.append(f"\nfast-mode picks shared with exact mode: {100 * overlap:.1f}%")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="points per data set")
    parser.add_argument("--dim", type=int, default=384, help="dimension of the random vectors")
    parser.add_argument("--frac", type=float, default=0.1, help="fraction to select")
    parser.add_argument("--data", default="random,real", help="comma list of: random, real")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true", help="do not run the slow reference loop")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="embedding cache")
    parser.add_argument("--embed-only", action="store_true", help="only build the real-embedding cache")
    parser.add_argument("--cached-only", action="store_true",
                        help="real data: use only functions whose embeddings are already cached")
    parser.add_argument("--out", type=Path, help="append the markdown results to this file")
    args = parser.parse_args()
    names = [name.strip() for name in args.data.split(",") if name.strip()]
    if args.embed_only:
        real_embeddings(args.n, args.cache_dir)
        return 0
    command = "python benchmarks/kcenter_speed.py " + " ".join(sys.argv[1:])
    lines = [f"## KCenterGreedy: `{command}`", "",
             f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, numpy {np.__version__}"]
    for name in names:
        if name == "random":
            matrix = random_unit_vectors(args.n, args.dim, args.seed)
            label = "random unit vectors"
        elif name == "real":
            matrix = real_embeddings(args.n, args.cache_dir, cached_only=args.cached_only)
            label = "MiniLM embeddings of Python stdlib + site-packages functions/classes"
        else:
            parser.error(f"unknown data set {name!r}")
        lines += run_one(label, matrix, args.frac, args.seed, args.skip_reference)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
