"""OUTDIR/run.log: what each `synth` invocation said, timestamped — its start, warnings (its own and those its
libraries log, such as a schema's structured-output fallback), progress lines, how it ended and how to resume —
appended, so the log of a week-long batch survives every restart."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from rich.console import Console

LOG_NAME = "run.log"
LIBRARY_LOGGER = "codemill"  # the parent of the loggers codemill's libraries warn through (e.g. `codemill.llm`)


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

    @contextlib.contextmanager
    def library_warnings(self, console: Console) -> Iterator[None]:
        """While the block runs, what codemill's libraries log at WARNING or above is said as one `warning:` line
        (or `error:`) and kept in this log, instead of reaching stderr bare through logging's last resort."""
        logger = logging.getLogger(LIBRARY_LOGGER)
        handler = _SayHandler(self, console)
        propagate = logger.propagate
        logger.addHandler(handler)
        logger.propagate = False  # said once here, never again by a handler someone put on the root logger
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _SayHandler(logging.Handler):
    """A log record as one line for the operator, kept in the run log."""

    def __init__(self, log: RunLog, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.log = log
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record (bad format arguments): logging's own report, not a crash
            self.handleError(record)
            return
        level = "warning" if record.levelno < logging.ERROR else "error"
        self.log.say(self.console, f"{level}: {text}", style="yellow")
