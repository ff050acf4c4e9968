"""The project's error hierarchy, grouped by who has to act on the error."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class CodemillError(Exception):
    """Base of every error codemill raises on purpose; `run.py` prints it as one line."""


class ConfigError(CodemillError):
    """Bad configuration or command-line input: the operator has to fix something."""


class InputError(CodemillError):
    """A malformed input file or record."""


class OutputRejected(CodemillError):
    """A model's output failed validation: tell the model why and ask again. `reply` is the rejected text,
    when there is one (the re-ask shows it back to the model, shortened, as the model's own turn)."""

    def __init__(self, message: str = "", reply: str | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class SandboxError(CodemillError):
    """The sandbox itself failed (not the code it ran)."""


class LLMError(CodemillError):
    """A model call failed for good; the message names the endpoint and the model."""


# --- LLM errors, by what the batch does with them ------------------------------------------------------------
# OutputRejected: the model's outcome; the agent re-asks within its budget, then records the failure.
# ContextLengthExceeded: this prompt cannot be served by this model: a recorded failure of that stage.
# EndpointError and its subclasses: the endpoint failed, not the model; the thread stays unfinished (the next
# run retries it) and the batch's circuit breaker counts it.


class ContextLengthExceeded(LLMError):
    """The prompt plus the room its reply needs does not fit the model's context (found before sending, or a
    server's 400): a recorded failure of that stage, never resent unchanged. `limit` is the context length in
    tokens, when known."""

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class EndpointError(LLMError):
    """The endpoint failed or refused, not the model's output: the thread stays unfinished."""


class EndpointUnreachable(EndpointError):
    """Nothing answered: connection refused, name not resolved, connect timeout."""


class Transient(EndpointError):
    """Worth another try later (429, 5xx, a timeout, a reply cut off on the wire); `retry_after` is the
    server's own delay in seconds (`Retry-After`), when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestRejected(EndpointError):
    """The server refused the request itself (a 4xx): resending it unchanged is futile."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AuthFailed(RequestRejected):
    """401/403: the API key is missing or wrong."""


class UnknownModel(RequestRejected):
    """404 for the model: the server does not serve a model by that name."""


class RoleOrderRejected(RequestRejected):
    """The server's chat template refused the order of the turns ("Conversation roles must alternate")."""


def endpoint_error_names() -> frozenset[str]:
    """The names of `EndpointError` and its subclasses, for records that keep an error's type as a string
    (`Failure.error_type`): such a failure leaves its thread unfinished."""
    names: set[str] = set()
    todo: list[type[BaseException]] = [EndpointError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(names)


def validation_problems(error: ValidationError, *, first_only: bool = False) -> str:
    """A pydantic error in one line: `field.path: message` per problem, `; `-joined (or only the first)."""
    items = error.errors()[:1] if first_only else error.errors()
    return "; ".join(f"{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']}" for item in items)
