"""Layered settings shared by every command: CLI flags > environment > config file > defaults.

Each settings group has one environment prefix (`CODEMILL_LLM_*`, `CODEMILL_SYNTH_*`, ...) and reads one table
of a TOML config file (`[llm]`, `[synth]`, ...), so one file configures a whole run. Command-line values enter
as constructor keyword arguments (pydantic-settings' highest-priority source); the config file is chosen per
call with `load_settings`, not by a global. Mistakes are errors, never silently ignored: an unknown key in a
group's table names the nearest valid key, and a retired environment variable names its replacement.

Adding a settings group::

    class SynthSettings(CodemillSettings):
        config_section: ClassVar[str] = "synth"
        model_config = SettingsConfigDict(env_prefix="CODEMILL_SYNTH_")
        rounds: int = 3

    settings = load_settings(SynthSettings, config_file=args.config, rounds=args.rounds)
"""

from __future__ import annotations

import argparse
import difflib
import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tools.errors import ConfigError, validation_problems

SettingsT = TypeVar("SettingsT", bound="CodemillSettings")

# The config file of the settings object being built right now (set only inside `load_settings`).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("codemill_config_file", default=None)

# Environment variables from before the one-prefix-per-group scheme that meant different things to different
# groups: setting one is an error naming its replacements (checked by every group).
RETIRED_ENV: dict[str, str] = {
    "CODEMILL_TEMPERATURE": "CODEMILL_LLM_TEMPERATURE (default sampling temperature of model requests) or "
                            "CODEMILL_SYNTH_TEMPERATURE (the generator's temperature)",
    "CODEMILL_TIMEOUT_S": "CODEMILL_LLM_TIMEOUT_S (seconds per model request) or CODEMILL_SYNTH_TIMEOUT_S "
                          "(sandbox seconds per check)",
    "CODEMILL_SEED": "CODEMILL_LLM_SEED (the requests' sampling seed; `none` sends none) or CODEMILL_SYNTH_SEED "
                     "(the seed of the task mix and of the derived per-request seeds)",
}


def read_config_table(path: Path, section: str) -> dict[str, Any]:
    """One table of a TOML config file; a missing or unreadable file is a ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [{section}] must be a table")
    return table


def nearest(word: str, choices: list[str]) -> str | None:
    """The valid name a mistyped `word` most likely meant, if any is close."""
    found = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return found[0] if found else None


class TomlSectionSource(PydanticBaseSettingsSource):
    """Values from the `[config_section]` table of the config file passed to `load_settings`; a key the
    group does not have is a ConfigError naming the nearest one."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        section = getattr(settings_cls, "config_section", "")
        self._values = read_config_table(path, section) if path and section else {}
        fields = sorted(settings_cls.model_fields)
        removed: dict[str, str] = getattr(settings_cls, "removed_keys", {})
        for key in self._values:
            if key in removed:
                raise ConfigError(f"config file {path}: [{section}] {key} is no longer read: {removed[key]}")
            if key not in settings_cls.model_fields:
                guess = nearest(key, fields)
                hint = f"; did you mean {guess!r}?" if guess else f"; valid keys: {', '.join(fields)}"
                raise ConfigError(f"config file {path}: unknown key {key!r} in [{section}]{hint}")

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class EnvAliasSource(PydanticBaseSettingsSource):
    """A group's extra environment names (`env_aliases`: variable -> field, e.g. `CODEMILL_MODEL`), below its
    prefixed names; and the retired names (`RETIRED_ENV`), which are errors."""

    def __call__(self) -> dict[str, Any]:
        for name, replacement in RETIRED_ENV.items():
            if name in os.environ:
                raise ConfigError(f"the environment variable {name} is no longer read (it set several things "
                                  f"at once): use {replacement}")
        aliases: dict[str, str] = getattr(self.settings_cls, "env_aliases", {})
        values: dict[str, Any] = {}
        for name, field in aliases.items():
            if name in os.environ and field not in values:
                values[field] = os.environ[name]
        return values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


class CodemillSettings(BaseSettings):
    """Base of codemill's settings groups: an environment prefix and a config-file table per group.

    Subclasses set `config_section`, their `env_prefix` (`CODEMILL_<GROUP>_`), and optionally `env_aliases`
    (other environment names a field answers to) and `removed_keys` (config keys that once existed -> what to
    use instead)."""

    config_section: ClassVar[str] = ""
    env_aliases: ClassVar[dict[str, str]] = {}
    removed_keys: ClassVar[dict[str, str]] = {}
    model_config = SettingsConfigDict(env_prefix="CODEMILL_", extra="ignore", validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, EnvAliasSource(settings_cls),
                TomlSectionSource(settings_cls, _CONFIG_FILE.get()))


@contextmanager
def _config_file(path: Path | None) -> Iterator[None]:
    token = _CONFIG_FILE.set(path)
    try:
        yield
    finally:
        _CONFIG_FILE.reset(token)


def load_settings(cls: type[SettingsT], config_file: str | Path | None = None, **cli_values: Any) -> SettingsT:
    """Build `cls` from CLI values (None means "not given") > environment > `config_file` > defaults."""
    given = {name: value for name, value in cli_values.items() if value is not None}
    try:
        with _config_file(Path(config_file) if config_file else None):
            return cls(**given)
    except ValidationError as error:
        raise ConfigError(f"invalid {cls.config_section or cls.__name__} settings: {validation_problems(error)}") \
            from error


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` (once per parser, whichever settings group adds it first)."""
    if not any("--config" in action.option_strings for action in parser._actions):
        parser.add_argument("--config", type=Path, metavar="FILE",
                            help="TOML config file ([llm], [synth], ... tables); CLI flags and CODEMILL_* "
                                 "environment variables override it")
