"""The quality numbers of a run, from the rows synth writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs.app.reports.quality import quality
from graphs.app.reports.synth_data import RunData


def run_data() -> RunData:
    ledger = [
        {"task_type": "generation", "stages": ["generated", "accepted", "tested", "executed"], "usage": {}},
        {"task_type": "generation", "stages": ["generated", "accepted", "tested", "executed"], "usage": {}},
        {"task_type": "generation", "stages": ["generated"], "usage": {}},
        {"task_type": "summarization", "stages": ["generated", "accepted"], "usage": {}},
    ]
    matrix = [
        {"task_type": "generation", "checks": {"ok": True, "reference_passes": 3, "tests_total": 3},
         "verification": {"matrix": [["passed", "passed", "passed"], ["failed", "passed", "error"]],
                          "suspect": [None, "uses ctypes (line 1)"]}},
        {"task_type": "generation", "checks": {"ok": False, "reference_passes": 1, "tests_total": 3},
         "verification": {"matrix": [["passed", "failed", "failed"]], "suspect": [None]}},
        {"task_type": "generation", "rejected_sample": True,
         "checks": {"ok": True, "reference_passes": 2, "tests_total": 2}, "verification": {"matrix": []}},
    ]
    manifest = {"usage": {"total": {"calls": 30, "total_tokens": 9000}}}
    return RunData(outdir=Path("."), manifest=manifest, ledger=ledger, matrix=matrix)


def test_quality_numbers_per_task_type_and_overall() -> None:
    table = quality(run_data())
    generation = table["generation"]
    assert generation["acceptance_rate"] == pytest.approx(2 / 3)
    assert generation["accepted_failing_execution"] == pytest.approx(1 / 2)
    assert generation["rejected_executed"] == 1 and generation["rejected_passing_execution"] == 1.0
    assert generation["test_validity"] == pytest.approx(6 / 8)
    assert generation["candidate_pass_rate"] == pytest.approx(5 / 9)
    assert generation["suspect_candidates"] == 1
    assert table["summarization"]["acceptance_rate"] == 1.0
    assert table["summarization"]["candidate_pass_rate"] is None  # nothing measured it
    overall = table["all"]
    assert overall["accepted"] == 3 and overall["calls_per_accepted"] == 10 and overall["tokens_per_accepted"] == 3000


def test_an_empty_run_has_no_numbers_and_does_not_fail() -> None:
    table = quality(RunData(outdir=Path(".")))
    assert table["all"]["acceptance_rate"] is None and table["all"]["calls_per_accepted"] is None


def test_the_headline_says_when_most_threads_produced_nothing_and_why() -> None:
    from graphs.app.reports.quality_html import headline

    failed = {"task_type": "generation", "status": "failed", "rows": {"sft": 0, "dpo": 0, "matrix": 0},
              "failures": [{"stage": "generate", "message": "gave up after 3 attempts: no code\nmore"}]}
    made = {"task_type": "summarization", "status": "accepted", "rows": {"sft": 1, "dpo": 0, "matrix": 0}}
    quiet = RunData(outdir=Path("."), ledger=[failed, failed, made])
    text = headline(quiet)
    assert "Only 1 of 3 threads produced a row" in text
    assert "generate: gave up after 3 attempts: no code (2)" in text
    assert headline(RunData(outdir=Path("."), ledger=[made, made, failed])) == ""
