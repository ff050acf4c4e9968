"""The sandbox's data contract: what to run, under which limits, and what came of it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

Language = Literal["python", "javascript"]


class Status(StrEnum):
    """Closed set of outcomes of one check (one candidate against one test)."""

    PASSED = "passed"
    FAILED = "failed"  # an assertion failed
    ERROR = "error"  # any other exception (type and message recorded)
    TIMEOUT = "timeout"  # wall-clock or CPU-time limit hit
    MEMORY = "memory"  # address-space limit hit (MemoryError or allocation failure)
    OUTPUT_LIMIT = "output_limit"  # wrote more than the output cap
    CRASHED = "crashed"  # died by a signal, exited early (sys.exit, os._exit) or otherwise vanished


class Limits(BaseModel):
    """Resource limits for one check; every bound lives here, in data."""

    timeout_s: float = Field(5.0, gt=0, description="wall-clock limit for the whole check")
    cpu_s: float | None = Field(None, gt=0, description="CPU-time limit; defaults to timeout_s + 1")
    memory_mb: int = Field(1024, gt=0, description="extra address space the check may use")
    output_bytes: int = Field(64 * 1024, gt=0, description="cap on captured stdout+stderr")
    max_processes: int = Field(16, gt=0, description="RLIMIT_NPROC for the check")
    max_open_files: int = Field(64, gt=0)
    file_size_mb: int = Field(16, gt=0, description="largest file the check may write")


class Check(BaseModel):
    """One unit of work: run `code`, then `test`, in a fresh sandboxed process."""

    code: str
    test: str
    language: Language = "python"
    limits: Limits | None = None  # None: the sandbox's default limits


class CheckResult(BaseModel):
    """The outcome of one check, with its cost."""

    status: Status
    exec_s: float = Field(0.0, description="wall time of code+test, measured by the worker from the outside")
    wall_s: float = Field(0.0, description="wall time seen by the parent, overhead included")
    cpu_s: float = Field(0.0, description="user+system CPU time of the check's whole process tree")
    peak_memory_kb: int = Field(0, description="peak resident set size of the child")
    error_type: str | None = None  # e.g. "AssertionError", "ZeroDivisionError", "SIGKILL"
    refused: str | None = Field(None, description="a verdict-forging primitive the code tried and was refused")
    message: str = ""  # capped, human-readable detail
    stdout: str = ""
    stderr: str = ""

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED
