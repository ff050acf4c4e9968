"""The generic top-level package names must resolve to this repository, not to something installed."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["agents", "graphs", "tools", "prompts"])
def test_top_level_packages_come_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == ROOT / name


def test_design_card_top_level_exists() -> None:
    for entry in ["pyproject.toml", "README.md", "agents", "graphs", "tools", "prompts", "tests", "run.py"]:
        assert (ROOT / entry).exists(), entry
