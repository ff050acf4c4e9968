"""Do efficiency labels survive timing noise? Equal-speed candidates must not become "faster" pairs.

    python benchmarks/efficiency_noise.py --tasks 40 --repeats 3 [--clock exec]

Each task holds two different but equally fast programs (the same loop, written two ways) plus one
that does the same work twice. Reported: how many tasks got a false efficiency pair between the two
equal ones (should be 0), and how many found the 2× slower one (should be all), with the measured
median speed-ups. Run it while the machine is busy to see the worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.sandbox import Limits, Sandbox
from tools.verification import VerifyConfig, VerifyTask, averify_task

LOOP_A = "def work(n):\n    total = 0\n    for i in range(n):\n        total += i * i\n    return total\n"
LOOP_B = "def work(n):\n    acc = 0\n    for j in range(n):\n        acc = acc + j * j\n    return acc\n"
TWICE = ("def work(n):\n    total = 0\n    for _ in range(2):\n        total = 0\n        for i in range(n):\n"
         "            total += i * i\n    return total\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=100_000, help="loop length (about 5-10 ms per run)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--clock", choices=["cpu", "exec"], default="cpu")
    args = parser.parse_args(argv)
    expected = sum(i * i for i in range(args.n))
    tests = [f"assert work({args.n}) == {expected}"]
    config = VerifyConfig(repeats=args.repeats, limits=Limits(timeout_s=30), max_efficiency_pairs=2,
                          clock=args.clock)
    false_pairs, found, speedups = 0, 0, []

    async def run_all(sandbox: Sandbox) -> list:
        tasks = [VerifyTask(task_id=str(i), candidates=[LOOP_A, LOOP_B, TWICE], tests=tests)
                 for i in range(args.tasks)]
        return await asyncio.gather(*(averify_task(sandbox, task, config) for task in tasks))

    start = time.perf_counter()
    with Sandbox(workers=args.workers) as sandbox:
        results = asyncio.run(run_all(sandbox))
    for result in results:
        pairs = [(p.metadata["chosen_index"], p.metadata["rejected_index"]) for p in result.pairs
                 if p.kind == "efficiency"]
        false_pairs += any(set(pair) == {0, 1} for pair in pairs)
        found += any(rejected == 2 for _, rejected in pairs)
        timings = result.efficiency.timings
        speedups.append(timings[2].median_s / min(timings[0].median_s, timings[1].median_s))
    elapsed = time.perf_counter() - start
    print(f"clock={args.clock}: {args.tasks} tasks × 3 candidates × {args.repeats} repeats in {elapsed:.1f}s")
    print(f"false 'faster' pairs between equal-speed candidates: {false_pairs}/{args.tasks}")
    print(f"2× slower candidate labelled slower: {found}/{args.tasks}; measured slow/fast median ratio: "
          f"median {statistics.median(speedups):.2f}, range {min(speedups):.2f}–{max(speedups):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
