"""Small dependency-free charts as inline SVG strings: bars, grouped and stacked bars, histograms.

Made for self-contained HTML reports that open offline: no JavaScript, no CDN, no matplotlib. Every
label goes through `html.escape`, every bar carries a `<title>` (the browser shows it on hover), and an
empty input renders a short "no data" note instead of an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
INK, MUTED, GRID = "#1f2933", "#6b7280", "#e5e7eb"
DEFAULT_COLOR = "#4c78a8"
Formatter = Callable[[float], str]


def fmt_number(value: float) -> str:
    """Compact human number: 12, 3.5, 0.042, 1.2k, 3.4M."""
    if value != value:  # NaN
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if magnitude == int(magnitude):
        return f"{int(value):,}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3g}"


def fmt_seconds(value: float) -> str:
    """Seconds with a unit that fits: 850 µs, 12 ms, 1.5 s, 2.0 min."""
    if value < 1e-3:
        return f"{value * 1e6:.3g} µs"
    if value < 1:
        return f"{value * 1e3:.3g} ms"
    if value < 120:
        return f"{value:.3g} s"
    return f"{value / 60:.1f} min"


def fmt_percent(value: float) -> str:
    return f"{value * 100:.0f}%" if value in (0, 1) or value >= 0.1 else f"{value * 100:.1f}%"


def no_data(message: str = "no data") -> str:
    return f'<p class="nodata" style="color:{MUTED};font-style:italic">{escape(message)}</p>'


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'style="{FONT};font-size:12px;max-width:100%;height:auto">' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = INK) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">'
            f"{escape(text)}</text>")


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
            f'fill="{fill}" rx="2"><title>{escape(title)}</title></rect>')


def _legend(names: Sequence[str], colors: Mapping[str, str], x: float, y: float) -> list[str]:
    parts, cursor = [], x
    for name in names:
        parts.append(f'<rect x="{cursor:.1f}" y="{y - 9:.1f}" width="10" height="10" rx="2" '
                     f'fill="{colors.get(name, DEFAULT_COLOR)}"/>')
        parts.append(_text(cursor + 14, y, name, fill=MUTED))
        cursor += 26 + 7 * len(name)
    return parts


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def hbar_chart(items: Sequence[tuple[str, float]], *, color: str | Sequence[str] = DEFAULT_COLOR,
               fmt: Formatter = fmt_number, width: int = 640, bar_height: int = 20,
               label_width: int = 190, label: str = "bar chart") -> str:
    """One horizontal bar per (label, value), the value printed after the bar."""
    if not items:
        return no_data()
    top = max((value for _, value in items), default=0) or 1
    plot = width - label_width - 70
    row = bar_height + 8
    body: list[str] = []
    for index, (name, value) in enumerate(items):
        fill = color if isinstance(color, str) else color[index % len(color)]
        y = 4 + index * row
        short = name if len(name) <= label_width // 7 else name[: label_width // 7 - 1] + "…"
        body.append(f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
                    f'fill="{INK}"><title>{escape(name)}</title>{escape(short)}</text>')
        length = plot * value / top
        body.append(_rect(label_width, y, length, bar_height, fill, f"{name}: {fmt(value)}"))
        body.append(_text(label_width + length + 6, y + bar_height * 0.7, fmt(value), fill=MUTED))
    return _svg(width, 8 + len(items) * row, body, label)


def grouped_bar_chart(categories: Sequence[str], series: Mapping[str, Sequence[float]],
                      colors: Mapping[str, str], *, fmt: Formatter = fmt_number, width: int = 720,
                      height: int = 260, label: str = "grouped bar chart") -> str:
    """Vertical bars: one group per category, one bar per series inside it, with a legend."""
    names = list(series)
    if not categories or not names or all(v == 0 for values in series.values() for v in values):
        return no_data()
    left, right, top_pad, bottom = 48, 12, 30, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    ticks = nice_ticks(max(v for values in series.values() for v in values))
    scale = plot_h / ticks[-1]
    body = _legend(names, colors, left, 14)
    for tick in ticks:
        y = top_pad + plot_h - tick * scale
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, fmt(tick), anchor="end", fill=MUTED))
    group_w = plot_w / len(categories)
    bar_w = min(28.0, group_w * 0.8 / len(names))
    every = math.ceil((7 * max(len(c) for c in categories) + 6) / group_w)  # label every n-th if crowded
    for gi, category in enumerate(categories):
        x0 = left + gi * group_w + (group_w - bar_w * len(names)) / 2
        for si, name in enumerate(names):
            value = series[name][gi] if gi < len(series[name]) else 0
            h = value * scale
            body.append(_rect(x0 + si * bar_w, top_pad + plot_h - h, bar_w - 2, h,
                              colors.get(name, DEFAULT_COLOR), f"{category} · {name}: {fmt(value)}"))
        if gi % every == 0:
            body.append(_text(left + (gi + 0.5) * group_w, height - bottom + 18, category, anchor="middle"))
    return _svg(width, height, body, label)


def stacked_hbar_chart(rows: Sequence[tuple[str, Mapping[str, float]]], colors: Mapping[str, str], *,
                       order: Sequence[str] | None = None, fmt: Formatter = fmt_number, width: int = 720,
                       bar_height: int = 26, label_width: int = 120, label: str = "stacked bar chart") -> str:
    """One horizontal bar per row, split into coloured segments (full width = the row's total)."""
    names = list(order or dict.fromkeys(name for _, parts in rows for name in parts))
    rows = [(row_label, parts) for row_label, parts in rows if sum(parts.values()) > 0]
    if not rows:
        return no_data()
    plot = width - label_width - 70
    body = _legend([n for n in names if any(p.get(n, 0) for _, p in rows)], colors, label_width, 14)
    for index, (row_label, parts) in enumerate(rows):
        y = 26 + index * (bar_height + 10)
        total = sum(parts.values())
        body.append(_text(label_width - 8, y + bar_height * 0.65, row_label, anchor="end"))
        x = float(label_width)
        for name in names:
            value = parts.get(name, 0)
            if value <= 0:
                continue
            w = plot * value / total
            share = value / total
            body.append(_rect(x, y, w, bar_height, colors.get(name, DEFAULT_COLOR),
                              f"{row_label} · {name}: {fmt(value)} ({fmt_percent(share)})"))
            if w > 34:
                body.append(_text(x + w / 2, y + bar_height * 0.65, fmt_percent(share), anchor="middle",
                                  fill="#fff"))
            x += w
        body.append(_text(label_width + plot + 6, y + bar_height * 0.65, fmt(total), fill=MUTED))
    return _svg(width, 30 + len(rows) * (bar_height + 10), body, label)


def histogram(values: Sequence[float], *, bins: int = 20, lo: float | None = None, hi: float | None = None,
              log: bool = False, color: str = DEFAULT_COLOR, fmt: Formatter = fmt_number,
              width: int = 300, height: int = 180, label: str = "histogram") -> str:
    """Counts of `values` in equal-width bins (equal in log10 space with `log=True`, for timings)."""
    data = [v for v in values if v == v and math.isfinite(v) and (v > 0 or not log)]
    if not data:
        return no_data()
    forward = math.log10 if log else float
    backward = (lambda x: 10**x) if log else float
    low = forward(lo) if lo is not None else forward(min(data))
    high = forward(hi) if hi is not None else forward(max(data))
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    counts = [0] * bins
    for value in data:
        position = int((forward(value) - low) / (high - low) * bins + 1e-9)  # 0.6 → bin 6, not 5
        counts[min(max(position, 0), bins - 1)] += 1
    left, right, top_pad, bottom = 34, 10, 8, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    ticks = nice_ticks(max(counts), 3)
    scale = plot_h / ticks[-1]
    body: list[str] = []
    for tick in ticks:
        y = top_pad + plot_h - tick * scale
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 5, y + 4, fmt_number(tick), anchor="end", fill=MUTED))
    bin_w = plot_w / bins
    for index, count in enumerate(counts):
        a, b = backward(low + (high - low) * index / bins), backward(low + (high - low) * (index + 1) / bins)
        body.append(_rect(left + index * bin_w + 0.5, top_pad + plot_h - count * scale, bin_w - 1,
                          count * scale, color, f"{fmt(a)} – {fmt(b)}: {count}"))
    for fraction, anchor in ((0, "start"), (0.5, "middle"), (1, "end")):
        body.append(_text(left + plot_w * fraction, height - bottom + 16,
                          fmt(backward(low + (high - low) * fraction)), anchor=anchor, fill=MUTED))
    body.append(_text(left + plot_w, height - 4, f"n = {len(data):,}" + ("  (log scale)" if log else ""),
                      anchor="end", fill=MUTED))
    return _svg(width, height, body, label)
