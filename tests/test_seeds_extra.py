"""The `seeds` extra (pyproject.toml): without it the seeds stage still reads, filters and dedups Python and
JavaScript sources, and a part that needs it (MiniLM selection, other grammars, parquet) stops with one line naming
the extra — never a traceback, never a silently different set of seeds. Missing packages are simulated by an import
hook that refuses every module of the extra, the way a venv without them would."""

from __future__ import annotations

import importlib.abc
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from tools.errors import ConfigError
from tools.seeds import SeedsConfig, prepare_seeds
from tools.seeds.extra import INSTALL
from tools.seeds.ingest import read_records
from tools.seeds.split import split_source, ts_parser

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# the extra's distributions, by their import names


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0] for requirement in requirements}


EXTRA_MODULES = sorted(name.replace("-", "_") for name in names(PYPROJECT["project"]["optional-dependencies"]["seeds"]))
BLOCKER = f"""
import importlib.abc, sys
BLOCKED = {set(EXTRA_MODULES)!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in EXTRA_MODULES:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.fixture
def without_extra(monkeypatch: pytest.MonkeyPatch):
    for name in [name for name in sys.modules if name.split(".")[0] in EXTRA_MODULES]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [Blocker(), *sys.meta_path])
    ts_parser.cache_clear()
    yield
    ts_parser.cache_clear()


def test_the_extra_holds_the_heavy_packages_and_dev_includes_it() -> None:
    assert {"torch", "sentence_transformers", "pyarrow", "tree_sitter_java"} <= set(EXTRA_MODULES)
    core = names(PYPROJECT["project"]["dependencies"])
    assert not core & {"torch", "sentence-transformers", "pyarrow", "scikit-learn", "tree-sitter-java",
                       "tree-sitter-language-pack", "langchain"}
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    assert "codemill[seeds]" in dev and "scikit-learn" in names(dev)  # the README's `.[dev]` gets every stage


def run_without_extra(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = BLOCKER + f"import run; sys.exit(run.main({list(argv)!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_seeds_from_python_and_javascript_need_no_extra(tmp_path: Path) -> None:
    out = tmp_path / "seeds.jsonl"
    done = run_without_extra("seeds", str(ROOT / "examples" / "seeds"), "--out", str(out), "--no-decontaminate",
                             cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    languages = Counter(line.split('"language":"')[1].split('"')[0] for line in out.read_text().splitlines())
    assert languages["python"] > 0 and languages["javascript"] > 0


def test_selection_without_the_extra_is_one_line_naming_it(tmp_path: Path) -> None:
    done = run_without_extra("seeds", str(ROOT / "examples" / "seeds"), "--out", str(tmp_path / "s.jsonl"),
                             "--no-decontaminate", "--select", "2", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: selecting diverse seeds") and lines[-1].endswith(INSTALL)
    assert "Traceback" not in done.stderr and not (tmp_path / "s.jsonl").exists()


@pytest.mark.usefixtures("without_extra")
def test_other_grammars_and_parquet_without_the_extra_are_one_line(tmp_path: Path) -> None:
    javascript = split_source("function inc(x) {\n  return x + 1;\n}\n", "javascript")
    assert [seed.name for seed in javascript] == ["inc"]  # JavaScript's grammar is a core dependency
    with pytest.raises(ConfigError, match=r"splitting java sources needs the seeds extra, and tree_sitter_java"):
        split_source("class A { int f() { return 1; } }\n", "java")
    table = tmp_path / "seeds.parquet"
    table.write_bytes(b"PAR1")
    with pytest.raises(ConfigError) as caught:
        read_records(table, SeedsConfig(), Counter())
    assert str(caught.value) == f"reading parquet files needs the seeds extra, and pyarrow is not installed: {INSTALL}"
    source = tmp_path / "a.ts"
    source.write_text("export function inc(x: number): number {\n  return x + 1;\n}\n")
    with pytest.raises(ConfigError, match="typescript"):
        prepare_seeds([source], SeedsConfig(decontaminate=False))


def test_with_the_extra_the_same_inputs_work(tmp_path: Path) -> None:
    ts_parser.cache_clear()
    assert [seed.name for seed in split_source("class A { int f() { return 1; } }\n", "java")] == ["A"]
