"""Settings precedence (CLI > CODEMILL_LLM_* environment > config file > defaults), the environment scheme
(one prefix per group, retired names are errors), unknown config keys, and the shared model flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tools.errors import ConfigError
from tools.llm.cli import add_llm_arguments, base_seed, llm_settings_from_args
from tools.llm.settings import DEFAULT_MODEL, LLMSettings
from tools.settings import CodemillSettings, load_settings


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_llm_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "codemill.toml"
    path.write_text('[llm]\nmodel = "from-file"\ntemperature = 0.1\nmax_tokens = 100\nseed = 3\n'
                    'base_urls = ["http://127.0.0.1:1/v1"]\n\n[synth]\nn_tests = 9\n')
    return path


def test_defaults() -> None:
    settings = llm_settings_from_args(parse([]))
    assert settings.model == DEFAULT_MODEL and settings.base_urls == [] and settings.cache_enabled


def test_cli_beats_environment_beats_config_file_beats_defaults(config: Path, monkeypatch) -> None:
    monkeypatch.setenv("CODEMILL_MODEL", "from-env")
    monkeypatch.setenv("CODEMILL_LLM_TEMPERATURE", "0.2")
    settings = llm_settings_from_args(parse(["--config", str(config), "--temperature", "0.3"]))
    assert settings.temperature == 0.3  # CLI
    assert settings.model == "from-env"  # environment over file
    assert (settings.max_tokens, settings.seed) == (100, 3)  # file over defaults
    assert settings.top_p == LLMSettings.model_fields["top_p"].default  # default
    assert settings.base_urls == ["http://127.0.0.1:1/v1"]


def test_repeated_base_url_flags_and_the_comma_separated_environment(monkeypatch) -> None:
    urls = ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1/"]
    settings = llm_settings_from_args(parse(["--base-url", urls[0], "--base-url", urls[1], "--model", "m"]))
    assert settings.base_urls == ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]
    monkeypatch.setenv("CODEMILL_BASE_URL", ",".join(urls))
    monkeypatch.setenv("CODEMILL_API_KEY", "sk-test")
    settings = llm_settings_from_args(parse([]))
    assert settings.base_urls == ["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]
    assert settings.api_key.get_secret_value() == "sk-test" and "sk-test" not in repr(settings)


def test_no_cache_flag() -> None:
    assert llm_settings_from_args(parse(["--no-cache"])).cache_enabled is False


def test_bad_values_are_one_line_config_errors(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="base URL must start with http"):
        llm_settings_from_args(parse(["--base-url", "localhost:8000"]))
    monkeypatch.setenv("CODEMILL_LLM_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match="concurrency"):
        llm_settings_from_args(parse([]))
    with pytest.raises(ConfigError, match="config file not found"):
        llm_settings_from_args(parse(["--config", str(tmp_path / "missing.toml")]))
    broken = tmp_path / "broken.toml"
    broken.write_text("[llm\nmodel = ")
    with pytest.raises(ConfigError, match="cannot read config file"):
        llm_settings_from_args(parse(["--config", str(broken)]))


def test_other_settings_groups_read_their_own_table(config: Path) -> None:
    from typing import ClassVar

    from tools.settings import CodemillSettings

    class SynthSettings(CodemillSettings):  # keys of the real [synth] only: groups defined here are checked too
        config_section: ClassVar[str] = "synth"
        n_tests: int = 1
        temperature: float = 0.5

    loaded = load_settings(SynthSettings, config_file=config)
    assert (loaded.n_tests, loaded.temperature) == (9, 0.5)  # not [llm]'s temperature
    assert load_settings(SynthSettings, config_file=config, n_tests=4).n_tests == 4
    assert load_settings(SynthSettings).n_tests == 1  # the file applies only where it was passed


@pytest.mark.parametrize(("old", "replacement"), [
    ("CODEMILL_TIMEOUT_S", "CODEMILL_LLM_TIMEOUT_S"), ("CODEMILL_TEMPERATURE", "CODEMILL_LLM_TEMPERATURE"),
    ("CODEMILL_SEED", "CODEMILL_LLM_SEED"),
])
def test_an_ambiguous_old_variable_is_an_error_naming_its_replacements(monkeypatch, old: str, replacement: str) -> None:
    monkeypatch.setenv(old, "3")
    with pytest.raises(ConfigError) as caught:
        llm_settings_from_args(parse([]))
    message = str(caught.value)
    assert old in message and replacement in message and "CODEMILL_SYNTH_" in message
    with pytest.raises(ConfigError, match=old):  # every group refuses it, not only the LLM's
        load_settings(type("Group", (CodemillSettings,), {"__annotations__": {"seed": int}, "seed": 0}))


def test_the_group_prefix_wins_over_the_short_names_and_generic_names_never_leak_in(monkeypatch) -> None:
    monkeypatch.setenv("CODEMILL_MODEL", "short")
    monkeypatch.setenv("CODEMILL_LLM_MODEL", "prefixed")
    assert LLMSettings().model == "prefixed"
    monkeypatch.setenv("MODEL", "a generic name")  # unprefixed names never leak in
    monkeypatch.setenv("BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.delenv("CODEMILL_MODEL")
    monkeypatch.delenv("CODEMILL_LLM_MODEL")
    assert (LLMSettings().model, LLMSettings().base_urls) == (DEFAULT_MODEL, [])


@pytest.mark.parametrize(("table", "message"), [
    ('[llm]\nbase_url = "http://127.0.0.1:1/v1"\n', "unknown key 'base_url' in \\[llm\\]; did you mean 'base_urls'"),
    ("[llm]\ntemprature = 0.1\n", "unknown key 'temprature' in \\[llm\\]; did you mean 'temperature'"),
    ("[llm]\nstructured_reasks = 2\n", "structured_reasks is no longer read: .*max_reasks"),
])
def test_an_unknown_config_key_is_an_error_naming_the_nearest(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "codemill.toml"
    path.write_text(table)
    with pytest.raises(ConfigError, match=message):
        llm_settings_from_args(parse(["--config", str(path)]))


def test_seed_none_switches_seeds_off_from_the_flag_the_file_and_the_environment(tmp_path: Path, monkeypatch) -> None:
    assert llm_settings_from_args(parse([])).seed == 0
    assert llm_settings_from_args(parse(["--seed", "7"])).seed == 7
    settings = llm_settings_from_args(parse(["--seed", "none"]))
    assert settings.seed is None and "seed" not in settings.sampling()
    path = tmp_path / "codemill.toml"
    path.write_text('[llm]\nseed = "none"\n')
    assert llm_settings_from_args(parse(["--config", str(path)])).seed is None
    monkeypatch.setenv("CODEMILL_LLM_SEED", "none")
    assert LLMSettings().seed is None
    with pytest.raises(SystemExit):
        parse(["--seed", "random"])
    assert base_seed(parse(["--seed", "none"])) is None and base_seed(parse(["--seed", "4"])) == 4
