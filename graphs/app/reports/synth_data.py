"""A `synth` OUTDIR loaded for its report, and the summaries the page shows.

It reads an OUTDIR as `synth` writes it — `manifest.json`, `ledger.jsonl`, `sft.jsonl`, `dpo.jsonl`,
`matrix.jsonl` (row models in `graphs.records`) — and summarises the funnel per task type, discriminator accept
rates and rejection reasons, execution statuses, score and timing samples, failures and token usage. Any file
may be missing, empty or hold rows from an older version: the summaries then come out empty instead of failing,
and values of the wrong type read through `as_dict`, `as_list` and `as_number`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from graphs.context import DEFAULT_TASK_MIX
from graphs.records import FUNNEL
from graphs.state import TaskType
from tools.rows import read_jsonl

TASK_ORDER = [task.value for task in TaskType]
STAGES = list(FUNNEL[1:])  # the stages a thread may reach after `seeds`
WAVECODER_MIX = {task.value: weight for task, weight in DEFAULT_TASK_MIX.items()}
@dataclass
class RunData:
    """Everything the page shows, read from one OUTDIR (missing files give empty lists)."""

    outdir: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    sft: list[dict[str, Any]] = field(default_factory=list)
    dpo: list[dict[str, Any]] = field(default_factory=list)
    matrix: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_run(outdir: Path) -> RunData:
    data = RunData(outdir=outdir)
    try:
        manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
        data.manifest = manifest if isinstance(manifest, dict) else {}
    except FileNotFoundError:
        data.notes.append("no manifest.json")
    except (OSError, ValueError) as error:
        data.notes.append(f"manifest.json unreadable: {error}")
    for name in ("ledger", "sft", "dpo", "matrix"):
        rows = [row for row in read_jsonl(outdir / f"{name}.jsonl") if isinstance(row, dict)]
        for row in rows:  # every summary groups by task type: make it a string once
            row["task_type"] = str(row.get("task_type") or "unknown")
        setattr(data, name, rows)
    return data


def manifest_time(manifest: dict[str, Any], name: str) -> datetime | None:
    """`started`/`finished` time of the run (`synth` writes `started_at`/`finished_at`)."""
    value = manifest.get(f"{name}_at") or manifest.get(name)
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a dict, else an empty one (rows may come from older versions or be hand-edited)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def as_number(value: Any) -> float | None:
    """`value` as a float if it is a number (not a bool), else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def task_types(data: RunData) -> list[str]:
    seen = {row["task_type"] for rows in (data.ledger, data.sft, data.dpo, data.matrix)
            for row in rows}
    return [t for t in TASK_ORDER if t in seen] + sorted(seen - set(TASK_ORDER))


def funnel(data: RunData) -> dict[str, dict[str, int]]:
    """Per task type: threads (`seeds`), threads reaching each stage, SFT rows and DPO pairs written.

    Without a ledger the stages are inferred from the rows written (accepted = SFT rows, executed =
    matrices, pairs = tasks with a DPO pair).
    """
    table: dict[str, dict[str, int]] = {}
    for task in task_types(data):
        counts = dict.fromkeys(["seeds", *STAGES, "sft_rows", "dpo_pairs"], 0)
        counts["sft_rows"] = sum(row.get("task_type") == task for row in data.sft)
        counts["dpo_pairs"] = sum(row.get("task_type") == task for row in data.dpo)
        if data.ledger:
            for row in data.ledger:
                if row.get("task_type") == task:
                    counts["seeds"] += 1
                    for stage in set(as_list(row.get("stages"))) & set(STAGES):
                        counts[stage] += 1
        else:
            counts["accepted"] = counts["sft_rows"]
            counts["executed"] = sum(row.get("task_type") == task for row in data.matrix)
            counts["pairs"] = len({row.get("task_id") for row in data.dpo if row.get("task_type") == task})
        table[task] = counts
    return table


def accept_rates(data: RunData) -> dict[str, dict[str, float]]:
    """Per task type: threads judged, accepted, accept rate, accepted at the first attempt, mean attempts."""
    result: dict[str, dict[str, float]] = {}
    for task in task_types(data):
        rows = [r for r in data.ledger if r.get("task_type") == task and "generated" in as_list(r.get("stages"))]
        if not rows:
            continue
        accepted = [r for r in rows if "accepted" in as_list(r.get("stages"))]
        attempts = [as_number(r.get("attempts")) or 1.0 for r in rows]
        result[task] = {"judged": len(rows), "accepted": len(accepted), "rate": len(accepted) / len(rows),
                        "first_try": sum((as_number(r.get("attempts")) or 1) <= 1 for r in accepted),
                        "mean_attempts": sum(attempts) / len(attempts)}
    return result


