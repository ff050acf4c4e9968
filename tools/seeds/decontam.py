"""Decontamination: drop seeds sharing a token n-gram with a benchmark prompt or reference solution.

Tokens are normalised words (lower-cased identifiers, keywords and numbers; punctuation and whitespace are
ignored, since punctuation-heavy n-grams like `-> list [ int ] :` match unrelated code), so a copy of
HumanEval/0 with different formatting or quoting is still caught. Each dropped seed names the benchmark item.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tools.benchmark_data import load_benchmark
from tools.seeds.hygiene import make_drop
from tools.seeds.models import Drop, Seed

WORD = re.compile(r"\w+")


def _ngram_keys(text: str, n: int) -> set[bytes]:
    words = WORD.findall(text.lower())
    return {hashlib.blake2b(" ".join(words[i:i + n]).encode(), digest_size=8).digest()
            for i in range(len(words) - n + 1)}


class BenchmarkIndex:
    """Every n-gram of every benchmark prompt and solution, mapped to the first item that has it."""

    def __init__(self, benchmarks: list[str], n: int = 10, data_dir: Path | None = None) -> None:
        self.n = n
        self.items: dict[bytes, str] = {}
        for name in benchmarks:
            for problem in load_benchmark(name, data_dir):
                label = f"{name}:{problem.task_id}"
                for text in (problem.prompt, problem.solution, problem.program()):
                    for key in _ngram_keys(text, n):
                        self.items.setdefault(key, label)

    def match(self, code: str) -> tuple[str, int] | None:
        """(benchmark item, number of shared n-grams) for the item sharing the most, or None."""
        hits: dict[str, int] = {}
        for key in _ngram_keys(code, self.n):
            label = self.items.get(key)
            if label is not None:
                hits[label] = hits.get(label, 0) + 1
        if not hits:
            return None
        return max(hits.items(), key=lambda item: (item[1], item[0]))


def decontaminate(seeds: list[Seed], index: BenchmarkIndex) -> tuple[list[Seed], list[Drop]]:
    kept, drops = [], []
    for seed in seeds:
        found = index.match(seed.code)
        if found is None:
            kept.append(seed)
        else:
            label, shared = found
            drops.append(make_drop(seed, "contaminated", matched=label, detail=f"{shared} shared {index.n}-grams"))
    return kept, drops
