"""Layered settings shared by every command: CLI flags > environment > config file > defaults.

Each settings group has one environment prefix (`CODEMILL_LLM_*`, `CODEMILL_SYNTH_*`, ...) and reads one table
of a TOML config file (`[llm]`, `[synth]`, ...), so one file configures a whole run. Command-line values enter
as constructor keyword arguments (pydantic-settings' highest-priority source); the config file is chosen per
call with `load_settings`, not by a global. Mistakes are errors, never silently ignored: an unknown table or
top-level key of the config file, or an unknown key in any group's table (whichever group is being built), names
the nearest valid one; an environment variable under an old name names its replacement.

Adding a settings group (its table named in `CONFIG_TABLES`)::

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
from collections.abc import Iterator, Sequence
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

# The config file's tables, one per settings group (its `config_section`). A library cannot import the app's
# groups to list them, so the names live here: a group with another section is refused when it is defined, and
# tests/test_config_file.py checks that each name has its group.
CONFIG_TABLES: tuple[str, ...] = ("llm", "synth", "sandbox", "agents", "ray")

# The only environment names outside the `CODEMILL_<GROUP>_` prefixes that are read (the LLM group's short names).
# Any other unprefixed `CODEMILL_<FIELD>` of a group is an error naming `CODEMILL_<GROUP>_<FIELD>`.
SHORT_ENV: frozenset[str] = frozenset({"CODEMILL_BASE_URL", "CODEMILL_MODEL", "CODEMILL_API_KEY",
                                       "CODEMILL_MODEL_CACHE_DIR", "CODEMILL_VLLM_PYTHON"})

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
    """One table of a TOML config file, after checking the whole file (`check_config_file`); a missing or
    unreadable file is a ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    check_config_file(path, data)
    return data.get(section, {})


def settings_groups() -> dict[str, list[type[CodemillSettings]]]:
    """The settings groups defined so far, by config table (tests may define more than one per table)."""
    groups: dict[str, list[type[CodemillSettings]]] = {}
    pending = list(CodemillSettings.__subclasses__())
    while pending:
        group = pending.pop()
        pending.extend(group.__subclasses__())
        if group.config_section in CONFIG_TABLES:
            groups.setdefault(group.config_section, []).append(group)
    return groups


def check_config_file(path: Path, data: dict[str, Any]) -> None:
    """Every top-level key of a config file is a known table, and every key of a table is one of its group's
    (checked for each group defined by now, so `[ray]` is checked even when `--ray` is not given); else a
    ConfigError naming the key and the nearest valid one."""
    groups = settings_groups()
    for key, value in data.items():
        if key in CONFIG_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: [{key}] must be a table")
            if key in groups:
                check_table_keys(path, key, value, groups[key])
            continue
        where = f"table [{key}]" if isinstance(value, dict) else f"top-level key {key!r}"
        raise ConfigError(f"config file {path}: unknown {where}; {_top_level_hint(key, isinstance(value, dict))}")


def _top_level_hint(key: str, is_table: bool) -> str:
    """What an unknown top-level key most likely meant: a group's key written outside its table (`model = ...`
    above `[llm]`), a mistyped table (`[llmm]`), or a mistyped key outside its table."""
    groups = settings_groups()

    def owners(field: str) -> str:
        return " or ".join(f"[{section}] {field}" for section in CONFIG_TABLES
                           if any(field in group.model_fields for group in groups.get(section, ())))

    if owners(key):
        return f"did you mean {owners(key)}?"
    table = nearest(key, list(CONFIG_TABLES))
    field = nearest(key, sorted({field for classes in groups.values() for group in classes
                                 for field in group.model_fields}))
    as_table, as_field = (f"[{table}]" if table else ""), (owners(field) if field else "")
    guess = (as_table or as_field) if is_table else (as_field or as_table)
    return f"did you mean {guess}?" if guess else f"the tables are {', '.join(f'[{name}]' for name in CONFIG_TABLES)}"


def check_table_keys(path: Path, section: str, table: dict[str, Any], groups: Sequence[type[BaseSettings]]) -> None:
    """Each key of `[section]` is a field of its group; a removed one says what replaced it."""
    fields = sorted({field for group in groups for field in group.model_fields})
    removed = {key: why for group in groups for key, why in getattr(group, "removed_keys", {}).items()}
    for key in table:
        if key in removed:
            raise ConfigError(f"config file {path}: [{section}] {key} is no longer read: {removed[key]}")
        if key not in fields:
            guess = nearest(key, fields)
            hint = f"; did you mean {guess!r}?" if guess else f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"config file {path}: unknown key {key!r} in [{section}]{hint}")


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
        self._values: dict[str, Any] = {}
        if path and section:
            self._values = read_config_table(path, section)
            check_table_keys(path, section, self._values, [settings_cls])  # this group's keys, not its namesakes'

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class EnvAliasSource(PydanticBaseSettingsSource):
    """A group's extra environment names (`env_aliases`: variable -> field, e.g. `CODEMILL_MODEL`), below its
    prefixed names, when they are prefixed or short names (`SHORT_ENV`); an old name — a retired one
    (`RETIRED_ENV`) or a group's field without its prefix (`CODEMILL_CONCURRENCY`) — is an error."""

    def __call__(self) -> dict[str, Any]:
        present = {name.upper(): name for name in os.environ}
        for name, replacement in RETIRED_ENV.items():
            if name in present:
                raise ConfigError(f"the environment variable {present[name]} is no longer read (it set several "
                                  f"things at once): use {replacement}")
        prefix = str(self.settings_cls.model_config.get("env_prefix") or "").upper()
        for field in self.settings_cls.model_fields:
            old = f"CODEMILL_{field.upper()}"
            if old in present and old not in SHORT_ENV and not old.startswith(prefix) \
                    and not any(old.startswith(f"CODEMILL_{table.upper()}_") for table in CONFIG_TABLES):
                raise ConfigError(f"the environment variable {present[old]} is no longer read: use "
                                  f"{prefix}{field.upper()}")
        aliases: dict[str, str] = getattr(self.settings_cls, "env_aliases", {})
        values: dict[str, Any] = {}
        for name, field in aliases.items():
            if name in os.environ and field not in values and (name.startswith(prefix) or name in SHORT_ENV):
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
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.config_section and cls.config_section not in CONFIG_TABLES:
            raise TypeError(f"settings group {cls.__name__}: config_section {cls.config_section!r} is not one of "
                            f"tools.settings.CONFIG_TABLES {CONFIG_TABLES}: add it there")

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
