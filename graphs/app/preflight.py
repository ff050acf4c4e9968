"""Before any thread starts, `synth` and `chat` ask every endpoint for its models (`tools.llm.preflight`): an
endpoint that is unreachable, refuses the key or does not serve the model is dropped with a warning line while
another one answers; when none does, the run stops with that one line, having recorded nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.console import Console

from tools.errors import LLMError
from tools.llm.preflight import preflight
from tools.llm.settings import LLMSettings


def checked_endpoints(settings: LLMSettings, console: Console, hint: str = "", *,
                      warn: Callable[[str], None] | None = None) -> LLMSettings:
    """`settings` with only the endpoints that serve the model; raises the typed `LLMError` of the first
    endpoint when none does (one line, within the preflight's timeout, `hint` appended). Each endpoint dropped is
    a warning (`dropping endpoint URL: why`): handed to `warn` when given (synth also keeps it in its run log),
    else printed as a `warning:` line."""
    try:
        report = asyncio.run(preflight(settings))
    except LLMError as error:
        if hint:
            error.args = (f"{error} ({hint})",)
        raise
    for warning in report.warnings:
        if warn is not None:
            warn(warning)
        else:
            console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False, soft_wrap=True)
    return report.apply(settings)
