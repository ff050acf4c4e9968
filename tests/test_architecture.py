"""The house: run.py imports only the app layer, and the import-linter contracts in pyproject.toml hold and
catch a library that imports upward, an agent that imports another, and an import cycle."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_run_py_imports_only_the_app_layer() -> None:
    tree = ast.parse((ROOT / "run.py").read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    ours = [name for name in imported if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}]
    assert ours and all(name.startswith("graphs.app.") for name in ours), ours
    from graphs.app.commands import COMMANDS  # the modules run.py imports lazily, by name

    assert all(module.startswith("graphs.app.commands.") for module, _ in COMMANDS.values())


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}  # the copy's packages, not the installed ones
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("tools/rows.py", "from graphs.app import commands", "Layers: graphs (with the app) above agents"),
    ("tools/rows.py", "from agents import base", "Layers: graphs (with the app) above agents"),
    ("agents/generator.py", "from agents.discriminator import RUBRICS", "Agents never import each other"),
    ("agents/executor.py", "from graphs.batch import FUNNEL", "Layers: graphs (with the app) above agents"),
    ("graphs/batch.py", "from graphs.app import manifest", "Inside graphs: the app on top"),
    ("graphs/state.py", "from graphs import records", "Inside graphs: the app on top"),
    ("graphs/context.py", "from agents import base", "The state contract imports no agent"),
    ("tools/seeds/models.py", "from tools.seeds import pipeline", "No import cycles"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    for name in ("agents", "graphs", "tools"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{line}\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    verdicts = [text for text in result.stdout.splitlines() if text.startswith(broken)]
    assert verdicts and " BROKEN" in verdicts[0], result.stdout  # the summary line comes first
