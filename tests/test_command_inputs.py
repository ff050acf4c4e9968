"""Inputs and outputs of the wrong kind are one line and no work; a flagged sample never counts as a pass;
a task whose checks the sandbox lost is retried on the next run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from run import main
from tools.benchmark_data import load_benchmark

GOOD = {"task_id": "double", "candidates": ["def f(x):\n    return 2 * x\n"], "tests": ["assert f(1) == 2"]}


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "in.jsonl"
    good.write_text(json.dumps(GOOD) + "\n")
    binary = tmp_path / "in.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0" + bytes(range(256)))
    directory = tmp_path / "adir"
    directory.mkdir()
    return {"good": good, "binary": binary, "dir": directory, "missing": tmp_path / "nope.jsonl"}


@pytest.mark.parametrize("kind, expected", [("missing", "input not found"), ("binary", "is a binary file"),
                                            ("dir", "is a directory")])
def test_verify_rejects_an_input_of_the_wrong_kind(inputs, tmp_path, capsys, kind, expected):
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(inputs[kind]), "--out", str(out), "--workers", "1"]) == 1
    assert expected in one_error_line(capsys)
    assert not out.exists()


def test_verify_rejects_an_out_of_the_wrong_kind(inputs, tmp_path, capsys):
    assert main(["verify", str(inputs["good"]), "--out", str(inputs["dir"])]) == 1
    assert "is a directory" in one_error_line(capsys)
    assert main(["verify", str(inputs["good"]), "--out", str(inputs["binary"])]) == 1
    assert "is a binary file" in one_error_line(capsys)
    under_a_file = inputs["good"] / "out.jsonl"
    assert main(["verify", str(inputs["good"]), "--out", str(under_a_file)]) == 1
    assert "is not a directory" in one_error_line(capsys)


@pytest.mark.parametrize("kind, expected", [("missing", "samples not found"), ("binary", "is a binary file"),
                                            ("dir", "is a directory")])
def test_evaluate_rejects_an_input_of_the_wrong_kind(inputs, capsys, kind, expected):
    assert main(["evaluate", str(inputs[kind]), "--benchmark", "humaneval"]) == 1
    assert expected in one_error_line(capsys)


def test_seeds_rejects_a_missing_path_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "seeds.jsonl"
    assert main(["seeds", str(tmp_path / "no-such-dir"), "--out", str(out), "--no-decontaminate"]) == 1
    assert "no such seed file or directory" in one_error_line(capsys)
    assert not out.exists()


def test_seeds_survives_a_deeply_nested_file(tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    (source / "deep.py").write_text("x = " + "-" * 5000 + "1\n")
    (source / "fine.py").write_text("def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n" * 1)
    out = tmp_path / "seeds.jsonl"
    assert main(["seeds", str(source), "--out", str(out), "--no-decontaminate", "--no-dedup"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert out.exists()


def test_evaluate_counts_a_flagged_sample_as_failed_and_lists_it(tmp_path, capsys):
    problem = load_benchmark("humaneval")[0]
    forged = "    import builtins\n    builtins.exec = lambda *a, **k: None\n" + problem.solution
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": problem.task_id, "completion": problem.solution}) + "\n"
                       + json.dumps({"task_id": problem.task_id, "completion": forged}) + "\n")
    results = tmp_path / "results.jsonl"
    assert main(["evaluate", str(samples), "--benchmark", "humaneval", "--k", "1", "--results", str(results),
                 "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "0.5000" in captured.out  # one of two counts
    assert "1 suspect sample(s) counted as failed" in captured.err and f"{samples}:2" in captured.err
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert rows[0]["passed"] is True and rows[0]["suspect"] is None
    assert rows[1]["passed"] is False and "builtins" in rows[1]["suspect"]


def test_verify_retries_a_task_recorded_with_an_infrastructure_error(inputs, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    lost = dict(GOOD, matrix=[], scores={}, pairs=[], error="sandbox worker lost twice during this check")
    out.write_text(json.dumps(lost) + "\n")
    assert main(["verify", str(inputs["good"]), "--out", str(out), "--workers", "1", "--repeats", "0"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["error"] is None and rows[0]["matrix"] == [["passed"]]


def test_a_python_without_the_dependencies_gets_one_line(tmp_path):
    """`-S`: no site-packages, as when run.py is started by a Python that codemill was not installed into."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "in.jsonl").write_text(json.dumps(GOOD) + "\n")  # past the input checks, to the first import
    done = subprocess.run([sys.executable, "-S", "run.py", "verify", str(tmp_path / "in.jsonl"), "--out",
                           str(tmp_path / "out.jsonl")], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: the module") and "is not installed" in done.stderr


def test_an_unexpected_error_is_one_line_and_the_traceback_needs_debug(monkeypatch, capsys):
    import graphs.app.commands.verify as verify

    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(verify, "run", broken)
    assert main(["verify", "x", "--out", "y"]) == 1
    assert one_error_line(capsys) == "error: RuntimeError: boom (run with --debug for the traceback)"
    with pytest.raises(RuntimeError):
        main(["verify", "x", "--out", "y", "--debug"])
