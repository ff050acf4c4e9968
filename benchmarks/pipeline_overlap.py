"""Does `synth` keep the model busy? Mean requests in flight at the server, from the first request to the last.

1,000 seeds from the Python standard library (split into functions), the default N and M and task mix, and a
scripted OpenAI-protocol server (tests/fakes.py, in this process) that answers every request after a fixed
latency (1 s: a realistic generation) with a scripted coder model whose candidates are half right. `synth`
runs as its own process with `--concurrency 64` and no other tuning flag, so its threads are sized by
default. The server samples its requests in flight every 5 ms; the mean over [first request, last reply] is
compared with 64 (the most a client may have in flight).

    python benchmarks/pipeline_overlap.py                          # 1,000 seeds, 1 s, --concurrency 64
    python benchmarks/pipeline_overlap.py --seeds 200 --latency 0.5 --concurrency 16
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer  # noqa: E402
from tools.seeds.split import split_source  # noqa: E402

SAMPLE_S = 0.005
ENTRY_POINT = re.compile(r"\b(inc_\d+)\b")
PYTHON = {"right": "def inc(x):\n    return x + 1\n", "wrong": "def inc(x):\n    return x + 2\n",
          "tests": ["assert inc(1) == 2", "assert inc(-1) == 0", "assert inc(0) == 1", "assert inc(10) == 11",
                    "assert inc(99) == 100"]}
JAVASCRIPT = {"right": "function inc(x) {\n  return x + 1;\n}\n", "wrong": "function inc(x) {\n  return x + 2;\n}\n",
              "tests": ["console.assert(inc(1) === 2, 'inc(1)')", "console.assert(inc(-1) === 0, 'inc(-1)')",
                        "console.assert(inc(0) === 1, 'inc(0)')", "console.assert(inc(10) === 11, 'inc(10)')",
                        "console.assert(inc(99) === 100, 'inc(99)')"]}


def stdlib_seeds(count: int) -> list[dict[str, Any]]:
    """The first `count` functions (50-800 characters, distinct) of the standard library, in path order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    seeds: dict[str, dict[str, Any]] = {}
    for path in sorted(stdlib.rglob("*.py")):
        if any(part in {"test", "tests", "site-packages", "idlelib", "lib2to3"} for part in path.parts):
            continue
        try:
            units = split_source(path.read_text(encoding="utf-8"), "python", str(path.relative_to(stdlib)))
        except Exception:  # a file that does not parse or decode is skipped
            continue
        for unit in units:
            if unit.kind in ("function", "method") and 50 <= len(unit.code) <= 800 and unit.id not in seeds:
                seeds[unit.id] = {"id": unit.id, "code": unit.code, "language": "python", "path": unit.path,
                                  "lines": list(unit.lines or (1, 1))}
                if len(seeds) == count:
                    return list(seeds.values())
    return list(seeds.values())


