"""The sandbox's settings group for the commands that run checks: the `[sandbox]` table of a config file and the
`CODEMILL_SANDBOX_*` environment variables (the seconds per check are the synth group's `timeout_s`, set by
`--exec-timeout` or `CODEMILL_SYNTH_TIMEOUT_S`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tools.sandbox.models import Limits
from tools.settings import CodemillSettings


class SandboxSettings(CodemillSettings):
    """How many sandbox workers run checks and how much memory a check may take."""

    config_section: ClassVar[str] = "sandbox"
    model_config = SettingsConfigDict(env_prefix="CODEMILL_SANDBOX_")

    workers: int | None = Field(None, ge=1, description="worker processes (default: one per core)")
    memory_mb: int = Field(1024, ge=16, description="extra address space one check may use")

    def limits(self, timeout_s: float) -> Limits:
        return Limits(timeout_s=timeout_s, memory_mb=self.memory_mb)
