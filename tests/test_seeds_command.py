"""The `seeds` command end to end on the example seeds, and reading its output back."""

from __future__ import annotations

import json
from pathlib import Path

from run import main
from tools.seeds import load_seeds, prepare_seeds
from tools.seeds.models import SeedsConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_seeds_command_writes_selected_seeds_and_a_report(tmp_path: Path, capsys) -> None:
    out, report = tmp_path / "seeds.jsonl", tmp_path / "report.html"
    argv = ["seeds", str(EXAMPLES / "seeds"), str(EXAMPLES / "seeds.jsonl"), "--out", str(out),
            "--select", "10", "--report", str(report), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and len({row["id"] for row in rows}) == 10
    assert all(row["code"] and row["language"] in ("python", "javascript") and row["path"] for row in rows)
    assert all(50 <= len(row["code"]) <= 800 for row in rows)
    html = report.read_text()
    assert "Coverage radius" in html and "near_duplicate" in html and "to_roman_numeral" in html
    assert "selected" in capsys.readouterr().err
    assert main([*argv[:-2], "--cache-dir", str(tmp_path / "cache")]) == 0  # cached re-run, same output
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows


def test_no_selection_keeps_every_candidate_and_ids_are_stable(tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    assert main(["seeds", str(EXAMPLES / "seeds"), "--out", str(out), "--no-decontaminate"]) == 0
    seeds = load_seeds(out)
    result = prepare_seeds([EXAMPLES / "seeds"], SeedsConfig(decontaminate=False))
    assert [s.id for s in seeds] == [s.id for s in result.candidates] and len(seeds) >= 20


def test_load_seeds_reports_a_bad_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"code": "def f():\\n    return 1", "language": "python"}\nnot json\n{"language": "go"}\n')
    errors: list[str] = []
    seeds = load_seeds(path, errors)
    assert [s.code for s in seeds] == ["def f():\n    return 1"] and seeds[0].id.startswith("seed-")
    assert len(errors) == 2 and ":2:" in errors[0] and ":3:" in errors[1]


def test_bad_options_print_one_line(tmp_path: Path, capsys) -> None:
    assert main(["seeds", str(EXAMPLES / "seeds"), "--out", str(tmp_path / "o.jsonl"), "--embedder", "endpoint",
                 "--select", "3"]) == 1
    assert "--embed-base-url" in capsys.readouterr().err
    assert main(["seeds", str(EXAMPLES / "seeds"), "--out", str(tmp_path / "o.jsonl"), "--jaccard", "1.5"]) == 1
