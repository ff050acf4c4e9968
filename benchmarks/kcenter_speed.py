"""KCenterGreedy speed and quality: ours (exact and fast) against a WaveCoder-style reference, in one run.

Data: random unit vectors, and real all-MiniLM-L6-v2 embeddings of functions from the Python standard
library (cached on disk, so only the first run embeds). The reference is the loop of WaveCoder's released
script (sklearn `pairwise_distances` from each new centre, `np.minimum`, `np.argmax`), fixed to return the
selected rows, started from the same first centre as ours.

    python benchmarks/kcenter_speed.py                       # 100k×384, 10% selected, both data sets
    python benchmarks/kcenter_speed.py --n 20000 --frac 0.1  # a smaller run
    python benchmarks/kcenter_speed.py --data random --skip-reference
    python benchmarks/kcenter_speed.py --data random --find-divergence  # first step where exact ≠ reference
    python benchmarks/kcenter_speed.py --scale 50000,100000,200000  # fast mode: time and memory per size
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import resource
import subprocess
import sys
import sysconfig
import time
import tracemalloc
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


def _ulps(a: np.float32, b: np.float32) -> int:
    """How many float32 steps lie between two non-negative float32 values."""
    return abs(int(np.float32(a).view(np.int32)) - int(np.float32(b).view(np.int32)))


def _describe(matrix: np.ndarray, centres: list[int], index: int, reference_value: np.float32) -> list[str]:
    """Point `index`'s nearest-centre distance as the reference computes it and as exact mode did."""
    point = matrix[index].astype(np.float64)
    chosen = matrix[centres].astype(np.float64)
    dots = chosen @ point
    norm, centre_norms = float(point @ point), np.einsum("ij,ij->i", chosen, chosen)
    sklearn_order = (-2.0 * dots + norm) + centre_norms  # sklearn: d = -2·XYᵀ; d += XX; d += YY
    ours_order = (norm + centre_norms) - 2.0 * dots  # kcenter.py before the fix
    nearest = int(np.argmin(sklearn_order))
    sq = float(np.min(sklearn_order))
    sqrt_of_f32 = np.sqrt(np.float32(max(sq, 0.0)))  # sklearn: round d² to float32, then float32 sqrt
    f32_of_sqrt = np.float32(np.sqrt(max(float(np.min(ours_order)), 0.0)))  # old: float64 sqrt, then round
    return [f"  point {index}: nearest centre {centres[nearest]} (pick #{nearest})",
            f"    reference float32 min-distance      {reference_value!r} ({float(reference_value).hex()})",
            f"    d² in float64 (sklearn order)       {sq!r} ({sq.hex()}); as float32 {float(np.float32(sq)).hex()}",
            f"    d² in float64 (old exact-mode order) {float(np.min(ours_order))!r}",
            f"    float32 sqrt of float32(d²)         {sqrt_of_f32!r} ({float(sqrt_of_f32).hex()})",
            f"    float32(float64 sqrt of d²) = old   {f32_of_sqrt!r} ({float(f32_of_sqrt).hex()})"]


def find_divergence(matrix: np.ndarray, sequences: dict[str, list[int]], every: int = 500) -> list[str]:
    """Run the reference loop once, in lockstep with each pick sequence, and explain where each first differs.

    The reference follows its own picks and stops once every sequence has diverged (or after the longest).
    """
    from sklearn.metrics import pairwise_distances

    started = time.perf_counter()
    active = dict(sequences)
    k = max(len(picks) for picks in sequences.values())
    first = next(iter(sequences.values()))[0]
    if any(picks[0] != first for picks in sequences.values()):
        raise ValueError("all sequences must start from the same first centre")
    lines: list[str] = []
    reference = [first]
    min_distances = None
    for step in range(1, k):
        distances = pairwise_distances(matrix, matrix[[reference[-1]]], metric="euclidean")
        min_distances = distances if min_distances is None else np.minimum(min_distances, distances)
        reference.append(int(np.argmax(min_distances)))
        if step % every == 0:
            print(f"  step {step}: {len(active)} sequence(s) still identical ({time.perf_counter() - started:.0f} s)",
                  flush=True)
        for label, picks in list(active.items()):
            if step >= len(picks):
                lines.append(f"{label}: identical to the reference for all {len(picks)} picks")
                del active[label]
            elif picks[step] != reference[step]:
                lines += _divergence(label, matrix, reference, picks[step], min_distances)
                del active[label]
        if not active:
            break
    lines += [f"{label}: identical to the reference for all {len(picks)} picks" for label, picks in active.items()]
    lines.append(f"(reference ran {len(reference)} picks in lockstep in {time.perf_counter() - started:.0f} s)")
    return lines


