"""The seeds stage's HTML report: what was kept, what was dropped and why, and how well selection covers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from tools.seeds.hygiene import length_histogram
from tools.seeds.models import Drop, Seed, SeedsResult

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>codemill seeds report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
code{font-size:90%}.num{text-align:right}
</style></head><body>
<h1>Seeds report</h1>
<p>{{ result.counts.get("units", 0) }} seed units read from {{ result.counts.get("files_read", 0) }} files;
{{ result.candidates|length }} candidates after hygiene, dedup and decontamination;
<strong>{{ result.seeds|length }} kept</strong>.</p>
<h2>Counts</h2>
<table><tr><th>what</th><th>count</th></tr>
{% for name, value in counts %}<tr><td>{{ name }}</td><td class="num">{{ value }}</td></tr>{% endfor %}
</table>
<h2>Coverage</h2>
{% if result.coverage %}{% set c = result.coverage %}
<p>KCenterGreedy ({{ c.mode }} mode, {{ c.embedder }} embeddings) chose {{ c.selected }} of {{ c.candidates }}
candidates. Coverage radius (the largest distance from any candidate to its nearest chosen seed; smaller is
better): <strong>{{ "%.4f"|format(c.kcenter_radius) }}</strong>, against
{{ "%.4f"|format(c.random_radius) }} for a random subset of the same size
({{ "%.1f"|format(100 * (1 - c.kcenter_radius / c.random_radius)) if c.random_radius else "n/a" }}% smaller).</p>
{% else %}<p>No selection was asked for (use <code>--select K</code> or <code>--select-frac F</code>):
every candidate is kept.</p>{% endif %}
<h2>Mix before and after selection</h2>
<table><tr><th>language</th><th>candidates</th><th>kept</th></tr>
{% for name, before, after in languages %}<tr><td>{{ name }}</td><td class="num">{{ before }}</td>
<td class="num">{{ after }}</td></tr>{% endfor %}</table>
<table><tr><th>length (chars)</th><th>candidates</th><th>kept</th></tr>
{% for name, before, after in lengths %}<tr><td>{{ name }}</td><td class="num">{{ before }}</td>
<td class="num">{{ after }}</td></tr>{% endfor %}</table>
<h2>Duplicates ({{ duplicates|length }})</h2>
<table><tr><th>dropped seed</th><th>where</th><th>reason</th><th>duplicated</th><th>detail</th></tr>
{% for d in duplicates %}<tr><td><code>{{ d.seed_id }}</code> {{ d.name or "" }}</td>
<td>{{ where(d) }}</td><td>{{ d.reason }}</td><td><code>{{ d.matched }}</code> {{ names.get(d.matched, "") }}</td>
<td>{{ d.detail or "" }}</td></tr>
{% endfor %}</table>
<h2>Contaminated ({{ contaminated|length }})</h2>
<table><tr><th>dropped seed</th><th>where</th><th>benchmark item</th><th>overlap</th></tr>
{% for d in contaminated %}<tr><td><code>{{ d.seed_id }}</code> {{ d.name or "" }}</td><td>{{ where(d) }}</td>
<td>{{ d.matched }}</td><td>{{ d.detail or "" }}</td></tr>{% endfor %}</table>
<h2>Other drops ({{ others|length }})</h2>
<table><tr><th>dropped seed</th><th>where</th><th>reason</th><th>detail</th></tr>
{% for d in others %}<tr><td><code>{{ d.seed_id }}</code> {{ d.name or "" }}</td><td>{{ where(d) }}</td>
<td>{{ d.reason }}</td><td>{{ d.detail or "" }}</td></tr>{% endfor %}</table>
</body></html>
"""


def _where(drop: Drop) -> str:
    if drop.path is None:
        return ""
    return f"{drop.path}:{drop.lines[0]}-{drop.lines[1]}" if drop.lines else drop.path


def _mix(before: dict[str, int], after: dict[str, int]) -> list[tuple[str, int, int]]:
    return [(name, before.get(name, 0), after.get(name, 0)) for name in before | after]


def render_report(result: SeedsResult, seed_names: dict[str, str] | None = None) -> str:
    """The report as one self-contained HTML page."""
    names = dict(seed_names or {})
    names.update({seed.id: seed.name or seed.path or "" for seed in result.candidates})
    duplicate_reasons = ("exact_duplicate", "near_duplicate")
    language_counts = _mix(dict(Counter(s.language for s in result.candidates)),
                           dict(Counter(s.language for s in result.seeds)))
    environment = Environment(autoescape=True, undefined=StrictUndefined)
    return environment.from_string(_TEMPLATE).render(
        result=result, counts=sorted(result.counts.items()), where=_where, names=names,
        duplicates=[d for d in result.drops if d.reason in duplicate_reasons],
        contaminated=[d for d in result.drops if d.reason == "contaminated"],
        others=[d for d in result.drops if d.reason not in (*duplicate_reasons, "contaminated")],
        languages=sorted(language_counts, key=lambda row: -row[1]),
        lengths=_mix(length_histogram(result.candidates), length_histogram(result.seeds)),
    )


def write_report(result: SeedsResult, path: Path, all_seeds: list[Seed] | None = None) -> None:
    names = {seed.id: seed.name or seed.path or "" for seed in all_seeds or []}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(render_report(result, names), encoding="utf-8")
