"""Does `synth --ray` scale an execution-heavy batch over graph runners? 1 worker against 2, and a plain run.

The workload is CPU-bound on purpose: a scripted OpenAI-protocol server (tests/fakes.py, in this process,
answering at once) with the tests' coder model, except that every candidate burns about `--spin` million loop
iterations per test before answering (four right, one wrong), so nearly all the time goes to the sandbox. Each
configuration runs `run.py synth` as its own process on a fresh OUTDIR (so the reply cache answers nothing),
with `--workers 1` sandbox worker per graph runner, on a local Ray instance the command starts:

- plain: no Ray, one sandbox worker;
- ray-1: `--ray --ray-workers 1` (one actor, one sandbox worker);
- ray-2: `--ray --ray-workers 2` (two actors, one sandbox worker each).

Reported per configuration: the whole command's wall time, and the batch's (first model request → last ledger
row), with threads per minute over the batch; and whether every configuration wrote the same ids.

    python benchmarks/ray_scaling.py                   # 16 seeds, spin 2
    python benchmarks/ray_scaling.py --seeds 8 --spin 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.coder_model import CoderModel  # noqa: E402
from tests.fakes import ChatRequest, Reply, ScriptedOpenAIServer  # noqa: E402
from tests.test_synth_e2e import rows, write_seeds  # noqa: E402

CONFIGS: dict[str, list[str]] = {
    "plain": [],
    "ray-1": ["--ray", "--ray-workers", "1"],
    "ray-2": ["--ray", "--ray-workers", "2"],
}


def spinning(millions: float, offset: int) -> str:
    loops = int(millions * 1_000_000)
    return (f"def inc(x):\n    total = 0\n    for _ in range({loops}):\n        total += 1\n"
            f"    return x + total - {loops - offset}\n")


class SpinningCoder(CoderModel):
    """The tests' coder model, with candidates that spend their time in the sandbox; records the first request."""

    def __init__(self, spin: float) -> None:
        super().__init__()
        self.candidates = [spinning(spin, 1)] * 4 + [spinning(spin, 2)]
        self.first_request: float | None = None

    def __call__(self, request: ChatRequest) -> Reply:
        self.first_request = self.first_request or time.time()
        schema = (request.response_format or {}).get("json_schema", {})
        if schema.get("name") == "CandidateReply":
            return Reply(contents=[json.dumps({"code": code}) for code in self.candidates[: request.n]])
        return super().__call__(request)


def run(config: str, seeds: Path, workdir: Path, spin: float) -> dict[str, Any]:
    out = workdir / config
    model = SpinningCoder(spin)
    with ScriptedOpenAIServer(model) as server:
        command = [sys.executable, "run.py", "synth", str(seeds), "--out", str(out), "--base-url", server.base_url,
                   "--model", server.model, "--task-mix", "generation=1", "--n-candidates", "5", "--n-tests", "4",
                   "--exec-timeout", "20", "--max-attempts", "1", "--workers", "1", "--no-report",
                   *CONFIGS[config]]
        started = time.time()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wall = time.time() - started
    if done.returncode != 0:
        raise SystemExit(f"{config} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    ledger = rows(out / "ledger.jsonl")
    batch = (out / "ledger.jsonl").stat().st_mtime - (model.first_request or started)
    ids = sorted(row["id"] for name in ("sft.jsonl", "dpo.jsonl", "matrix.jsonl", "ledger.jsonl")
                 for row in rows(out / name))
    return {"config": config, "threads": len(ledger), "wall_s": round(wall, 1), "batch_s": round(batch, 1),
            "threads_per_min": round(len(ledger) / batch * 60, 1), "ids": ids, "load": round(os.getloadavg()[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--spin", type=float, default=2.0, help="million loop iterations per test run")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory(prefix="ray-scaling-") as tmp:
        workdir = Path(tmp)
        seeds = write_seeds(workdir / "seeds.jsonl", ["accept"] * args.seeds)
        results = [run(config, seeds, workdir, args.spin) for config in args.configs.split(",")]
    print("| run | threads | command wall s | batch s | threads/min | load after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(f"| {result['config']} | {result['threads']} | {result['wall_s']} | {result['batch_s']} | "
              f"{result['threads_per_min']} | {result['load']} |")
    same = all(result["ids"] == results[0]["ids"] for result in results)
    print(f"same ids in every run: {same}")


if __name__ == "__main__":
    main()
