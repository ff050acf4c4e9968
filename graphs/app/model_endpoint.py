"""The model a run talks to: the endpoints it was given, or a local vLLM server started for the run and
stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from tools.llm.launcher import VLLMServer, installed_device
from tools.llm.settings import DEFAULT_MODEL, LLMSettings

CPU_DEFAULT_MODEL = "Qwen/Qwen2.5-Coder-1.5B-Instruct"


@contextmanager
def model_endpoint(settings: LLMSettings, console: Console) -> Iterator[LLMSettings]:
    """The given endpoint(s), or a vLLM server started for this run (stopped when the block ends)."""
    if settings.base_urls:
        yield settings
        return
    device = installed_device()
    model = settings.model
    if device == "cpu" and model == DEFAULT_MODEL:
        model = CPU_DEFAULT_MODEL
    console.print(f"no --base-url given: starting vLLM ({device or 'not installed'}) with {model} …")
    with VLLMServer(model) as server:
        console.print(f"vLLM serving {model} at {server.base_url}")
        yield settings.model_copy(update={"base_urls": [server.base_url], "model": server.served_model_name})
