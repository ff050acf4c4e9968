"""Layered settings shared by every command: CLI flags > environment (`CODEMILL_*`) > config file > defaults.

Each settings class reads one table of a TOML config file (`[llm]`, later `[synth]`, `[graph]`, ...), so one
file configures a whole run. Command-line values enter as constructor keyword arguments (pydantic-settings'
highest-priority source); the config file is chosen per call with `load_settings`, not by a global.

Adding a settings group::

    class SynthSettings(CodemillSettings):
        config_section: ClassVar[str] = "synth"
        rounds: int = 3

    settings = load_settings(SynthSettings, config_file=args.config, rounds=args.rounds)
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tools.errors import ConfigError

SettingsT = TypeVar("SettingsT", bound="CodemillSettings")

# The config file of the settings object being built right now (set only inside `load_settings`).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("codemill_config_file", default=None)


def read_config_table(path: Path, section: str) -> dict[str, Any]:
    """One table of a TOML config file; a missing or unreadable file is a ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [{section}] must be a table")
    return table


class TomlSectionSource(PydanticBaseSettingsSource):
    """Values from the `[config_section]` table of the config file passed to `load_settings`."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        section = getattr(settings_cls, "config_section", "")
        self._values = read_config_table(path, section) if path and section else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self._values.items() if name in self.settings_cls.model_fields}


class CodemillSettings(BaseSettings):
    """Base of codemill's settings groups: `CODEMILL_` environment prefix plus a config-file table."""

    config_section: ClassVar[str] = ""
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
        return init_settings, env_settings, TomlSectionSource(settings_cls, _CONFIG_FILE.get())


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
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise ConfigError(f"invalid {cls.config_section or cls.__name__} settings: {problems}") from error


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` (once per parser, whichever settings group adds it first)."""
    if not any("--config" in action.option_strings for action in parser._actions):
        parser.add_argument("--config", type=Path, metavar="FILE",
                            help="TOML config file ([llm], ... tables); CLI flags and CODEMILL_* override it")
