"""OUTDIR/run.log: what each `synth` invocation said, timestamped — its start, warnings, progress lines, how it
ended and how to resume — appended, so the log of a week-long batch survives every restart."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from types import TracebackType

from rich.console import Console

LOG_NAME = "run.log"


class RunLog:
    """Append-only lines; a failed write (a full disk) never stops the run it describes."""

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / LOG_NAME
        self._handle = self.path.open("a", encoding="utf-8")

    def write(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with contextlib.suppress(OSError, ValueError):
            for line in str(text).splitlines() or [""]:
                self._handle.write(f"{stamp} {line}\n")
            self._handle.flush()

    def say(self, console: Console, text: str, style: str | None = None) -> None:
        """Print a line for the operator and keep it in the log."""
        console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)
        self.write(text)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
