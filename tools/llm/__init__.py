"""The LLM layer: settings, the cached/retried/load-balanced client, extraction helpers, usage, vLLM launcher.

`launcher` (starting vLLM) and `cli` (shared command-line flags) are imported from their modules directly.
"""

from tools.llm.client import LLMClient
from tools.llm.extract import extract_code, extract_json
from tools.llm.settings import LLMSettings
from tools.llm.usage import AgentUsage, UsageReport

__all__ = ["AgentUsage", "LLMClient", "LLMSettings", "UsageReport", "extract_code", "extract_json"]