def rejection_reasons(data: RunData, top: int = 10) -> list[tuple[str, int, str]]:
    """Most common discriminator reasons, grouped by rubric check ("name: why" → name), with an example."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for row in data.ledger:
        for reason in as_list(row.get("verdict_reasons")):
            text = str(reason).strip()
            key = text.split(":", 1)[0].strip() if ":" in text[:60] else text[:80]
            counts[key] += 1
            examples.setdefault(key, text)
    return [(key, count, examples[key]) for key, count in counts.most_common(top)]


def status_counts(data: RunData) -> dict[str, Counter[str]]:
    """Statuses of all matrix cells, per task type and in `all`."""
    result: dict[str, Counter[str]] = defaultdict(Counter)
    for row in data.matrix:
        for cells in as_list(as_dict(row.get("verification")).get("matrix")):
            for status in as_list(cells):
                result[row["task_type"]][str(status)] += 1
                result["all"][str(status)] += 1
    return result


def execution_numbers(data: RunData) -> dict[str, Any]:
    """Flat samples for the plots: scores per ranker, exec time per check, candidate times, pass rates."""
    scores: dict[str, list[float]] = defaultdict(list)
    check_s, candidate_s, task_s, pass_rates = [], [], [], []
    errors: Counter[str] = Counter()
    for row in data.matrix:
        verification = as_dict(row.get("verification"))
        for ranker, values in as_dict(verification.get("scores")).items():
            scores[ranker] += [v for v in map(as_number, as_list(values)) if v is not None]
        if (wall := as_number(as_dict(verification.get("timing_s")).get("matrix"))) is not None:
            task_s.append(wall)
        for cells in as_list(verification.get("exec_s")):
            check_s += [v for v in map(as_number, as_list(cells)) if v is not None]
        for timing in as_list(as_dict(verification.get("efficiency")).get("timings")):
            if (median := as_number(as_dict(timing).get("median_s"))) is not None:
                candidate_s.append(median)
        for cells in as_list(verification.get("matrix")):
            if cells := as_list(cells):
                pass_rates.append(sum(status == "passed" for status in cells) / len(cells))
        for cells in as_list(verification.get("errors")):
            errors.update(str(e) for e in as_list(cells) if e)
    return {"scores": dict(scores), "check_s": check_s, "candidate_s": candidate_s, "task_s": task_s,
            "pass_rates": pass_rates, "errors": errors}


def pass_rate_buckets(data: RunData) -> tuple[list[str], list[int]]:
    """Candidates by tests passed: exact "k/M" when every matrix has M tests, else 10% bins (100% apart)."""
    rows = [as_list(cells) for row in data.matrix for cells in as_list(as_dict(row.get("verification")).get("matrix"))]
    rows = [cells for cells in rows if cells]
    passed = [sum(status == "passed" for status in cells) for cells in rows]
    sizes = {len(cells) for cells in rows}
    if len(sizes) == 1 and (tests := sizes.pop()) <= 20:
        counts = Counter(passed)
        return [f"{k}/{tests}" for k in range(tests + 1)], [counts[k] for k in range(tests + 1)]
    bins = Counter(10 if p == len(c) else min(int(p / len(c) * 10), 9) for p, c in zip(passed, rows, strict=True))
    return [f"{10 * i}–{10 * i + 9}%" for i in range(10)] + ["100%"], [bins[i] for i in range(11)]


def failures(data: RunData) -> list[tuple[str, str, int, list[str]]]:
    """Recorded failures grouped by (stage, agent): count and up to three distinct messages."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in data.ledger:
        for failure in as_list(row.get("failures")):
            failure = as_dict(failure)
            groups[(str(failure.get("stage", "?")), str(failure.get("agent", "?")))].append(
                str(failure.get("message", "")))
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    return [(stage, agent, len(msgs), list(dict.fromkeys(msgs))[:3]) for (stage, agent), msgs in ordered]


def usage_per_agent(data: RunData) -> dict[str, dict[str, float]]:
    """Token usage per agent from the manifest (`usage` or `usage.agents`), else summed over the ledger."""
    usage = as_dict(data.manifest.get("usage"))
    usage = as_dict(usage.get("agents")) or usage
    if not usage:
        summed: dict[str, Counter[str]] = defaultdict(Counter)
        for row in data.ledger:
            thread_usage = as_dict(row.get("usage"))
            for agent, numbers in (as_dict(thread_usage.get("agents")) or thread_usage).items():
                summed[agent].update({k: v for k, v in as_dict(numbers).items() if as_number(v) is not None})
        usage = {agent: dict(counter) for agent, counter in summed.items()}
    return {str(agent): {k: float(v) for k, v in as_dict(nums).items() if as_number(v) is not None}
            for agent, nums in sorted(usage.items()) if as_dict(nums)}
