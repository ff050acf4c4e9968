"""The `synth` report: OUTDIR/report.html, one self-contained page built from the files a run wrote.

`synth_data` loads the OUTDIR and summarises it, `synth_html` draws the page; this module puts them together
and writes the page atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphs.app.reports.synth_data import load_run
from graphs.app.reports.synth_html import render_page


def build_synth_report(outdir: Path) -> str:
    """The whole page as one HTML string."""
    return render_page(load_run(Path(outdir)))


def write_synth_report(outdir: Path, path: Path | None = None) -> Path:
    """Render the report of `outdir` to `path` (default `outdir/report.html`), replacing it atomically."""
    outdir = Path(outdir)
    path = Path(path) if path is not None else outdir / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(build_synth_report(outdir), encoding="utf-8")
    os.replace(temporary, path)
    return path
