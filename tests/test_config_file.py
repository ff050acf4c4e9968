"""Mistakes in the config file and the environment are errors naming the fix, never silently ignored: an unknown
table, a key outside its table, a mistyped key in a table the command does not use (`[ray]` without `--ray`),
and an environment variable under an old unprefixed name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from graphs.app.ray_synth import RaySettings
from graphs.app.sandbox_settings import SandboxSettings
from graphs.context import SynthSettings
from graphs.roster import AgentChoice
from run import main
from tools.errors import ConfigError
from tools.llm.settings import LLMSettings
from tools.settings import CONFIG_TABLES, CodemillSettings, load_settings, settings_groups

GROUPS: list[type[CodemillSettings]] = [LLMSettings, SynthSettings, SandboxSettings, AgentChoice, RaySettings]


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "codemill.toml"
    path.write_text(text)
    return path


def run_synth(tmp_path: Path, *flags: str) -> int:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "s", "code": "def f():\\n    return 1\\n"}\n')
    return main(["synth", str(seeds), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1", *flags])


def test_every_config_table_has_its_settings_group() -> None:
    groups = settings_groups()
    assert {group.config_section for group in GROUPS} == set(CONFIG_TABLES)
    assert all(group in groups[group.config_section] for group in GROUPS)


def test_a_group_with_an_unlisted_table_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match=r"'llmx' is not one of tools\.settings\.CONFIG_TABLES"):
        type("Stray", (CodemillSettings,), {"__annotations__": {"config_section": ClassVar[str]},
                                             "config_section": "llmx"})


@pytest.mark.parametrize(("text", "message"), [
    ('[llmm]\nmodel = "x"\n', r"unknown table \[llmm\]; did you mean \[llm\]\?"),
    ('model = "x"\n\n[llm]\ntemperature = 0.1\n', r"unknown top-level key 'model'; did you mean \[llm\] model\?"),
    ("n_tests = 3\n", r"unknown top-level key 'n_tests'; did you mean \[synth\] n_tests\?"),
    ("temprature = 0.2\n", r"did you mean \[llm\] temperature or \[synth\] temperature\?"),
    ("[sandbx]\nworkers = 2\n", r"unknown table \[sandbx\]; did you mean \[sandbox\]\?"),
    ("[task_mix]\ngeneration = 1.0\n", r"unknown table \[task_mix\]; did you mean \[synth\] task_mix\?"),
    ("[xyzzy]\nq = 1\n", r"unknown table \[xyzzy\]; the tables are \[llm\], \[synth\], \[sandbox\], \[agents\], "
                         r"\[ray\]"),
    ("llm = 3\n", r"\[llm\] must be a table"),
    # a key typo in any table, whichever group (command) loads the file
    ('[ray]\nnode_dri = "/tmp/x"\n', r"unknown key 'node_dri' in \[ray\]; did you mean 'node_dir'\?"),
    ("[synth]\nn_candidate = 8\n", r"unknown key 'n_candidate' in \[synth\]; did you mean 'n_candidates'\?"),
    ("[agents]\ndiscriminatr = 'x'\n", r"unknown key 'discriminatr' in \[agents\]; did you mean 'discriminator'\?"),
    ("[llm]\nstructured_reasks = 2\n", r"structured_reasks is no longer read: .*max_reasks"),
])
@pytest.mark.parametrize("group", GROUPS, ids=lambda group: group.config_section)
def test_an_unknown_table_or_key_is_an_error_naming_the_nearest(tmp_path: Path, text: str, message: str,
                                                                group: type[CodemillSettings]) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(group, config_file=config(tmp_path, text))


def test_a_valid_file_with_every_table_loads_every_group(tmp_path: Path) -> None:
    path = config(tmp_path, '[llm]\nmodel = "m"\n[llm.langchain]\nbase_url = "http://x/v1"\n[synth]\nn_tests = 2\n'
                            '[sandbox]\nworkers = 1\n[agents]\nreviewers = []\n[ray]\nstart_timeout_s = 5.0\n')
    loaded: list[Any] = [load_settings(group, config_file=path) for group in GROUPS]
    assert (loaded[0].model, loaded[1].n_tests, loaded[2].workers, loaded[4].start_timeout_s) == ("m", 2, 1, 5.0)


def test_a_ray_typo_stops_synth_without_ray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config(tmp_path, '[ray]\nnode_dri = "/tmp/x"\n')
    assert run_synth(tmp_path, "--config", str(path)) == 1
    assert capsys.readouterr().err.strip() == (f"error: config file {path}: unknown key 'node_dri' in [ray]; "
                                               "did you mean 'node_dir'?")
    assert not (tmp_path / "out").exists()


# -- the environment ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("old", "group", "replacement"), [
    ("CODEMILL_CONCURRENCY", LLMSettings, "CODEMILL_LLM_CONCURRENCY"),
    ("CODEMILL_MAX_TOKENS", LLMSettings, "CODEMILL_LLM_MAX_TOKENS"),
    ("codemill_concurrency", LLMSettings, "CODEMILL_LLM_CONCURRENCY"),
    ("CODEMILL_N_CANDIDATES", SynthSettings, "CODEMILL_SYNTH_N_CANDIDATES"),
    ("CODEMILL_N_TESTS", SynthSettings, "CODEMILL_SYNTH_N_TESTS"),
    ("CODEMILL_WORKERS", SandboxSettings, "CODEMILL_SANDBOX_WORKERS"),
    ("CODEMILL_NODE_DIR", RaySettings, "CODEMILL_RAY_NODE_DIR"),
    ("CODEMILL_DISCRIMINATOR", AgentChoice, "CODEMILL_AGENTS_DISCRIMINATOR"),
])
def test_an_old_unprefixed_variable_is_an_error_naming_its_replacement(monkeypatch: pytest.MonkeyPatch, old: str,
                                                                       group: type[CodemillSettings],
                                                                       replacement: str) -> None:
    monkeypatch.setenv(old, "2")
    with pytest.raises(ConfigError, match=rf"^the environment variable {old} is no longer read: use {replacement}$"):
        load_settings(group)


def test_an_old_variable_stops_synth_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CODEMILL_N_CANDIDATES", "2")
    assert run_synth(tmp_path) == 1
    assert capsys.readouterr().err.strip() == ("error: the environment variable CODEMILL_N_CANDIDATES is no longer "
                                               "read: use CODEMILL_SYNTH_N_CANDIDATES")


def test_the_short_names_are_still_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CODEMILL_LLM_VLLM_PYTHON", "CODEMILL_LLM_MODEL_CACHE_DIR"):  # set by conftest; they would win
        monkeypatch.delenv(name)
    short = {"CODEMILL_BASE_URL": "http://127.0.0.1:1/v1", "CODEMILL_MODEL": "m", "CODEMILL_API_KEY": "k",
             "CODEMILL_MODEL_CACHE_DIR": str(tmp_path / "models"), "CODEMILL_VLLM_PYTHON": str(tmp_path / "python")}
    for name, value in short.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(LLMSettings)
    assert (settings.base_urls, settings.model, settings.api_key.get_secret_value()) == ([short["CODEMILL_BASE_URL"]],
                                                                                         "m", "k")
    assert (settings.model_cache_dir, settings.vllm_python) == (tmp_path / "models", tmp_path / "python")
    for group in GROUPS[1:]:
        load_settings(group)  # another group's short names are not its old names


@pytest.mark.parametrize("command", [["serve", "--model", "tiny"], ["chat"]], ids=["serve", "chat"])
def test_a_ray_typo_stops_serve_and_chat_too(tmp_path: Path, command: list[str]) -> None:
    """In a fresh process (this module has imported every group already), so the command must define them."""
    import subprocess
    import sys

    config = tmp_path / "codemill.toml"
    config.write_text('[ray]\nstart_timeout = 5\n')
    done = subprocess.run([sys.executable, "run.py", command[0], "--config", str(config), *command[1:]],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "unknown key 'start_timeout' in [ray]" in done.stderr
    assert "start_timeout_s" in done.stderr and "Traceback" not in done.stderr
