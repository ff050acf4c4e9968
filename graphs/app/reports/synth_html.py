"""HTML rendering of the `synth` report: one self-contained page (inline SVG, no JavaScript).

`render_page` draws a loaded run (`synth_data`) as header, funnel, task mix, discriminator, execution,
failures and example rows; a section with nothing to show says so. All text from the run is HTML-escaped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from html import escape
from typing import Any

from graphs.app.reports import synth_data as report
from graphs.app.reports.quality_html import headline, quality_section
from graphs.app.reports.synth_data import STAGES, TASK_ORDER, WAVECODER_MIX, RunData, as_dict, as_list, as_number
from tools import svg_charts as charts

TASK_COLORS = {"generation": "#4c78a8", "summarization": "#54a24b", "repair": "#e45756",
               "translation": "#b279a2"}
STATUS_ORDER = ["passed", "failed", "error", "timeout", "memory", "output_limit", "crashed"]
STATUS_COLORS = {"passed": "#2e9d5b", "failed": "#d64541", "error": "#f08a24", "timeout": "#9aa0a6",
                 "memory": "#8e6cc0", "output_limit": "#c9a227", "crashed": "#4b5563"}
SERIES_COLORS = {"planned": "#c7d2e0", "threads": "#4c78a8", "SFT rows": "#2e9d5b"}
TEXT_CAP = 3000


def _cap(text: Any, limit: int = TEXT_CAP) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _table(headers: list[str], rows: list[list[Any]], text_columns: tuple[int, ...] = (0,),
           empty: str = "no data") -> str:
    """A table of pre-escaped cells; columns not in `text_columns` are numbers (right-aligned)."""
    if not rows:
        return charts.no_data(empty)
    kind = ["" if i in text_columns else "num" for i in range(len(headers))]
    head = "".join(f'<th class="{kind[i]}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{kind[i]}">{cell}</td>' for i, cell in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(part: float, whole: float) -> str:
    return f"{part / whole * 100:.0f}%" if whole else "–"


def _badge(task: str) -> str:
    return f'<span class="badge" style="background:{TASK_COLORS.get(task, "#6b7280")}">{escape(task)}</span>'


def _header(data: RunData) -> str:
    m = data.manifest
    urls = as_list(m.get("base_urls")) or ([m["base_url"]] if m.get("base_url") else [])
    # the manifest knows how many seeds went in; without it, count the seeds that finished a thread
    seed_count = (as_number(m.get("seeds")) or as_number(as_dict(m.get("counts")).get("seeds"))
                  or len({row.get("seed_id") for row in data.ledger}))
    tiles = [("seeds", seed_count), ("threads", len(data.ledger)), ("SFT rows", len(data.sft)),
             ("DPO pairs", len(data.dpo)), ("matrices", len(data.matrix))]
    tile_html = "".join(f'<div class="tile"><div class="big">{charts.fmt_number(value)}</div>'
                        f"<div>{escape(name)}</div></div>" for name, value in tiles)
    started, finished = report.manifest_time(m, "started"), report.manifest_time(m, "finished")
    duration = charts.fmt_seconds((finished - started).total_seconds()) if started and finished else "–"
    facts = [("model", m.get("model") or "–"), ("endpoint", ", ".join(map(str, urls)) or "–"),
             ("seed", m.get("seed", "–")), ("started", started.isoformat(sep=" ") if started else "–"),
             ("finished", finished.isoformat(sep=" ") if finished else "running or unknown"),
             ("duration", duration)]
    fact_html = " · ".join(f"<span><b>{escape(k)}</b> {escape(str(v))}</span>" for k, v in facts)
    extra = []
    for key in ("sampling", "synth", "settings", "versions", "counts"):
        if value := as_dict(m.get(key)):
            rows = [[escape(str(k)), escape(json.dumps(v) if not isinstance(v, str) else v)]
                    for k, v in value.items()]
            extra.append(f"<h4>{escape(key)}</h4>" + _table(["name", "value"], rows, text_columns=(0, 1)))
    details = f"<details><summary>run details</summary>{''.join(extra)}</details>" if extra else ""
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in data.notes)
    return (f"<header><h1>codemill synth report</h1><p class=\"facts\">{fact_html}</p>"
            f'<div class="tiles">{tile_html}</div>{notes}<h3>Token usage per agent</h3>{_usage_table(data)}'
            f"{details}</header>")


def _usage_table(data: RunData) -> str:
    usage = report.usage_per_agent(data)
    preferred = ["calls", "cache_hits", "failures", "retries", "prompt_tokens", "completion_tokens",
                 "latency_total_s"]
    keys = [k for k in preferred if any(k in v for v in usage.values())]
    keys += sorted({k for v in usage.values() for k in v} - set(keys))
    totals = {k: sum(n.get(k, 0) for n in usage.values()) for k in keys}
    rows = [[escape(agent)] + [_exact(nums.get(k, 0)) for k in keys] for agent, nums in usage.items()]
    if len(rows) > 1:
        rows.append(["<b>total</b>"] + [f"<b>{_exact(totals[k])}</b>" for k in keys])
    headers = ["agent"] + [k.replace("_", " ").replace("latency total s", "latency (s)") for k in keys]
    return _table(headers, rows, empty="no usage recorded")


def _exact(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:,.2f}"


def _funnel_section(data: RunData) -> str:
    table = report.funnel(data)
    if not table:
        return charts.no_data("no thread has finished yet")
    columns = ["seeds", *STAGES]
    chart = charts.grouped_bar_chart(columns, {t: [c[s] for s in columns] for t, c in table.items()},
                                     TASK_COLORS, width=860, label="funnel per task type")
    rows = []
    for task, c in [*table.items(), ("total", {k: sum(c[k] for c in table.values())
                                              for k in [*columns, "sft_rows", "dpo_pairs"]})]:
        name = _badge(task) if task != "total" else "<b>total</b>"
        rows.append([name] + [f"{c[s]:,} <small>{_pct(c[s], c['seeds'])}</small>" if s != "seeds"
                              else f"{c[s]:,}" for s in columns] + [f"{c['sft_rows']:,}", f"{c['dpo_pairs']:,}"])
    note = "" if data.ledger else '<p class="note">no ledger.jsonl: stages inferred from the rows written</p>'
    return chart + note + _table(["task type", *columns, "SFT rows", "DPO pairs"], rows)


def _mix_section(data: RunData) -> str:
    sources = [data.manifest, as_dict(data.manifest.get("synth")), as_dict(data.manifest.get("settings"))]
    recorded = next((mix for source in sources if (mix := as_dict(source.get("task_mix")))), {})
    planned = {str(k): as_number(v) or 0.0 for k, v in (recorded or WAVECODER_MIX).items()}
    tasks = [t for t in TASK_ORDER if t in planned] + sorted(set(planned) - set(TASK_ORDER))
    tasks += [t for t in report.task_types(data) if t not in tasks]
    threads = Counter(row["task_type"] for row in data.ledger)
    sft = Counter(row["task_type"] for row in data.sft)
    shares: dict[str, tuple[Mapping[str, float], float]]
    shares = {"planned": (planned, sum(planned.values())), "threads": (threads, threads.total()),
              "SFT rows": (sft, sft.total())}
    series = {name: [counts.get(t, 0) / (total or 1) for t in tasks] for name, (counts, total) in shares.items()}
    chart = charts.grouped_bar_chart(tasks, series, SERIES_COLORS, fmt=charts.fmt_percent, width=860,
                                     label="task mix")
    rows = [[_badge(t), charts.fmt_percent(series["planned"][i]),
             f"{threads[t]:,} ({_pct(threads[t], threads.total())})", f"{sft[t]:,} ({_pct(sft[t], sft.total())})"]
            for i, t in enumerate(tasks)]
    source = "" if recorded else '<p class="note">planned: WaveCoder\'s default mix (the manifest records none)</p>'
    return chart + source + _table(["task type", "planned", "threads", "SFT rows"], rows)


def _discriminator_section(data: RunData) -> str:
    rates = report.accept_rates(data)
    if not rates:
        return charts.no_data("no verdicts yet")
    chart = charts.hbar_chart([(t, r["rate"]) for t, r in rates.items()],
                              color=[TASK_COLORS.get(t, charts.DEFAULT_COLOR) for t in rates],
                              fmt=charts.fmt_percent, label="accept rate per task type")
    rows = [[_badge(t), f"{r['judged']:.0f}", f"{r['accepted']:.0f}", f"<b>{r['rate'] * 100:.0f}%</b>",
             f"{r['first_try']:.0f} ({_pct(r['first_try'], r['judged'])})", f"{r['mean_attempts']:.2f}"]
            for t, r in rates.items()]
    table = _table(["task type", "judged", "accepted", "accept rate", "accepted 1st try", "attempts (mean)"],
                   rows)
    reasons = report.rejection_reasons(data)
    reason_chart = charts.hbar_chart([(key, count) for key, count, _ in reasons], color="#d64541",
                                     label="rejection reasons")
    reason_rows = [[f"<b>{escape(key)}</b>", f"{count:,}", f"<small>{escape(_cap(example, 240))}</small>"]
                   for key, count, example in reasons]
    if not reasons:
        return chart + table
    return (f"{chart}{table}<h3>Most common rejection reasons (top {len(reasons)})</h3>"
            '<p><small>failed rubric checks of the last verdict of each thread, grouped by check</small></p>'
            + reason_chart + _table(["rubric check", "count", "example"], reason_rows, text_columns=(0, 2)))


def _figure(chart: str, caption: str) -> str:
    return f"<figure>{chart}<figcaption>{escape(caption)}</figcaption></figure>"


def _execution_section(data: RunData) -> str:
    if not data.matrix:
        return charts.no_data("no pass matrices yet")
    statuses = report.status_counts(data)
    rows = [(name, statuses[name]) for name in ["all", *[t for t in report.task_types(data) if t in statuses]]]
    stacked = charts.stacked_hbar_chart(rows, STATUS_COLORS, order=STATUS_ORDER, label="check statuses")
    overall = statuses.get("all", Counter())
    status_table = _table(["status", "checks", "share"], [
        [f'<span class="dot" style="background:{STATUS_COLORS.get(s, "#999")}"></span>{escape(s)}',
         f"{overall[s]:,}", _pct(overall[s], sum(overall.values()))]
        for s in [*STATUS_ORDER, *sorted(set(overall) - set(STATUS_ORDER))] if overall[s]])
    numbers = report.execution_numbers(data)
    scores = "".join(_figure(charts.histogram(values, bins=10, lo=0, hi=1, label=ranker), f"{ranker} score")
                     for ranker, values in sorted(numbers["scores"].items()))
    rates = numbers["pass_rates"]
    all_pass = sum(rate == 1 for rate in rates)
    categories, counts = report.pass_rate_buckets(data)
    rate_chart = charts.grouped_bar_chart(categories, {"candidates": counts}, {"candidates": STATUS_COLORS["passed"]},
                                          width=300, height=180, label="pass rate of candidates")
    timing = (_figure(charts.histogram(numbers["check_s"], log=True, fmt=charts.fmt_seconds, color="#72b7b2",
                                       label="exec time per check"), "exec time per check (candidate × test)")
              + _figure(charts.histogram(numbers["candidate_s"], log=True, fmt=charts.fmt_seconds,
                                         color="#54a24b", label="candidate time"),
                        "candidate median time on its trusted tests")
              + _figure(charts.histogram(numbers["task_s"], log=True, fmt=charts.fmt_seconds, color="#9aa0a6",
                                         label="matrix wall time"), "sandbox wall time per pass matrix")
              + _figure(rate_chart, "share of tests each candidate passes"))
    summary = (f'<p class="lead"><b>{len(rates):,}</b> candidates in <b>{len(data.matrix):,}</b> matrices, '
               f"<b>{sum(overall.values()):,}</b> checks; <b>{_pct(all_pass, len(rates))}</b> of the "
               f"candidates pass every test ({all_pass:,}).</p>")
    error_types = numbers["errors"].most_common(8)
    errors = ("<h3>Most common error types of checks that did not pass</h3>"
              + charts.hbar_chart(error_types, color="#f08a24") if error_types else "")
    return (f'{summary}{stacked}{status_table}<h3>Candidate scores per ranker</h3>'
            f'<div class="grid">{scores or charts.no_data()}</div>'
            f'<h3>Timings and pass rates</h3><div class="grid">{timing}</div>{errors}')


def _failures_section(data: RunData) -> str:
    if not data.ledger:
        return charts.no_data("no ledger yet")
    status = Counter(str(row.get("status")) for row in data.ledger)
    line = " · ".join(f"{escape(k)} <b>{v:,}</b>" for k, v in sorted(status.items()))
    groups = report.failures(data)
    rows = [[escape(stage), escape(agent), f"{count:,}",
             "".join(f"<pre class='msg'>{escape(_cap(m, 400))}</pre>" for m in msgs)]
            for stage, agent, count, msgs in groups]
    return (f"<p>threads by final status: {line or '–'}</p>"
            + _table(["stage", "agent", "count", "messages (up to 3)"], rows, text_columns=(0, 1, 3),
                    empty="no failures recorded"))


def _pick(rows: list[dict[str, Any]], key: str, count: int) -> list[dict[str, Any]]:
    """Up to `count` rows, one per distinct `key` value first, in file order (deterministic)."""
    firsts: dict[str, dict[str, Any]] = {}
    for row in rows:
        firsts.setdefault(str(row.get(key)), row)
    chosen = list(firsts.values())[:count]
    return chosen + [row for row in rows if all(row is not c for c in chosen)][: count - len(chosen)]


def _text(row: dict[str, Any], key: str, limit: int = TEXT_CAP) -> str:
    """A field of a row, capped and HTML-escaped."""
    return escape(_cap(row.get(key), limit))


def _block(title: str, body: str, css_class: str = "") -> str:
    css = f' class="{css_class}"' if css_class else ""
    return f"<h4>{escape(title)}</h4><pre{css}>{body}</pre>"


def _example_title(row: dict[str, Any], name: str, facts: list[str]) -> str:
    details = " · ".join(["id " + _text(row, "id", 80), *facts])
    return f"<p>{_badge(row['task_type'])} <b>{escape(name)}</b> <small>{details}</small></p>"


def _examples_section(data: RunData) -> str:
    parts = ["<h3>Instruction rows (SFT)</h3>"]
    for row in _pick(data.sft, "task_type", 3):
        prose = "prose" if row["task_type"] == "summarization" else ""
        parts.append('<article class="example">'
                     + _example_title(row, str(row.get("task_name", "")),
                                      [_text(row, "language", 40), f"attempts {_text(row, 'attempts', 8)}"])
                     + _block("instruction", _text(row, "instruction"), "prose")
                     + (_block("input", _text(row, "input")) if row.get("input") else "")
                     + _block("output", _text(row, "output"), prose) + "</article>")
    if not data.sft:
        parts.append(charts.no_data("no SFT rows"))
    parts.append("<h3>Preference pairs (DPO)</h3>")
    for row in _pick(data.dpo, "kind", 2):
        meta = as_dict(row.get("metadata"))
        facts = [f"{escape(str(k))} {escape(charts.fmt_number(v) if as_number(v) is not None else str(v))}"
                 for k, v in meta.items() if k != "kind" and not isinstance(v, dict | list)]
        parts.append('<article class="example">' + _example_title(row, f"{row.get('kind')} pair", facts)
                     + _block("prompt", _text(row, "prompt", 1200), "light")
                     + f'<div class="pair"><div>{_block("chosen", _text(row, "chosen"), "good")}</div>'
                     + f'<div>{_block("rejected", _text(row, "rejected"), "bad")}</div></div></article>')
    if not data.dpo:
        parts.append(charts.no_data("no DPO pairs"))
    return "".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2933;background:#f6f7f9;
margin:0;line-height:1.45}main{max-width:1120px;margin:0 auto;padding:24px 28px 60px}
header{background:#fff;border-radius:10px;padding:20px 24px;box-shadow:0 1px 3px #0001;margin-bottom:18px}
h1{margin:0 0 6px;font-size:26px}h2{font-size:19px;margin:0 0 12px;border-bottom:1px solid #e5e7eb;
padding-bottom:6px}h3{font-size:15px;margin:18px 0 8px;color:#374151}h4{margin:10px 0 4px;font-size:12px;
text-transform:uppercase;letter-spacing:.05em;color:#6b7280}
section{background:#fff;border-radius:10px;padding:18px 24px;box-shadow:0 1px 3px #0001;margin-bottom:18px}
.facts span{margin-right:4px;color:#374151}.facts b{color:#6b7280;font-weight:600}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin-top:14px}.tile{background:#f3f4f6;border-radius:8px;
padding:10px 18px;min-width:110px;color:#6b7280;font-size:13px}.big{font-size:26px;font-weight:700;
color:#1f2933}table{border-collapse:collapse;margin:10px 0;font-size:13px}th,td{padding:5px 12px;
border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top}th{color:#6b7280;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}small{color:#6b7280}
.badge{color:#fff;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.dot{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.cols{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;background:#fafbfc;border-radius:8px;padding:8px}figcaption{font-size:12px;color:#6b7280;
text-align:center}pre{background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:6px;overflow:auto;
max-height:340px;font-size:12px;white-space:pre-wrap;word-break:break-word;margin:0}
pre.prose{background:#f3f4f6;color:#1f2933;font-family:inherit;font-size:13px}
pre.light{background:#f3f4f6;color:#1f2933}pre.good{border-left:5px solid #2e9d5b}pre.bad{border-left:5px solid #d64541}
pre.msg{background:#fef2f2;color:#7f1d1d;max-height:120px;margin:2px 0}
.example{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;margin:10px 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.note{color:#92400e;background:#fffbeb;border-radius:6px;padding:4px 10px;width:fit-content;font-size:13px}
nav{margin:0 0 14px 4px;font-size:13px}a{color:#4c78a8;text-decoration:none}
details{margin-top:12px;font-size:13px}summary{cursor:pointer;color:#4c78a8}.lead{font-size:15px}
"""


def render_page(data: RunData) -> str:
    """The whole page of a loaded run as one HTML string."""
    sections = [("quality", "Quality per task type", quality_section),
                ("funnel", "Funnel per task type", _funnel_section),
                ("mix", "Task mix: planned vs produced", _mix_section),
                ("discriminator", "Discriminator", _discriminator_section),
                ("execution", "Execution", _execution_section),
                ("failures", "Failures by stage and agent", _failures_section),
                ("examples", "Example rows", _examples_section)]
    nav = " · ".join(f'<a href="#{anchor}">{escape(title.split(":")[0])}</a>' for anchor, title, _ in sections)
    body = "".join(f'<section id="{anchor}"><h2>{escape(title)}</h2>{render(data)}</section>'
                   for anchor, title, render in sections)
    title = f"codemill synth · {data.manifest.get('model') or data.outdir.name}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(str(title))}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>'
            f'<body><main>{_header(data)}{headline(data)}<nav>{nav}</nav>{body}</main></body></html>\n')