class BenchModel:
    """Answers every agent's structured request; candidates are half right, half wrong. Every instance gets an
    entry point of its own (`inc_7`, ...), so no two threads send the same prompt (the reply cache would answer
    it)."""

    def __init__(self) -> None:
        self._instances = itertools.count()
        self._lock = threading.Lock()

    def _fresh(self) -> str:
        with self._lock:
            return f"inc_{next(self._instances)}"

    def __call__(self, request: ChatRequest) -> Reply:
        text = "\n".join(str(message.get("content", "")) for message in request.messages)
        schema = ((request.response_format or {}).get("json_schema") or {})
        name = schema.get("name", "")
        code = JAVASCRIPT if ("console.assert" in text or "declaration (no exports)" in text) else PYTHON
        found = ENTRY_POINT.findall(request.messages[-1].get("content", "") if request.messages else "")
        entry = found[-1] if found else "inc"
        if name == "GenerationReply":
            entry = self._fresh()
            return _json({"task_name": "Increment", "input": "", "entry_point": entry,
                          "solution": _named(PYTHON["right"], entry),
                          "instruction": f"Write a Python function `{entry}(x)` that returns its argument plus one."})
        if name == "SummarizationReply":
            return _json({"task_name": "Summarize", "instruction": "Summarize what this function does.",
                          "summary": "It computes a value from its arguments and returns the result to the caller."})
        if name == "RepairReply":
            entry = self._fresh()
            return _json({"task_name": "Fix the increment", "entry_point": entry,
                          "fixed_code": _named(PYTHON["right"], entry),
                          "bug_description": "the increment adds two instead of one",
                          "buggy_code": _named(PYTHON["wrong"], entry),
                          "instruction": f"The function `{entry}(x)` should return x plus one. Fix the bug."})
        if name == "TranslationReply":
            entry = self._fresh()
            return _json({"task_name": "Translate the increment", "entry_point": entry,
                          "translated_code": _named(JAVASCRIPT["right"], entry),
                          "instruction": f"Translate the Python function `{entry}(x)` into JavaScript."})
        if name == "CandidateReply":
            half = [_named(code["right"] if i % 2 == 0 else code["wrong"], entry) for i in range(request.n)]
            return Reply(contents=[json.dumps({"code": candidate}) for candidate in half])
        if name.startswith("TestsReply"):
            return _json({"tests": [_named(test, entry) for test in code["tests"]]})
        if name == "Judgement":
            checks = [key for key in schema.get("schema", {}).get("properties", {}) if key != "analysis"]
            answer: dict[str, Any] = {check: {"reason": f"checked {check.replace('_', ' ')} against the increment "
                                                        f"task and found it holds", "passed": True}
                                      for check in checks}
            answer["analysis"] = "A small, well specified increment task with a matching solution."
            return _json(answer)
        return Reply(contents=["{}"])


def _named(code: str, entry: str) -> str:
    return re.sub(r"\binc\b", entry, code)


def _json(payload: dict[str, Any]) -> Reply:
    return Reply(contents=[json.dumps(payload)])


class InFlightSampler:
    """Samples the server's requests in flight every `SAMPLE_S` seconds, with the times of the first request and
    the last reply."""

    def __init__(self, server: ScriptedOpenAIServer) -> None:
        self.server = server
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.server.in_flight))
            time.sleep(SAMPLE_S)

    def __enter__(self) -> InFlightSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def mean_between_first_and_last(self) -> tuple[float, float, int]:
        """(mean in flight, seconds from the first request to the last reply, max in flight)."""
        busy = [index for index, (_, count) in enumerate(self.samples) if count > 0]
        if not busy:
            return 0.0, 0.0, 0
        window = self.samples[busy[0]: busy[-1] + 2]
        area = sum(count * (window[i + 1][0] - at) for i, (at, count) in enumerate(window[:-1]))
        span = window[-1][0] - window[0][0]
        return area / span if span else 0.0, span, max(count for _, count in window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per request at the server")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    seeds = stdlib_seeds(args.seeds)
    with tempfile.TemporaryDirectory() as tmp:
        seeds_path = Path(tmp) / "seeds.jsonl"
        seeds_path.write_text("".join(json.dumps(seed) + "\n" for seed in seeds))
        out = Path(tmp) / "out"
        with ScriptedOpenAIServer(BenchModel(), latency_s=args.latency) as server, InFlightSampler(server) as sampler:
            command = [sys.executable, "run.py", "synth", str(seeds_path), "--out", str(out), "--base-url",
                       server.base_url, "--model", server.model, "--concurrency", str(args.concurrency)]
            started = time.monotonic()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            wall = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"synth failed ({done.returncode}):\n{done.stderr[-3000:]}")
        mean, span, peak = sampler.mean_between_first_and_last()
        ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
        statuses: dict[str, int] = {}
        for row in ledger:
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        threads = [line for line in (out / "run.log").read_text().splitlines() if "threads: at most" in line]
    print(f"seeds {len(seeds)} · requests {server.call_count} · latency {args.latency:g} s · "
          f"--concurrency {args.concurrency}")
    print(f"synth wall {wall:.1f} s · first request to last reply {span:.1f} s · "
          f"ideal {server.call_count * args.latency / args.concurrency:.1f} s")
    print(f"mean in flight {mean:.1f} = {mean / args.concurrency:.1%} of {args.concurrency} · max {peak}")
    print(f"threads {statuses} · {threads[-1].split(' ', 1)[1] if threads else ''}")


if __name__ == "__main__":
    main()
