"""The batch's circuit breaker: a run whose threads keep failing for the same outside reason stops, with one
line saying why and how to resume, instead of walking every remaining seed into the same wall.

It counts threads in a row left unfinished by the endpoint (every `EndpointError` class, and any other
`LLMError` but a context-length one) and, separately, by the sandbox; any finished thread resets both counts.
"""

from __future__ import annotations

from graphs.error_policy import ErrorKind
from graphs.thread_runner import ThreadResult
from tools.errors import LLMError, SandboxError

RESUME_HINT = "finished rows are kept, re-run to resume"


class EndpointsFailing(LLMError):
    """The run stopped: too many threads in a row could not use the model."""


class SandboxFailing(SandboxError):
    """The run stopped: too many threads in a row lost their checks to the sandbox."""


class CircuitBreaker:
    def __init__(self, max_endpoint_failures: int, max_sandbox_failures: int) -> None:
        self.limits = {ErrorKind.ENDPOINT: max_endpoint_failures, ErrorKind.SANDBOX: max_sandbox_failures}
        self.streaks = {ErrorKind.ENDPOINT: 0, ErrorKind.SANDBOX: 0}

    def observe(self, result: ThreadResult) -> None:
        """Count `result`; raise `EndpointsFailing` or `SandboxFailing` when a streak reaches its limit."""
        if result.finished or result.cause not in self.streaks:
            self.streaks = dict.fromkeys(self.streaks, 0)
            return
        kind = result.cause
        self.streaks[kind] += 1
        streak = self.streaks[kind]
        if streak < self.limits[kind]:
            return
        last = f"Last error: {result.error_type}: {result.message}"
        if kind is ErrorKind.ENDPOINT:
            raise EndpointsFailing(f"stopped after {streak} threads in a row could not use the model; {RESUME_HINT}. "
                                   f"{last}")
        raise SandboxFailing(f"stopped after {streak} threads in a row lost their checks to the sandbox; "
                             f"{RESUME_HINT}. {last}")
