"""Token usage and latency per agent, counted by the client and reported at the end of a run."""

from __future__ import annotations

from pydantic import BaseModel, Field
from rich.table import Table


class AgentUsage(BaseModel):
    """What one agent cost: model requests, cache hits, tokens and time spent waiting for the model."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_total_s: float = 0.0

    @property
    def latency_mean_s(self) -> float:
        return self.latency_total_s / self.calls if self.calls else 0.0


class UsageReport(BaseModel):
    """Usage per agent name; `rich.print(report)` shows it as a table."""

    agents: dict[str, AgentUsage] = Field(default_factory=dict)

    def total(self) -> AgentUsage:
        total = AgentUsage()
        for usage in self.agents.values():
            for name in AgentUsage.model_fields:
                setattr(total, name, getattr(total, name) + getattr(usage, name))
        return total

    def table(self) -> Table:
        table = Table(title="LLM usage")
        for header in ["agent", "calls", "cache hits", "failures", "retries", "prompt tok", "completion tok",
                       "latency total s", "latency mean s"]:
            table.add_column(header, justify="left" if header == "agent" else "right")
        rows = sorted(self.agents.items())
        if len(rows) > 1:
            rows.append(("total", self.total()))
        for name, usage in rows:
            table.add_row(name, str(usage.calls), str(usage.cache_hits), str(usage.failures),
                          str(usage.retries), str(usage.prompt_tokens), str(usage.completion_tokens),
                          f"{usage.latency_total_s:.2f}", f"{usage.latency_mean_s:.3f}")
        return table

    def __rich__(self) -> Table:
        return self.table()


class UsageCounter:
    """Mutable per-agent counters behind `LLMClient.usage()` (single event loop: no locking needed)."""

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
