"""The synth, sandbox and agents settings groups: one environment prefix each, retired ambiguous names and
unknown config keys are errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs.app.sandbox_settings import SandboxSettings
from graphs.context import SynthSettings
from graphs.roster import AgentChoice
from run import main
from tools.errors import ConfigError
from tools.settings import load_settings


def test_each_group_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEMILL_SYNTH_N_TESTS", "7")
    monkeypatch.setenv("CODEMILL_SYNTH_TIMEOUT_S", "2.5")
    monkeypatch.setenv("CODEMILL_SANDBOX_WORKERS", "3")
    monkeypatch.setenv("CODEMILL_AGENTS_DISCRIMINATOR", "static_discriminator")
    monkeypatch.setenv("CODEMILL_LLM_TIMEOUT_S", "99")  # another group's: not the sandbox's seconds per check
    synth = load_settings(SynthSettings)
    assert (synth.n_tests, synth.timeout_s) == (7, 2.5)
    assert load_settings(SandboxSettings).workers == 3
    assert load_settings(AgentChoice).discriminator == "static_discriminator"


@pytest.mark.parametrize("name", ["CODEMILL_TIMEOUT_S", "CODEMILL_TEMPERATURE", "CODEMILL_SEED"])
def test_an_old_ambiguous_name_is_an_error_naming_its_replacement(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "1")
    with pytest.raises(ConfigError, match=rf"{name} is no longer read.*CODEMILL_SYNTH_"):
        load_settings(SynthSettings)


def test_an_unknown_config_key_names_the_nearest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "codemill.toml"
    config.write_text("[synth]\nn_candidate = 8\n")
    with pytest.raises(ConfigError, match=r"unknown key 'n_candidate' in \[synth\]; did you mean 'n_candidates'"):
        load_settings(SynthSettings, config_file=config)
    config.write_text("[sandbox]\nworker = 2\n")
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "s", "code": "def f():\\n    return 1\\n"}\n')
    code = main(["synth", str(seeds), "--out", str(tmp_path / "out"), "--config", str(config),
                 "--base-url", "http://127.0.0.1:9/v1"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == (f"error: config file {config}: unknown key 'worker' in [sandbox]; "
                                 "did you mean 'workers'?")
    assert not (tmp_path / "out").exists()
