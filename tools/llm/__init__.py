"""The LLM layer: settings, the client (context-fitted, cached, balanced, retried, counted) above a backend
seam, preflight, JSON extraction, usage, the vLLM launcher.

`launcher` (starting vLLM), `cli` (shared command-line flags) and `preflight` are imported from their
modules directly; the typed errors live in `tools.errors`.
"""

from tools.llm.backend import ChatBackend, ChatReply, ChatRequest, ModelCard
from tools.llm.client import LLMClient
from tools.llm.extract import extract_json
from tools.llm.settings import LLMSettings
from tools.llm.usage import AgentUsage, UsageReport

__all__ = ["AgentUsage", "ChatBackend", "ChatReply", "ChatRequest", "LLMClient", "LLMSettings", "ModelCard",
           "UsageReport", "extract_json"]
