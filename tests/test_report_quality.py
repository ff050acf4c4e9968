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
        {"task_type": "generation", "rejected_sample": True,
         "checks": {"ok": False, "reference_passes": 0, "tests_total": 4},
         "verification": {"matrix": [["passed", "passed", "passed", "passed"]]}},
    ]
    manifest = {"usage": {"total": {"calls": 30, "total_tokens": 9000}}}
    return RunData(outdir=Path("."), manifest=manifest, ledger=ledger, matrix=matrix)


def test_quality_numbers_per_task_type_and_overall() -> None:
    table = quality(run_data())
    generation = table["generation"]
    assert generation["acceptance_rate"] == pytest.approx(2 / 3)
    assert generation["accepted_failing_execution"] == pytest.approx(1 / 2)
    assert generation["rejected_executed"] == 2 and generation["rejected_passing_execution"] == 1 / 2
    # The rejected sample measures the rubric only: its tests and candidates answer a rejected task.
    assert generation["test_validity"] == pytest.approx(4 / 6)
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


def usage_of(calls: int, prompt: int, completion: int) -> dict:
    return {"calls": calls, "prompt_tokens": prompt, "completion_tokens": completion}


def test_calls_and_tokens_per_accepted_row_count_every_run_on_the_outdir() -> None:
    data = run_data()
    data.manifest = {
        "usage": {"agents": {"generator": usage_of(3, 100, 50)}},  # the latest run alone
        "totals": {"usage": {"agents": {"generator": usage_of(20, 4000, 2000),
                                        "discriminator": usage_of(10, 2500, 500)}}},
    }
    overall = quality(data)["all"]
    assert overall["calls_per_accepted"] == 10 and overall["tokens_per_accepted"] == 3000
    # Two task types and no per-thread usage: nothing says how the calls split between them.
    assert quality(data)["generation"]["calls_per_accepted"] is None
    only_generation = RunData(outdir=Path("."), manifest=data.manifest,
                              ledger=[r for r in data.ledger if r["task_type"] == "generation"])
    assert quality(only_generation)["generation"]["calls_per_accepted"] == 15


def test_per_thread_usage_splits_the_cost_by_task_type() -> None:
    data = run_data()
    for row, usage in zip(data.ledger, [usage_of(4, 300, 100), usage_of(6, 500, 100), usage_of(2, 100, 0),
                                        usage_of(3, 200, 100)], strict=True):
        row["usage"] = usage
    table = quality(data)
    assert table["generation"]["calls_per_accepted"] == 6 and table["generation"]["tokens_per_accepted"] == 550
    assert table["summarization"]["calls_per_accepted"] == 3 and table["summarization"]["tokens_per_accepted"] == 300


def test_a_rejected_sample_row_with_a_truthy_but_not_true_ok_does_not_count_as_passing() -> None:
    data = RunData(outdir=Path("."), matrix=[{"task_type": "repair", "rejected_sample": True,
                                              "checks": {"ok": "false", "reference_passes": 0, "tests_total": 1}}])
    assert quality(data)["repair"]["rejected_passing_execution"] == 0.0


def test_the_manifest_carries_the_quality_numbers(tmp_path: Path) -> None:
    import json

    from graphs.app.manifest import Manifest

    data = run_data()
    for name, rows in (("ledger", data.ledger), ("matrix", data.matrix)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    Manifest(tmp_path).end_run(stats=None, usage={"agents": {"generator": usage_of(30, 6000, 3000)}}, stopped=None)
    numbers = json.loads((tmp_path / "manifest.json").read_text())["quality"]
    assert numbers["generation"]["acceptance_rate"] == round(2 / 3, 4)
    assert numbers["generation"]["accepted_failing_execution"] == 0.5
    assert numbers["generation"]["rejected_passing_execution"] == 0.5
    assert numbers["generation"]["rejected_executed"] == 2
    assert numbers["generation"]["test_validity"] == round(4 / 6, 4)
    assert numbers["generation"]["candidate_pass_rate"] == round(5 / 9, 4)
    assert numbers["all"]["calls_per_accepted"] == 10 and numbers["all"]["tokens_per_accepted"] == 3000
    assert numbers["summarization"]["acceptance_rate"] == 1.0


def test_the_report_shows_the_rejected_sample_and_a_rubric_rejection_as_the_reason() -> None:
    from graphs.app.reports.quality_html import quality_section, top_failure_reasons

    assert "rejected instances executed (sample)" in quality_section(run_data())
    probed = {"task_type": "generation", "status": "rejected", "stages": ["generated"],
              "verdict_reasons": ["related: unrelated"],
              "failures": [{"stage": "test", "message": "gave up after 3 attempts"}]}
    assert top_failure_reasons(RunData(outdir=Path("."), ledger=[probed])) == [("rejected: related: unrelated", 1)]
