"""Plug-in agents for real: the example distribution `examples/plugins/codemill-complexity` is pip-installed
into a temporary directory, listed by `run.py agents` with its distribution, and run by `run.py synth`
against the scripted OpenAI-protocol server in the discriminator slot and as a reviewer. Broken plug-ins
(temporary distributions written here) fail before anything runs, each error naming agent and distribution.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from run import main
from tests.coder_model import SLOW, SOLUTION, CoderModel
from tests.fakes import ScriptedOpenAIServer
from tests.test_synth_e2e import rows, synth_args, write_seeds

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plugins" / "codemill-complexity"
DIST = "codemill-complexity 0.1.0"


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plug-in, built and installed with pip into a fresh directory (the source tree is copied
    first so that the build leaves nothing behind in the repository)."""
    source = tmp_path_factory.mktemp("source") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=120)
    return target


def run_cli(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (pythonpath, ROOT) if p)}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_agents_lists_the_installed_plugin_with_its_distribution(plugin_dir: Path) -> None:
    listed = run_cli("agents", "--json", pythonpath=plugin_dir)
    assert listed.returncode == 0, listed.stderr
    agents = {row["name"]: row for row in json.loads(listed.stdout)["agents"]}
    assert agents["complexity"] | {"reads": None} == {
        "name": "complexity", "slot": "reviewer", "reads": None, "writes": ["reviews"], "distribution": DIST,
        "entry_point": "codemill_complexity:ComplexityReviewer", "default": False}
    assert agents["complexity"]["reads"] == ["candidates", "instance", "verification"]
    assert (agents["static_discriminator"]["slot"], agents["static_discriminator"]["distribution"]) == (
        "discriminator", DIST)
    assert agents["discriminator"]["default"] and agents["discriminator"]["distribution"].startswith("codemill ")

    table = run_cli("agents", pythonpath=plugin_dir)
    assert table.returncode == 0 and table.stderr == ""
    assert "static_discriminator" in table.stdout and DIST in table.stdout
    assert "codemill_complexity:ComplexityReviewer" in table.stdout

    reviewers = json.loads(run_cli("agents", "--json", "--slot", "reviewer", pythonpath=plugin_dir).stdout)
    assert [row["name"] for row in reviewers["agents"]] == ["complexity"]


