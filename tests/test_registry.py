"""Agent discovery through the `codemill.agents` entry points: built-ins, plug-ins and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.registry import agents_for_slot, discover_agents, is_agent
from tools.errors import ConfigError

PLUGIN = '''
from typing import Any, ClassVar

class StyleJudge:
    name: ClassVar[str] = "style_judge"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"reviews"})

    async def __call__(self, state: Any, ctx: Any) -> dict[str, Any]:
        return {"reviews": []}

class NoSlot:
    name: ClassVar[str] = "no_slot"
    slot: ClassVar[str] = "critic"
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()

    async def __call__(self, state: Any, ctx: Any) -> dict[str, Any]:
        return {}

class Lazy:
    name: ClassVar[str] = "lazy"
    slot: ClassVar[str] = "generator"
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()

    async def __call__(self, state: Any, ctx: Any) -> dict[str, Any]:
        return {}
'''


def install_plugin(root: Path, monkeypatch: pytest.MonkeyPatch, entry_points: dict[str, str],
                   name: str = "codemill-style", module: str = "codemill_style_plugin") -> None:
    """A real (unpacked) distribution on sys.path: a module plus dist-info with an entry_points.txt."""
    (root / f"{module}.py").write_text(PLUGIN)
    dist_info = root / f"{name.replace('-', '_')}-0.3.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.0\n")
    lines = "\n".join(f"{key} = {module}:{value}" for key, value in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[codemill.agents]\n{lines}\n")
    monkeypatch.syspath_prepend(str(root))


def test_the_built_ins_come_through_the_entry_points_of_this_project() -> None:
    specs = discover_agents()
    for slot in ("generator", "discriminator", "test_writer", "executor"):
        spec = specs[slot]
        assert spec.slot == slot and spec.distribution.startswith("codemill ")
        agent = spec.create()
        assert is_agent(agent) and agent.distribution == spec.distribution
    assert specs["generator"].origin == "agents.generator:LLMGenerator from " + specs["generator"].distribution


def test_a_plugin_distribution_is_discovered_with_its_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(tmp_path, monkeypatch, {"style_judge": "StyleJudge"})
    specs = discover_agents()
    spec = specs["style_judge"]
    assert (spec.slot, spec.distribution, spec.entry_point) == (
        "reviewer", "codemill-style 0.3.0", "codemill_style_plugin:StyleJudge")
    assert [s.name for s in agents_for_slot("reviewer", specs)] == ["style_judge"]
    assert is_agent(spec.create())


@pytest.mark.parametrize(("entry_points", "message"), [
    ({"no_slot": "NoSlot"}, r"agent 'no_slot' \(codemill_style_plugin:NoSlot from codemill-style 0.3.0\) "
                            r"declares unknown slot 'critic'"),
    ({"lazy": "Lazy"}, r"agent 'lazy' .* fills the generator slot but has no `sample` method"),
    ({"judge": "StyleJudge"}, r"declares name 'style_judge'; the entry point must use the same name"),
    ({"ghost": "Ghost"}, r"agent 'ghost' .* cannot be loaded: AttributeError"),
])
def test_broken_plugins_are_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               entry_points: dict[str, str], message: str) -> None:
    install_plugin(tmp_path, monkeypatch, entry_points)
    with pytest.raises(ConfigError, match=message):
        discover_agents()


def test_two_agents_with_one_name_are_an_error_naming_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    install_plugin(first, monkeypatch, {"style_judge": "StyleJudge"})
    install_plugin(second, monkeypatch, {"style_judge": "StyleJudge"}, name="other-style", module="other_style")
    with pytest.raises(ConfigError, match="two agents are named 'style_judge'") as caught:
        discover_agents()
    assert "codemill-style 0.3.0" in str(caught.value) and "other-style 0.3.0" in str(caught.value)


def test_an_unknown_slot_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown slot 'judge'"):
        agents_for_slot("judge")
