"""`run.py seeds`: an input or output of the wrong kind is one `error:` line, a non-zero exit and nothing written,
before any work; a parquet export (binary by nature) is still read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tools.seeds
from run import main

SOURCE = "def add(a, b):\n    \"\"\"Add two numbers and return the sum of both.\"\"\"\n    return a + b\n"
BINARY = b"\x7fELF\x02\x01\x01\0\0\0" + bytes(range(256)) * 4


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any seeding that starts fails the test: the checks must come first."""

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the seeds stage started on inputs that should have been refused")

    monkeypatch.setattr(tools.seeds, "prepare_seeds", started)


def _loop(tmp_path: Path) -> Path:
    """A path no one can read, not even root: a symlink pointing at itself."""
    path = tmp_path / "loop.py"
    os.symlink(path, path)
    return path


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.jsonl"
    os.mkfifo(path)
    return path


def _binary(name: str):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(BINARY)
        return path
    return make


WRONG_INPUTS = [
    ("binary .dat", _binary("bin.dat"), "is a binary file"),
    ("binary .py", _binary("bin.py"), "is a binary file"),
    ("binary .jsonl", _binary("seeds.jsonl"), "is a binary file"),
    ("missing", lambda tmp_path: tmp_path / "missing.py", "no such seed file or directory"),
    ("unreadable", _loop, "cannot read"),
    ("named pipe", _fifo, "is a named pipe"),
]


@pytest.mark.parametrize(("name", "make", "message"), WRONG_INPUTS, ids=[case[0] for case in WRONG_INPUTS])
def test_an_input_of_the_wrong_kind_is_one_line_and_nothing_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None, name: str, make, message: str) -> None:
    good = tmp_path / "good.py"
    good.write_text(SOURCE)
    bad = make(tmp_path)
    out = tmp_path / "out" / "seeds.jsonl"
    report = tmp_path / "report.html"
    # the bad input after a good one: every input is checked, not only the first
    assert main(["seeds", str(good), str(bad), "--out", str(out), "--report", str(report)]) == 1
    line = one_error_line(capsys)
    assert message in line and str(bad) in line
    assert not out.exists() and not out.parent.exists() and not report.exists()


def test_an_out_or_report_that_is_a_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          no_work: None) -> None:
    good = tmp_path / "good.py"
    good.write_text(SOURCE)
    a_dir = tmp_path / "adir"
    a_dir.mkdir()
    assert main(["seeds", str(good), "--out", str(a_dir)]) == 1
    assert "is a directory; a file is expected" in one_error_line(capsys)
    out = tmp_path / "seeds.jsonl"
    assert main(["seeds", str(good), "--out", str(out), "--report", str(a_dir)]) == 1
    assert "--report" in one_error_line(capsys) and not out.exists()
    assert list(a_dir.iterdir()) == []


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_cache_dir_that_cannot_be_a_directory_is_one_line_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None, where: str) -> None:
    good = tmp_path / "good.py"
    good.write_text(SOURCE)
    a_file = tmp_path / "cache"
    a_file.write_text("not a directory")
    cache_dir = a_file if where == "a file" else a_file / "embeddings"
    out = tmp_path / "seeds.jsonl"
    assert main(["seeds", str(good), "--out", str(out), "--select", "1", "--cache-dir", str(cache_dir)]) == 1
    line = one_error_line(capsys)
    assert "--cache-dir" in line and "not a directory" in line
    assert not out.exists() and a_file.read_text() == "not a directory"


def test_a_bad_cache_dir_is_ignored_without_selection(tmp_path: Path) -> None:
    """The cache is used only to embed for selection: without one it is never touched."""
    good = tmp_path / "good.py"
    good.write_text(SOURCE)
    a_file = tmp_path / "cache"
    a_file.write_text("not a directory")
    out = tmp_path / "seeds.jsonl"
    assert main(["seeds", str(good), "--out", str(out), "--no-decontaminate", "--cache-dir", str(a_file)]) == 0
    assert [json.loads(line)["code"] for line in out.read_text().splitlines()] == [SOURCE.rstrip("\n")]


def test_parquet_is_binary_and_still_read(tmp_path: Path) -> None:
    source = tmp_path / "train.parquet"
    pq.write_table(pa.table({"code": [SOURCE], "language": ["python"]}), source)
    assert b"\0" in source.read_bytes()[:8192]  # (what the binary check looks for)
    out = tmp_path / "seeds.jsonl"
    assert main(["seeds", str(source), "--out", str(out), "--no-decontaminate"]) == 0
    assert [json.loads(line)["code"] for line in out.read_text().splitlines()] == [SOURCE]