def test_synth_runs_the_plugin_in_a_slot_and_as_a_reviewer(plugin_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept", "reject_always"])
    config = tmp_path / "codemill.toml"
    config.write_text('[agents]\ndiscriminator = "static_discriminator"\n')
    out = tmp_path / "out"
    model = CoderModel()
    with ScriptedOpenAIServer(model) as server:
        assert main(synth_args(seeds, out, server, "--config", str(config), "--reviewer", "complexity")) == 0

    assert not any(schema == "Judgement" for _, schema in model.calls)  # the LLM judge was replaced
    sft = {row["provenance"]["seed_id"]: row for row in rows(out / "sft.jsonl")}
    # the LLM judge would reject this seed forever; the static rubric judges the code and accepts it
    assert set(sft) == {"seed-0-accept", "seed-1-reject_always"}
    for row in sft.values():
        checks = {check["name"]: check["passed"] for check in row["verdict"]["checks"]}
        assert checks == {"language_stated": True, "parses": True, "entry_point": True, "imports": True,
                          "documented_helpers": True}
        assert row["verdict"]["analysis"] == "5 static checks by static_discriminator"

    matrices = {row["task_id"]: row for row in rows(out / "matrix.jsonl")}
    assert len(matrices) == 2
    for matrix in matrices.values():
        [review] = matrix["reviews"]
        top = matrix["verification"]["top_candidate"]
        expected = {SOLUTION: 1.0, SLOW: 2.0}[matrix["candidates"][top]]  # SLOW has one loop
        assert (review["reviewer"], review["score"], review["passed"]) == ("complexity", expected, True)
        assert review["data"]["target"] == f"candidate {top}" and review["data"]["max_nesting"] <= 1
        seed_id = matrix["task_id"].split(":")[0]
        assert sft[seed_id]["reviews"] == matrix["reviews"]


def test_the_static_discriminator_rejects_with_feedback(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.syspath_prepend(str(plugin_dir))
    from codemill_complexity import StaticDiscriminator

    from graphs.state import Instance, SeedInput, SynthesisState, TaskType

    code = "def helper(x):\n    return math.floor(x)\n\ndef solve(x):\n    return helper(x)\n"
    instance = Instance(task_type=TaskType.GENERATION, task_name="floor", instruction="Floor a number.",
                        output=code, entry_point="solve")
    state = SynthesisState(seed=SeedInput(id="s", code=code), task_type=TaskType.GENERATION, instance=instance)
    update = asyncio.run(StaticDiscriminator()(state, None))
    assert not update["verdict"].accepted
    assert update["feedback"] == [
        "language_stated: the instruction does not name Python",
        "imports: undefined names (missing imports?): math",
        "documented_helpers: helpers without a docstring: helper",
    ]


BROKEN = '''
from typing import Any, ClassVar


class Base:
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"reviews"})
    slot: ClassVar[str] = "reviewer"

    async def __call__(self, state: Any, ctx: Any) -> dict[str, Any]:
        return {}


class Critic(Base):
    name: ClassVar[str] = "critic"
    slot: ClassVar[str] = "critic"


class Complexity(Base):
    name: ClassVar[str] = "complexity"


class StatusReader(Base):
    name: ClassVar[str] = "status_reader"
    reads: ClassVar[frozenset[str]] = frozenset({"instance", "status"})


class Clobberer(Base):
    name: ClassVar[str] = "clobberer"
    writes: ClassVar[frozenset[str]] = frozenset({"verdict"})


class SyncReviewer(Base):
    name: ClassVar[str] = "sync_reviewer"

    def __call__(self, state: Any, ctx: Any) -> dict[str, Any]:
        return {}


class Crasher(Base):
    name: ClassVar[str] = "crasher"

    async def __call__(self, state: Any, ctx: Any) -> dict[str, Any]:
        return {"reviews": [1 / 0]}


class NoSample(Base):
    name: ClassVar[str] = "no_sample"
    slot: ClassVar[str] = "generator"
    writes: ClassVar[frozenset[str]] = frozenset({"instance"})
'''


def broken_distribution(root: Path, entry_points: dict[str, str]) -> Path:
    """A temporary installed distribution `codemill-broken 0.2.0` (module + dist-info with entry points)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "codemill_broken.py").write_text(BROKEN)
    dist_info = root / "codemill_broken-0.2.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: codemill-broken\nVersion: 0.2.0\n")
    lines = "".join(f"{name} = codemill_broken:{cls}\n" for name, cls in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[codemill.agents]\n{lines}")
    return root


def synth_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    code = main(["synth", str(seeds), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1",
                 "--model", "m", *flags])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out" / "ledger.jsonl").exists()  # nothing ran
    return err


@pytest.mark.parametrize(("entry_points", "flags", "message"), [
    ({"critic": "Critic"}, [],
     "agent 'critic' (codemill_broken:Critic from codemill-broken 0.2.0) declares unknown slot 'critic'"),
    ({"no_sample": "NoSample"}, ["--agent", "generator=no_sample"],
     "agent 'no_sample' (codemill_broken:NoSample from codemill-broken 0.2.0) fills the generator slot "
     "but has no `sample` method"),
    ({"status_reader": "StatusReader"}, ["--reviewer", "status_reader"],
     "agent 'status_reader' (codemill-broken 0.2.0) in slot 'reviewer' reads status, which no agent writes"),
    ({"sync_reviewer": "SyncReviewer"}, ["--reviewer", "sync_reviewer"],
     "agent 'sync_reviewer' (codemill-broken 0.2.0) in slot 'reviewer' does not follow the Agent protocol: "
     "`__call__` must be async"),
    ({"clobberer": "Clobberer"}, ["--reviewer", "clobberer"],
     "agent 'clobberer' (codemill-broken 0.2.0) is a reviewer but writes verdict"),
])
def test_a_broken_plugin_is_one_clear_error_naming_agent_and_distribution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        entry_points: dict[str, str], flags: list[str], message: str) -> None:
    monkeypatch.syspath_prepend(str(broken_distribution(tmp_path / "site", entry_points)))
    assert message in synth_error(tmp_path, capsys, *flags)


def test_duplicate_names_name_both_distributions(plugin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    err = synth_error(tmp_path, capsys, "--reviewer", "complexity", "--reviewer", "complexity")
    assert f"duplicate agent name 'complexity': agent 'complexity' ({DIST})" in err

    monkeypatch.syspath_prepend(str(broken_distribution(tmp_path / "site", {"complexity": "Complexity"})))
    err = synth_error(tmp_path / "again", capsys, "--reviewer", "complexity")
    assert "two agents are named 'complexity'" in err
    assert f"codemill_complexity:ComplexityReviewer from {DIST}" in err
    assert "codemill_broken:Complexity from codemill-broken 0.2.0" in err


def test_agents_reports_a_broken_plugin_in_one_line_and_lists_the_rest(plugin_dir: Path, tmp_path: Path) -> None:
    site = broken_distribution(tmp_path / "site", {"critic": "Critic", "ghost": "Ghost", "sync": "SyncReviewer",
                                                   "sync_reviewer": "SyncReviewer"})
    listed = run_cli("agents", "--json", pythonpath=Path(f"{site}{os.pathsep}{plugin_dir}"))
    assert listed.returncode == 1
    names = [row["name"] for row in json.loads(listed.stdout)["agents"]]
    assert {"generator", "executor", "complexity", "static_discriminator"} <= set(names)
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 4, listed.stderr
    assert lines[0].startswith("broken plug-in: agent 'critic' (codemill_broken:Critic from codemill-broken 0.2.0)")
    assert lines[1].startswith("broken plug-in: agent 'ghost' (codemill_broken:Ghost from codemill-broken 0.2.0) "
                               "cannot be loaded: AttributeError")
    assert lines[2].startswith("broken plug-in: agent 'sync' (codemill_broken:SyncReviewer from codemill-broken "
                               "0.2.0) declares name 'sync_reviewer'; the entry point must use the same name")
    # loads, but `synth` would refuse it: the listing says so before a run does
    assert lines[3] == ("broken plug-in: agent 'sync_reviewer' (codemill-broken 0.2.0) in slot 'reviewer' does not "
                        "follow the Agent protocol: `__call__` must be async")
    assert "sync_reviewer" not in names


def test_a_crashing_reviewer_costs_its_review_not_the_run(plugin_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.syspath_prepend(str(broken_distribution(tmp_path / "site", {"crasher": "Crasher"})))
    seeds = write_seeds(tmp_path / "seeds.jsonl", ["accept"])
    out = tmp_path / "out"
    with ScriptedOpenAIServer(CoderModel()) as server:
        assert main(synth_args(seeds, out, server, "--reviewer", "crasher", "--reviewer", "complexity")) == 0
    [ledger] = rows(out / "ledger.jsonl")
    assert ledger["status"] == "accepted"
    [failure] = ledger["failures"]
    assert (failure["stage"], failure["agent"], failure["error_type"]) == ("review_crasher", "crasher",
                                                                           "ZeroDivisionError")
    assert failure["message"] == "codemill-broken 0.2.0 raised ZeroDivisionError: division by zero"
    [sft] = rows(out / "sft.jsonl")
    assert [review["reviewer"] for review in sft["reviews"]] == ["complexity"]  # the other reviewer's stays
