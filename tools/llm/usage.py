"""Token usage and latency per agent, counted by the client and reported at the end of a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel, Field
from rich.table import Table


class AgentUsage(BaseModel):
    """What one agent cost: model requests, cache hits, tokens and time spent waiting for the model."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    retries: int = 0
    truncated: int = 0  # replies cut off at max_tokens
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_total_s: float = 0.0

    @property
    def latency_mean_s(self) -> float:
        return self.latency_total_s / self.calls if self.calls else 0.0


class UsageReport(BaseModel):
    """Usage per agent name, plus what the client did to requests (for the manifest); `rich.print(report)`
    shows it as a table."""

    agents: dict[str, AgentUsage] = Field(default_factory=dict)
    prompt_only_requests: dict[str, int] = Field(
        default_factory=dict, description="per schema: requests asked by prompt because the server refused "
                                          "response_format for it")
    context: dict[str, int] = Field(default_factory=dict,
                                    description="requests fitted to the context: max_tokens_shrunk, "
                                                "reasks_trimmed, too_long")

    def total(self) -> AgentUsage:
        total = AgentUsage()
        for usage in self.agents.values():
            for name in AgentUsage.model_fields:
                setattr(total, name, getattr(total, name) + getattr(usage, name))
        return total

    def table(self) -> Table:
        table = Table(title="LLM usage")
        for header in ["agent", "calls", "cache hits", "failures", "retries", "cut off", "prompt tok",
                       "completion tok", "latency total s", "latency mean s"]:
            table.add_column(header, justify="left" if header == "agent" else "right")
        rows = sorted(self.agents.items())
        if len(rows) > 1:
            rows.append(("total", self.total()))
        for name, usage in rows:
            table.add_row(name, str(usage.calls), str(usage.cache_hits), str(usage.failures),
                          str(usage.retries), str(usage.truncated), str(usage.prompt_tokens),
                          str(usage.completion_tokens), f"{usage.latency_total_s:.2f}", f"{usage.latency_mean_s:.3f}")
        notes = []
        if self.prompt_only_requests:
            asked = ", ".join(f"{schema} {count}" for schema, count in self.prompt_only_requests.items())
            notes.append(f"asked by prompt, without constrained decoding: {asked}")
        if any(self.context.values()):
            notes.append("fitted to the context: " + ", ".join(f"{k} {v}" for k, v in self.context.items() if v))
        table.caption = "; ".join(notes) or None
        return table

    def __rich__(self) -> Table:
        return self.table()


class UsageCounter:
    """Mutable per-agent counters behind `LLMClient.usage()`, updated as each request ends, so a live display
    may read them at any time (single event loop: no locking needed)."""

    def __init__(self) -> None:
        self._agents: dict[str, AgentUsage] = {}

    def of(self, agent: str) -> AgentUsage:
        return self._agents.setdefault(agent, AgentUsage())

    def record_call(self, agent: str, prompt_tokens: int, completion_tokens: int, latency_s: float) -> None:
        usage = self.of(agent)
        usage.calls += 1
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        usage.latency_total_s += latency_s

    def report(self) -> UsageReport:
        return UsageReport(agents={name: usage.model_copy() for name, usage in self._agents.items()})


# The counter of the synthesis thread whose requests are being made (set by `thread_usage`, inherited by the
# asyncio tasks LangGraph starts for the thread's nodes): the client counts each request there too.
_thread_counter: ContextVar[UsageCounter | None] = ContextVar("codemill_thread_usage", default=None)


@contextmanager
def thread_usage() -> Iterator[UsageCounter]:
    """Count the requests made inside this block (and in the tasks it starts) on their own: one thread's cost."""
    counter = UsageCounter()
    token = _thread_counter.set(counter)
    try:
        yield counter
    finally:
        _thread_counter.reset(token)


def counters_for(run: UsageCounter) -> list[UsageCounter]:
    """Where a request is counted: the run's counter, and the current thread's when one is counting."""
    thread = _thread_counter.get()
    return [run] if thread is None else [run, thread]