def _divergence(label: str, matrix: np.ndarray, reference: list[int], pick: int,
                min_distances: np.ndarray) -> list[str]:
    step, expected = len(reference) - 1, reference[-1]
    ref_value, our_value = min_distances[expected, 0], min_distances[pick, 0]
    tie = "exactly tied" if ref_value == our_value else f"{_ulps(ref_value, our_value)} ulp apart"
    lines = [f"{label}: first divergence at pick #{step} (0-based; pick #0 is the first centre {reference[0]}):",
             f"  reference picks {expected}, {label} picks {pick}; in the reference's float32 "
             f"min-distances they are {tie}"]
    for index, value in ((expected, ref_value), (pick, our_value)):
        lines += _describe(matrix, reference[:step], index, value)
    return lines


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


def scale_one(n: int, dim: int, frac: float, seed: int) -> dict[str, float]:
    """Fast mode on n random unit vectors (built in chunks, so making them is not the memory peak)."""
    matrix = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 16384):
        matrix[start:start + 16384] = random_unit_vectors(min(16384, n - start), dim, seed + start)
    k = max(1, round(frac * n))
    tracemalloc.start()
    started = time.perf_counter()
    picks = kcenter_greedy(matrix, k, seed=seed, mode="fast")
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(set(picks)) == k
    return {"n": n, "k": k, "seconds": seconds, "input_mib": matrix.nbytes / 2**20, "extra_peak_mib": peak / 2**20,
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def scale_report(sizes: list[int], dim: int, frac: float, seed: int) -> list[str]:
    """Each size in its own process, so one size's peak memory does not hide the next one's."""
    lines = [f"\n### fast mode by size: random unit vectors, d={dim}, k = {frac:.0%} of n\n",
             "| n | k | time (s) | input (MiB) | kcenter extra peak (MiB) | max RSS (MiB) | load before |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for n in sizes:
        before = load()
        child = subprocess.run([sys.executable, __file__, "--scale-one", str(n), "--dim", str(dim), "--frac",
                                str(frac), "--seed", str(seed)], capture_output=True, text=True, check=True)
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"n={n}: {row}", flush=True)
        lines.append(f"| {n:,} | {row['k']:,} | {row['seconds']:.1f} | {row['input_mib']:.0f} | "
                     f"{row['extra_peak_mib']:.0f} | {row['max_rss_mib']:.0f} | {before} |")
    return lines


def divergence_report(name: str, matrix: np.ndarray, frac: float, seed: int,
                      also: list[Path]) -> list[str]:
    n = matrix.shape[0]
    k = max(1, round(frac * n))
    first = int(np.random.default_rng(seed).integers(n))
    started = time.perf_counter()
    sequences = {"exact mode": kcenter_greedy(matrix, k, first=first, mode="exact")}
    print(f"{name}: exact mode {time.perf_counter() - started:.1f} s; reference in lockstep (load: {load()})",
          flush=True)
    for path in also:  # pick sequences saved earlier (e.g. by an older version), checked in the same run
        sequences[path.name] = np.load(path).tolist()
    return [f"\n### {name}: n={n}, d={matrix.shape[1]}, k={k}, first centre {first}\n", "```",
            *find_divergence(matrix, sequences), "```"]


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
    parser.add_argument("--find-divergence", action="store_true",
                        help="run the reference in lockstep with exact mode; report the first differing pick")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="with --find-divergence: a saved .npy pick sequence to check in the same run")
    parser.add_argument("--scale", help="fast mode only, on random vectors: comma list of sizes n (time, memory)")
    parser.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)  # one size, in a child process
    parser.add_argument("--out", type=Path, help="append the markdown results to this file")
    args = parser.parse_args()
    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one, args.dim, args.frac, args.seed)))
        return 0
    names = [name.strip() for name in args.data.split(",") if name.strip()]
    if args.embed_only:
        real_embeddings(args.n, args.cache_dir)
        return 0
    command = "python benchmarks/kcenter_speed.py " + " ".join(sys.argv[1:])
    lines = [f"## KCenterGreedy: `{command}`", "",
             f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, numpy {np.__version__}"]
    if args.scale:
        names = []
        lines += scale_report([int(size) for size in args.scale.split(",")], args.dim, args.frac, args.seed)
    for name in names:
        if name == "random":
            matrix = random_unit_vectors(args.n, args.dim, args.seed)
            label = "random unit vectors"
        elif name == "real":
            matrix = real_embeddings(args.n, args.cache_dir, cached_only=args.cached_only)
            label = "MiniLM embeddings of Python stdlib + site-packages functions/classes"
        else:
            parser.error(f"unknown data set {name!r}")
        if args.find_divergence:
            lines += divergence_report(label, matrix, args.frac, args.seed, args.also)
        else:
            lines += run_one(label, matrix, args.frac, args.seed, args.skip_reference)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
