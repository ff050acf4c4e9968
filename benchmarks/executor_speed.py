"""Executor speed: codemill's Sandbox vs a human-eval-style harness on the 164 HumanEval solutions.

The baseline is our own re-implementation of the harness idea of openai/human-eval (no code copied):
one `multiprocessing.Process` per check, a `multiprocessing.Manager` list for the verdict, a temporary
working directory, a "reliability guard" that disables destructive functions and sets an address-space
limit, a SIGALRM-based time limit, both behind a thread pool with the same worker count as ours.
Both harnesses run in one invocation, alternating, and must agree on every verdict.

    python benchmarks/executor_speed.py                 # full run: 164 Python checks ×3 rounds + JS
    python benchmarks/executor_speed.py --limit 40 --rounds 1 --no-js   # quick look
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import datetime
import faulthandler
import io
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


def baseline_check(program: str, timeout_s: float) -> tuple[str, float, float]:
    """(verdict, exec seconds inside the process, wall seconds) for one program."""
    started = time.perf_counter()
    with multiprocessing.Manager() as manager:
        verdict = manager.list()
        process = multiprocessing.Process(target=_execute_guarded, args=(program, timeout_s, verdict))
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


def bare_fork_ms(repeats: int = 200) -> float:
    """Cost of fork + _exit + wait from a small, stdlib-only Python process (the floor we aim at)."""
    probe = (f"import os, time\nt = time.perf_counter()\nfor _ in range({repeats}):\n    pid = os.fork()\n"
             "    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\n"
             f"print((time.perf_counter() - t) / {repeats} * 1000)")
    return float(subprocess.run([sys.executable, "-E", "-s", "-c", probe], capture_output=True, text=True,
                                check=True).stdout)


def sequential_overhead_ms(repeats: int = 200) -> float:
    """Median caller-side wall time of a trivial check on one worker, checks sent one at a time."""
    with Sandbox(workers=1) as sandbox:
        walls = [sandbox.run_one(Check(code="x = 1", test="assert x == 1")).wall_s for _ in range(repeats)]
    return statistics.median(walls) * 1000


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--no-js", action="store_true", help="skip the HumanEvalPack-JS figure")
    args = parser.parse_args(argv)

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
        fork_ms = bare_fork_ms()
        trivial_ms = sequential_overhead_ms()
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
        print(f"per-check cost, one worker, one trivial check at a time: {trivial_ms:.2f} ms "
              f"(median wall_s seen by the caller) vs a bare fork+exit+wait from a small Python process "
              f"{fork_ms:.2f} ms; {load()}")

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
