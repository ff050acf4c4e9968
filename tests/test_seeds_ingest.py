"""Ingestion and splitting: real files in, seed units with provenance out, malformed input counted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tools.seeds import Seed, SeedsConfig
from tools.seeds.ingest import ingest
from tools.seeds.split import split_source

PY = '''import os


@staticmethod
def helper(x):
    """Double x."""
    return x * 2


class Box:
    """A box."""

    def __init__(self, v):
        self.v = v
'''


def test_python_functions_and_classes_keep_docstrings_and_lines() -> None:
    seeds = split_source(PY, "python", path="m.py", repo="me/repo")
    assert [(s.name, s.kind, s.lines) for s in seeds] == [("helper", "function", (4, 7)), ("Box", "class", (10, 14))]
    assert seeds[0].code.startswith("@staticmethod") and seeds[0].docstring == "Double x."
    assert seeds[0].repo == "me/repo" and seeds[0].id.startswith("seed-")


def test_a_class_too_long_is_split_into_dedented_methods() -> None:
    methods = "\n".join(f"    def m{i}(self):\n        return {i} + {i}\n" for i in range(30))
    seeds = split_source(f"class Big:\n{methods}", "python", max_chars=200)
    assert [s.name for s in seeds][:2] == ["Big.m0", "Big.m1"] and len(seeds) == 30
    assert seeds[0].kind == "method" and seeds[0].code.startswith("def m0")


def test_javascript_functions_arrows_and_classes_via_tree_sitter() -> None:
    js = ("/** Add. */\nfunction add(a, b) { return a + b; }\n"
          "const mul = (a, b) => a * b;\n"
          "export class Point { constructor(x) { this.x = x; } }\n")
    seeds = split_source(js, "javascript", path="m.js")
    assert [(s.name, s.kind) for s in seeds] == [("add", "function"), ("mul", "function"), ("Point", "class")]
    assert seeds[0].docstring == "/** Add. */" and seeds[1].lines == (3, 3)


def test_go_and_rust_functions_are_found() -> None:
    go = split_source("package m\n\nfunc Add(a int, b int) int {\n\treturn a + b\n}\n", "go")
    rust = split_source("fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n", "rust")
    assert (go[0].name, go[0].kind) == ("Add", "function")
    assert (rust[0].name, rust[0].kind) == ("add", "function")


def test_file_without_definitions_becomes_one_file_seed() -> None:
    seeds = split_source("print('hello world')\nprint('again')\n", "python", path="s.py")
    assert len(seeds) == 1 and seeds[0].kind == "file" and seeds[0].lines == (1, 2)


def test_directory_walk_counts_malformed_input_and_skips_vendored(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(PY)
    (tmp_path / "broken.py").write_text("def broken(:\n    pass\n")
    (tmp_path / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "empty.py").write_text("  \n")
    (tmp_path / "blob.js").write_bytes(b"\x00\x01binary")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "dep.js").write_text("function dep() { return 1; }\n")
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "out.py").write_text("def generated():\n    return 1\n")
    (tmp_path / ".gitignore").write_text("gen/\n")
    (tmp_path / "notes.txt").write_text("not code")
    counts: Counter = Counter()
    seeds = ingest([tmp_path], SeedsConfig(), counts)
    assert {s.name for s in seeds} == {"helper", "Box"}
    assert counts["syntax_error"] == 1 and counts["bad_utf8"] == 1 and counts["empty_file"] == 1
    assert counts["binary_file"] == 1 and counts["files_read"] == 2 and counts["skipped_dirs"] == 2


def test_codesearchnet_and_plain_jsonl_records_with_a_broken_line(tmp_path: Path) -> None:
    path = tmp_path / "seeds.jsonl"
    lines = [json.dumps({"func_code_string": "def f():\n    return 1\n", "func_documentation_string": "One.",
                         "language": "python", "func_path_in_repository": "a/f.py", "repository_name": "o/r",
                         "func_name": "f"}),
             "{not json",
             json.dumps({"code": "function g() { return 2; }", "path": "g.js", "license": "MIT"}),
             json.dumps({"docstring": "no code here"})]
    path.write_text("\n".join(lines) + "\n")
    counts: Counter = Counter()
    seeds = ingest([path], SeedsConfig(), counts)
    assert [(s.name, s.language, s.path, s.repo, s.docstring) for s in seeds] == [
        ("f", "python", "a/f.py", "o/r", "One."), (None, "javascript", "g.js", None, None)]
    assert seeds[1].license == "MIT"
    assert counts["bad_json_line"] == 1 and counts["record_without_code"] == 1


def test_parquet_exported_by_datasets(tmp_path: Path) -> None:
    table = pa.table({"code": ["def a():\n    return 1\n", "def b():\n    return 2\n"], "language": ["python"] * 2})
    pq.write_table(table, tmp_path / "train.parquet")
    seeds = ingest([tmp_path / "train.parquet"], SeedsConfig(), Counter())
    assert [s.code for s in seeds] == table.column("code").to_pylist()
    assert all(isinstance(s, Seed) for s in seeds)
