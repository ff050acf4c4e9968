"""The synth report: what a reader checks on the page of a small, realistic OUTDIR (and of an empty one)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import numpy as np

from graphs.app.reports.synth import build_synth_report, write_synth_report
from graphs.records import DPORow, LedgerRow, MatrixRow, Provenance, SFTRow
from tools import svg_charts
from tools.rows import JsonlWriter
from tools.verification import Efficiency, Timing, VerifyResult, rank_all

HOSTILE = 'def f():\n    return "</pre><script>alert(1)</script>"\n'
ALL = ["generated", "accepted", "tested", "executed", "pairs"]
STATUSES = {"passed", "failed", "error", "timeout", "memory", "output_limit", "crashed"}


def _verification(statuses: list[list[str]], seconds: list[list[float]]) -> dict:
    passed = np.array([[s == "passed" for s in row] for row in statuses])
    rankings = rank_all(passed)
    timings = [Timing(runs_s=[sum(t)], median_s=sum(t), min_s=sum(t), max_s=sum(t)) if all(p) else None
               for p, t in zip(passed, seconds, strict=True)]
    result = VerifyResult(
        task_id="x", prompt="p", language="python", candidates=["c"] * len(statuses),
        tests=["t"] * len(statuses[0]), matrix=statuses, exec_s=seconds,
        errors=[["ZeroDivisionError" if s == "error" else None for s in row] for row in statuses],
        scores={k: r.code_scores for k, r in rankings.items()},
        test_scores={k: r.test_scores for k, r in rankings.items()}, ranker="bayes", top_candidate=0,
        efficiency=Efficiency(timings=timings), pairs=[], timing_s={"matrix": 0.1})
    return result.to_record()


def _ledger(thread: str, task: str, status: str, stages: list[str], attempts: int = 1,
            reasons: tuple[str, ...] = (), failures: tuple[tuple[str, str, str], ...] = ()) -> LedgerRow:
    return LedgerRow(id=thread, thread_id=thread, seed_id=f"seed-{thread[:2]}", task_type=task, status=status,
                     stages=stages, attempts=attempts, verdict_reasons=list(reasons),
                     failures=[{"stage": s, "agent": a, "message": m} for s, a, m in failures],
                     usage={"generator": {"calls": attempts, "prompt_tokens": 100 * attempts}})


def build_outdir(outdir: Path) -> Path:
    """Nine threads over four task types: accepted, rejected and failed ones, three matrices, two pairs."""
    ledger = [
        _ledger("g1", "generation", "accepted", ALL),
        _ledger("g2", "generation", "accepted", ALL[:4], attempts=2,
                reasons=("language_stated: the instruction names no language",)),
        _ledger("g3", "generation", "rejected", ["generated"], attempts=3,
                reasons=("language_stated: no language named", "imports: `re` is used but not imported",
                         "language_stated: still no language")),
        _ledger("g4", "generation", "failed", [], failures=(
            ("generate", "generator", "reply is not JSON: <script>alert(2)</script>"),)),
        _ledger("s1", "summarization", "accepted", ALL[:2]),
        _ledger("s2", "summarization", "rejected", ["generated"], attempts=3,
                reasons=("faithful: mentions caching the code does not do",)),
        _ledger("r1", "repair", "accepted", ALL),
        _ledger("r2", "repair", "rejected", ["generated"], reasons=("language_stated: not stated",)),
        _ledger("t1", "translation", "failed", ALL[:3], failures=(
            ("execute", "executor", "translated code fails its tests"),)),
    ]
    provenance = Provenance(seed_id="seed-g1", path="src/util.py", lines=[3, 9])
    sft = [SFTRow(id=f"sft-{task}", task_type=task, task_name=f"{task} task", instruction=f"Do {task}.",
                  input=HOSTILE if task == "repair" else "", output=HOSTILE, language="python",
                  messages=[{"role": "user", "content": "x"}], provenance=provenance, verdict={"accepted": True})
           for task in ["generation", "generation", "summarization", "repair"]]
    sft[1].id = "sft-generation-2"
    matrices = [
        ("generation", [["passed", "passed"], ["passed", "failed"], ["error", "timeout"]],
         [[0.001, 0.002], [0.003, 0.001], [0.0005, 5.0]]),
        ("generation", [["passed", "passed"], ["crashed", "memory"]], [[0.01, 0.02], [0.0, 0.3]]),
        ("repair", [["passed", "passed"], ["failed", "failed"]], [[0.002, 0.002], [0.001, 0.001]]),
    ]
    matrix = [MatrixRow(id=f"m{i}", task_id=f"task{i}", task_type=task, language="python", prompt="p",
                        candidates=["c"] * len(statuses), tests=["t"] * len(statuses[0]),
                        verification=_verification(statuses, seconds))
              for i, (task, statuses, seconds) in enumerate(matrices)]
    dpo = [DPORow(id="d1", task_id="task0", task_type="generation", kind="correctness", prompt="Write f.",
                  chosen="def f():\n    return 1  # CHOSEN-1", rejected=HOSTILE,
                  metadata={"ranker": "bayes", "chosen_score": 1.0, "rejected_score": 0.25},
                  provenance=provenance),
           DPORow(id="d2", task_id="task2", task_type="repair", kind="efficiency", prompt="Fix g.",
                  chosen="def g():\n    return 2  # FAST", rejected="def g():\n    return sum([2])  # SLOW",
                  metadata={"speedup": 3.5, "chosen_median_s": 0.001}, provenance=provenance)]
    for name, rows in [("ledger", ledger), ("sft", sft), ("matrix", matrix), ("dpo", dpo)]:
        writer = JsonlWriter(outdir / f"{name}.jsonl", fsync=False)
        for row in rows:
            writer.write(row)
        writer.close()
    manifest = {"model": "Qwen/Qwen2.5-Coder-1.5B-Instruct", "base_urls": ["http://127.0.0.1:8000/v1"],
                "seed": 7, "started_at": "2026-11-23T10:00:00+0000", "finished_at": "2026-11-23T10:02:30+0000",
                "synth": {"task_mix": {"generation": 0.5, "summarization": 0.2, "repair": 0.2, "translation": 0.1}},
                "sampling": {"temperature": 0.7, "n": 5, "<script>key</script>": "<script>value</script>"},
                "usage": {"agents": {"generator": {"calls": 12, "prompt_tokens": 34567, "completion_tokens": 8901},
                                     "discriminator": {"calls": 9, "prompt_tokens": 20000}}}}
    (outdir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return outdir


def section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"section {anchor} missing"
    return match.group(1)


def table_rows(html: str) -> list[list[str]]:
    """Text of every table body row in `html`, tags stripped."""
    rows = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", html, re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            rows.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


def rows_by_first(html: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table_rows(html)}


def test_header_shows_model_endpoint_totals_and_usage(tmp_path: Path) -> None:
    page = build_synth_report(build_outdir(tmp_path))
    header = re.search(r"<header>(.*?)</header>", page, re.S).group(1)
    assert "Qwen/Qwen2.5-Coder-1.5B-Instruct" in header and "http://127.0.0.1:8000/v1" in header
    tiles = dict((name, value) for value, name in re.findall(
        r'<div class="big">([^<]+)</div><div>([^<]+)</div>', header))
    assert tiles == {"seeds": "9", "threads": "9", "SFT rows": "4", "DPO pairs": "2", "matrices": "3"}
    assert "2.5 min" in header  # 10:00:00 → 10:02:30
    usage = rows_by_first(header)
    assert usage["generator"][:3] == ["12", "34,567", "8,901"]
    assert usage["total"][:2] == ["21", "54,567"]


def test_funnel_counts_per_task_type(tmp_path: Path) -> None:
    funnel = rows_by_first(section(build_synth_report(build_outdir(tmp_path)), "funnel"))
    # seeds, generated, accepted, tested, executed, pairs (with % of seeds), SFT rows, DPO pairs
    assert funnel["generation"] == ["4", "3 75%", "2 50%", "2 50%", "2 50%", "1 25%", "2", "1"]
    assert funnel["summarization"] == ["2", "2 100%", "1 50%", "0 0%", "0 0%", "0 0%", "1", "0"]
    assert funnel["translation"] == ["1", "1 100%", "1 100%", "1 100%", "0 0%", "0 0%", "0", "0"]
    assert funnel["total"][:3] == ["9", "8 89%", "5 56%"]


def test_task_mix_planned_against_produced(tmp_path: Path) -> None:
    mix = rows_by_first(section(build_synth_report(build_outdir(tmp_path)), "mix"))
    assert mix["generation"] == ["50%", "4 (44%)", "2 (50%)"]
    assert mix["translation"] == ["10%", "1 (11%)", "0 (0%)"]


def test_accept_rates_and_top_rejection_reasons(tmp_path: Path) -> None:
    html = section(build_synth_report(build_outdir(tmp_path)), "discriminator")
    rows = rows_by_first(html)
    # judged, accepted, rate, accepted at first try, mean attempts
    assert rows["generation"] == ["3", "2", "67%", "1 (33%)", "2.00"]
    assert rows["summarization"][:3] == ["2", "1", "50%"]
    assert rows["translation"][:3] == ["1", "1", "100%"]
    reasons = [row for row in table_rows(html) if len(row) == 3]
    assert [(r[0], r[1]) for r in reasons] == [("language_stated", "4"), ("imports", "1"), ("faithful", "1")]


def test_execution_status_counts_scores_and_timings(tmp_path: Path) -> None:
    html = section(build_synth_report(build_outdir(tmp_path)), "execution")
    statuses = rows_by_first(html)
    assert {k: v[0] for k, v in statuses.items() if k in STATUSES} == {
        "passed": "7", "failed": "3", "error": "1", "timeout": "1", "crashed": "1", "memory": "1"}
    assert statuses["passed"][1] == "50%"
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    assert "7 candidates in 3 matrices, 14 checks; 43% of the candidates pass every test (3)" in text
    assert all(f"{bucket} · candidates: {n}<" in html for bucket, n in [("0/2", 3), ("1/2", 1), ("2/2", 3)])
    for ranker in ["pagerank", "codet", "max_pass", "bayes"]:
        assert f"<figcaption>{ranker} score</figcaption>" in html
    assert "n = 13 " in html  # one exec time per check; the crashed one (0 s) has no place on a log axis
    assert "ZeroDivisionError" in html
    figures = {caption: chart for chart, caption in re.findall(r"<figure>(.*?)<figcaption>(.*?)</figcaption>", html)}
    assert "n = 3 " in figures["candidate median time on its trusted tests"]  # the three all-pass candidates
    assert "n = 3 " in figures["sandbox wall time per pass matrix"]


def test_failures_grouped_by_stage_and_agent(tmp_path: Path) -> None:
    html = section(build_synth_report(build_outdir(tmp_path)), "failures")
    rows = {(r[0], r[1]): r[2:] for r in table_rows(html)}
    assert rows[("generate", "generator")][0] == "1"
    assert "translated code fails its tests" in rows[("execute", "executor")][1]
    assert "failed 2" in unescape(re.sub(r"<[^>]+>", "", html))


def test_examples_are_escaped_and_side_by_side(tmp_path: Path) -> None:
    page = build_synth_report(build_outdir(tmp_path))
    assert "<script" not in page.lower()  # the page has no script of its own, so any would be injected
    assert "&lt;script&gt;value&lt;/script&gt;" in page  # manifest values are shown, escaped
    html = section(page, "examples")
    assert html.count("&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert html.count("<pre") == html.count("</pre>")
    assert "CHOSEN-1" in html and "FAST" in html and "SLOW" in html
    assert "ranker bayes · chosen_score 1 · rejected_score 0.25" in html and "speedup 3.5" in html
    assert html.count('class="pair"') == 2 and "correctness" in html and "efficiency" in html
    assert "sft-summarization" in html and "sft-repair" in html  # one example per task type first


def test_empty_and_damaged_outdirs_render(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    path = write_synth_report(empty)
    page = path.read_text(encoding="utf-8")
    assert path == empty / "report.html" and page.endswith("</html>\n")
    assert "no manifest.json" in page and "no SFT rows" in page and "no DPO pairs" in page
    assert all(f'<section id="{s}">' in page for s in ["funnel", "mix", "discriminator", "execution"])
    damaged = build_outdir(tmp_path / "damaged")
    (damaged / "manifest.json").write_text("{not json", encoding="utf-8")
    with (damaged / "sft.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"id": "torn", "task_type": "gen')  # a crash mid-line
    page = build_synth_report(damaged)
    assert "manifest.json unreadable" in page
    assert rows_by_first(section(page, "funnel"))["generation"][0] == "4"


def test_report_written_to_a_chosen_path(tmp_path: Path) -> None:
    target = write_synth_report(build_outdir(tmp_path / "run"), tmp_path / "pages" / "r.html")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not (tmp_path / "run" / "report.html").exists()


def test_histogram_counts_every_value_once() -> None:
    values = [0.001, 0.002, 0.004, 0.1, 0.1, 3.0]
    svg = svg_charts.histogram(values, bins=5, log=True, fmt=svg_charts.fmt_seconds)
    counts = [int(c) for c in re.findall(r": (\d+)</title>", svg)]
    assert len(counts) == 5 and sum(counts) == len(values) and counts[-1] == 1
    assert svg_charts.histogram([]) == svg_charts.no_data()


def test_stacked_bar_shares_and_escaped_labels() -> None:
    svg = svg_charts.stacked_hbar_chart([("a<b", {"passed": 3, "failed": 1})], {"passed": "#0f0"})
    assert "a&lt;b · passed: 3 (75%)" in svg and "a&lt;b · failed: 1 (25%)" in svg
    assert svg_charts.nice_ticks(7) == [0, 2, 4, 6, 8]


def test_rows_of_the_wrong_shape_do_not_break_the_page(tmp_path: Path) -> None:
    odd = [{"id": 1, "task_type": None, "stages": "generated", "attempts": "2", "verdict_reasons": "no",
            "failures": ["boom", {"stage": 3}], "usage": 5},
           {"id": 2, "task_type": "repair", "verification": {"matrix": "bad", "scores": {"x": ["a", None, 0.5]},
                                                            "exec_s": [[None, "1"]], "efficiency": []}},
           "not a row", 17, None]
    for name in ["ledger", "sft", "dpo", "matrix"]:
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in odd), encoding="utf-8")
    (tmp_path / "manifest.json").write_text(json.dumps(["not", "a", "dict"]), encoding="utf-8")
    page = build_synth_report(tmp_path)
    assert rows_by_first(section(page, "funnel"))["total"][0] == "2"  # two dict rows in the ledger
    assert "n = 1<" in section(page, "execution")  # the one numeric score of ranker x


def test_page_is_self_contained(tmp_path: Path) -> None:
    page = build_synth_report(build_outdir(tmp_path))
    assert not re.search(r"<(script|link|img|iframe)\b|\bsrc=|@import|url\(", page, re.I)
    assert page.count("<svg") >= 10
    assert page.count("<section") == page.count("</section>") == 7  # quality, funnel, mix, …


def test_pass_rates_fall_back_to_ten_percent_bins_when_test_counts_differ(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "matrix.jsonl", fsync=False)
    for index, statuses in enumerate([[["passed", "failed"], ["passed", "passed"]],
                                      [["passed", "passed", "failed"], ["failed", "failed", "timeout"]]]):
        writer.write(MatrixRow(id=f"m{index}", task_id=f"t{index}", task_type="generation", language="python",
                               prompt="p", candidates=["c", "d"], tests=["t"] * len(statuses[0]),
                               verification=_verification(statuses, [[0.01] * len(statuses[0])] * 2)))
    writer.close()
    html = section(build_synth_report(tmp_path), "execution")
    # 1/2 and 2/3 land in the 50–59% and 60–69% bins, 2/2 in 100%, 0/3 in 0–9%
    for bucket in ["0–9%", "50–59%", "60–69%", "100%"]:
        assert f"{bucket} · candidates: 1<" in html
