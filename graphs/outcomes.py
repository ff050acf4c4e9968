"""Why threads ended as they did: the yield of an OUTDIR (threads that produced a training row) and the most
common reasons the others did not, with counts — for the final summary, the manifest and the report's headline.

A thread produced a row when it was accepted (an SFT row) or made preference pairs. The others are grouped by
reason: a failed thread by its last failure's stage and error type, a rejected one by the first rubric check it
failed (or by its executable checks when the rubric accepted it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

LOW_YIELD = 0.5  # below this share of threads with a row, the summary says so
TOP_REASONS = 5


class Reason(BaseModel):
    reason: str
    count: int
    example: str = ""


class OutcomeSummary(BaseModel):
    """`manifest.json`'s `outcome`: how many finished threads produced a row, and why the others did not."""

    threads: int = 0
    with_rows: int = 0
    share: float = 0.0
    low_yield: bool = False
    top_reasons: list[Reason] = Field(default_factory=list)
    headline: str = ""


def produced_row(row: dict[str, Any]) -> bool:
    return row.get("status") == "accepted" or "pairs" in (row.get("stages") or [])


def reason_of(row: dict[str, Any]) -> tuple[str, str]:
    """(reason, an example message) for a ledger row that produced no row."""
    failures = [f for f in row.get("failures") or [] if isinstance(f, dict)]
    if row.get("status") == "failed" and failures:
        last = failures[-1]
        return f"{last.get('stage', '?')} failed ({last.get('error_type') or 'error'})", str(last.get("message", ""))
    reasons = [str(r) for r in row.get("verdict_reasons") or []]
    if reasons:
        check = reasons[-1].split(":", 1)[0].strip()
        return f"rejected by the rubric: {check}", reasons[-1]
    if row.get("status") == "rejected":
        return "executable checks failed", ""
    return f"{row.get('status', 'unknown')} without a recorded reason", ""


def summarize(ledger: Iterable[dict[str, Any]]) -> OutcomeSummary:
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    threads = with_rows = 0
    for row in ledger:
        if not isinstance(row, dict):
            continue
        threads += 1
        if produced_row(row):
            with_rows += 1
            continue
        reason, example = reason_of(row)
        counts[reason] += 1
        examples.setdefault(reason, example[:300])
    share = with_rows / threads if threads else 0.0
    low = bool(threads) and share < LOW_YIELD
    top = [Reason(reason=reason, count=count, example=examples[reason])
           for reason, count in counts.most_common(TOP_REASONS)]
    headline = f"{with_rows} of {threads} threads produced a row ({share:.0%})"
    if low:
        headline = f"only {headline}; top reasons: " + "; ".join(f"{r.reason} ×{r.count}" for r in top)
    return OutcomeSummary(threads=threads, with_rows=with_rows, share=round(share, 4), low_yield=low, top_reasons=top,
                          headline=headline)
