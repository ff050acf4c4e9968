"""How close LLMClient gets to a server's ideal throughput, and what it costs per request.

The scripted OpenAI-protocol server (tests/fakes.py) runs in its own process with a fixed per-request
latency; the client sends a batch with a cap of C requests in flight per endpoint. Ideal throughput is
endpoints * C / latency; achieved concurrency is measured by the server (peak) and by Little's law (mean).
"Wave bound" is the most any client can reach: N requests under a cap of C take at least ceil(N / C)
latencies. Client overhead per request is the client process's CPU time divided by the requests. A second
pass replays the batch from the SQLite cache (zero model calls).

For latencies under a second the server's own floor is measured first, on a fresh server process, by a
bare client (raw HTTP/1.1 on C keep-alive asyncio sockets, nothing else): what any client could get from this
server and machine.

    python benchmarks/llm_throughput.py                       # 1,000 requests, C=32, at 2 s and at 200 ms
    python benchmarks/llm_throughput.py --latency 0.2 --requests 200 --concurrency 8
    python benchmarks/llm_throughput.py --skip-floor          # LLMClient only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.llm import LLMClient, LLMSettings  # noqa: E402


def start_server(latency_s: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes", "--port", "0", "--latency-s", str(latency_s)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    match = re.search(r"http://[\d.]+:\d+", process.stdout.readline())
    if not match:
        process.kill()
        raise RuntimeError("the scripted server did not start")
    return process, match.group(0) + "/v1"


async def run_batch(settings: LLMSettings, requests: int) -> tuple[float, float, LLMClient]:
    """Wall seconds and client CPU seconds for `requests` distinct prompts."""
    client = LLMClient(settings)
    prompts = [[{"role": "user", "content": f"task number {i}: write a function"}] for i in range(requests)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client.complete(prompt, max_tokens=64) for prompt in prompts))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await client.aclose()
    return wall, cpu, client


async def bare_client_floor(base_url: str, requests: int, concurrency: int) -> tuple[float, list[float]]:
    """Wall seconds and sorted per-request latencies of a minimal keep-alive client (one socket per slot)."""
    match = re.match(r"http://([\d.]+):(\d+)", base_url)
    assert match is not None
    host, port = match.group(1), int(match.group(2))
    todo = iter(range(requests))
    latencies: list[float] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for i in todo:
            body = json.dumps({"model": "scripted-model", "max_tokens": 64,
                               "messages": [{"role": "user", "content": f"task number {i}: write a function"}]})
            head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n")
            started = time.perf_counter()
            writer.write((head + body).encode())
            headers = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: (\d+)", headers)
            assert length is not None and headers.startswith(b"HTTP/1.1 200")
            await reader.readexactly(int(length.group(1)))
            latencies.append(time.perf_counter() - started)
        writer.close()

    wall0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall0, sorted(latencies)


def server_stats(base_url: str) -> dict[str, int]:
    return httpx.get(base_url.removesuffix("/v1") + "/stats", timeout=5).json()


async def measure(args: argparse.Namespace, latency_s: float) -> dict[str, str]:
    """One latency: the floor (unless skipped or slow), the LLMClient batch, and the cache replay."""
    ideal = args.endpoints * args.concurrency / latency_s
    # With a cap of C, N requests take at least ceil(N / C) full latencies: the last wave may be partial.
    waves = -(-args.requests // (args.endpoints * args.concurrency))
    row = {"latency": f"{latency_s * 1000:.0f} ms", "ideal": f"{ideal:.1f} req/s",
           "wave bound": f"{args.requests / (waves * latency_s) / ideal:.1%}"}
    if not args.skip_floor and args.endpoints == 1 and latency_s < 1.0:
        process, url = start_server(latency_s)
        try:
            floor_wall, latencies = await bare_client_floor(url, args.requests, args.concurrency)
        finally:
            process.terminate()
            process.wait()
        p50 = latencies[len(latencies) // 2] * 1000
        row["server floor"] = f"{args.requests / floor_wall / ideal:.1%} (p50 {p50:.1f} ms)"

    servers = [start_server(latency_s) for _ in range(args.endpoints)]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            settings = LLMSettings(base_urls=[url for _, url in servers], model="scripted-model",
                                   concurrency=args.concurrency, cache_path=Path(scratch) / "cache.sqlite",
                                   cache_enabled=not args.no_cache, max_retries=0, timeout_s=60)
            wall, cpu, client = await run_batch(settings, args.requests)
            usage = client.usage().total()
            stats = [server_stats(url) for _, url in servers]
            if not args.no_cache:
                replay_wall, replay_cpu, replay = await run_batch(settings, args.requests)
                replay_usage = replay.usage().total()
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait()
    achieved = args.requests / wall
    row.update({
        "wall time": f"{wall:.2f} s", "throughput": f"{achieved:.1f} req/s",
        "throughput / ideal": f"**{achieved / ideal:.1%}**",
        "peak in flight (server)": ", ".join(str(s["max_in_flight"]) for s in stats),
        "mean in flight (Little's law)": f"{usage.latency_total_s / wall:.1f}",
        "requests per endpoint": ", ".join(str(s["requests"]) for s in stats),
        "client CPU per request": f"{cpu / args.requests * 1000:.2f} ms",
        "mean request latency seen by the client": f"{usage.latency_mean_s * 1000:.1f} ms",
    })
    if not args.no_cache:
        row["cache replay: model calls / hits"] = f"{replay_usage.calls} / {replay_usage.cache_hits}"
        row["cache replay: wall, CPU per request"] = f"{replay_wall:.2f} s, {replay_cpu / args.requests * 1000:.2f} ms"
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="cap per endpoint")
    parser.add_argument("--latency", type=float, action="append",
                        help="server seconds per request; repeat for several (default: 2 and 0.2)")
    parser.add_argument("--endpoints", type=int, default=1, help="scripted server processes, load-balanced")
    parser.add_argument("--no-cache", action="store_true", help="measure without the SQLite cache (no replay)")
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the bare-client floor")
    args = parser.parse_args()
    latencies = args.latency or [2.0, 0.2]

    rows = [await measure(args, latency) for latency in latencies]
    print(f"requests {args.requests}, endpoints {args.endpoints}, cap {args.concurrency}/endpoint, "
          f"cache {'off' if args.no_cache else 'on'}, openai {version('openai')}\n")
    print("| measure | " + " | ".join(row["latency"] for row in rows) + " |")
    print("|---|" + "---|" * len(rows))
    keys = dict.fromkeys(key for row in rows for key in row if key != "latency")
    for key in sorted(keys, key=lambda key: key != "ideal" and key != "wave bound" and key != "server floor"):
        print(f"| {key} | " + " | ".join(row.get(key, "-") for row in rows) + " |")


if __name__ == "__main__":
    asyncio.run(main())
