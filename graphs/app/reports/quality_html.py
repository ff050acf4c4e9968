"""The report's verdict on a run: a headline when most threads produced nothing (and why), and the
quality numbers per task type (`quality.quality`)."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from graphs.app.reports.quality import quality
from graphs.app.reports.synth_data import RunData, as_dict, as_list, as_number

LABELS = [("acceptance_rate", "accepted / judged", "pct"),
          ("accepted_failing_execution", "accepted, yet failing trusted tests", "pct"),
          ("rejected_executed", "rejected instances executed (sample)", "count"),
          ("rejected_passing_execution", "rejected, yet passing trusted tests", "pct"),
          ("test_validity", "tests the reference passes", "pct"),
          ("candidate_pass_rate", "candidate cells passed", "pct"),
          ("suspect_candidates", "suspect candidates", "count"),
          ("calls_per_accepted", "model calls per accepted row", "number"),
          ("tokens_per_accepted", "tokens per accepted row", "number")]


def top_failure_reasons(data: RunData, top: int = 3) -> list[tuple[str, int]]:
    """The most common reasons threads failed: "stage: message" (first line, capped), with counts."""
    reasons: Counter[str] = Counter()
    for row in data.ledger:
        if row.get("status") == "accepted":
            continue
        failures = [as_dict(f) for f in as_list(row.get("failures"))]
        rubric = row.get("status") == "rejected" and "accepted" not in as_list(row.get("stages"))
        # The rubric's final rejection is why such a thread ended, not an earlier failure or one of its probe's.
        if failures and not (rubric and row.get("verdict_reasons")):
            first = failures[-1]
            message = str(first.get("message", "")).splitlines()[0][:120] if first.get("message") else "?"
            reasons[f"{first.get('stage', '?')}: {message}"] += 1
        elif row.get("verdict_reasons"):
            reasons[f"rejected: {str(as_list(row.get('verdict_reasons'))[0])[:120]}"] += 1
    return reasons.most_common(top)


def headline(data: RunData) -> str:
    """A warning paragraph when fewer than half of the threads produced a row, naming the top reasons."""
    threads = len(data.ledger)
    productive = sum(any((as_number(v) or 0) > 0 for v in as_dict(row.get("rows")).values()) for row in data.ledger)
    if not threads or productive * 2 >= threads:
        return ""
    reasons = "; ".join(f"{escape(reason)} ({count})" for reason, count in top_failure_reasons(data))
    return (f'<p class="note"><b>Only {productive} of {threads} threads produced a row.</b> '
            f"Top reasons: {reasons or 'none recorded'}.</p>")


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.0f}%"
    if kind == "count":
        return str(int(value))
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def quality_section(data: RunData) -> str:
    table = quality(data)
    columns = [task for task in table if task != "all"] + ["all"]
    head = "".join(f'<th class="num">{escape(task)}</th>' for task in columns)
    body = "".join(f"<tr><td>{escape(label)}</td>"
                   + "".join(f'<td class="num">{_cell(table[task].get(key), kind)}</td>' for task in columns)
                   + "</tr>" for key, label, kind in LABELS)
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
