"""vLLM replicas as Ray actors (`run.py serve --ray --replicas K`): each actor starts one OpenAI-compatible vLLM
server on its node (`tools.llm.launcher.VLLMServer`) with `gpus` GPUs (tensor parallelism above one), listening
on the node's address, and reports its URL. The LLM client balances over the URLs (least in flight), as over any
list of `--base-url`s; a replica is a plain vLLM server, so preflight, structured outputs and `max_model_len`
behave exactly as on one machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools.llm.launcher import VLLM_MODULE, VLLMServer, find_vllm_python, free_port


@dataclass(frozen=True)
class ReplicaSpec:
    """One replica's server, as the driver asks for it (pickled to the actor)."""

    index: int
    model: str
    served_model_name: str
    device: Literal["auto", "cpu", "gpu"] = "auto"
    gpus: int = 0
    extra_args: tuple[str, ...] = ()
    module: str = VLLM_MODULE
    python: str | None = None  # the interpreter with vLLM on the node (None: found there)
    startup_timeout_s: float = 900.0
    log_dir: str | None = None  # on the node


def vllm_args(spec: ReplicaSpec) -> list[str]:
    """The caller's vLLM flags, plus `--tensor-parallel-size` over the replica's GPUs unless the caller set it."""
    args = list(spec.extra_args)
    if spec.gpus > 1 and not any(arg.startswith(("--tensor-parallel-size", "-tp")) for arg in args):
        args += ["--tensor-parallel-size", str(spec.gpus)]
    return args


class VLLMReplica:
    """A threaded actor (`start`, then `watch` and `stop` may run at once)."""

    def __init__(self, spec: ReplicaSpec) -> None:
        self.spec = spec
        self.server: VLLMServer | None = None
        self.url = ""

    def start(self) -> str:
        """Start the server, wait until it answers; its URL on the node's address."""
        import ray

        spec = self.spec
        host = ray.util.get_node_ip_address()
        port = free_port("0.0.0.0")  # listens on every interface: clients are on other machines
        log = Path(spec.log_dir).expanduser() / f"vllm-replica-{spec.index}.log" if spec.log_dir else None
        python = spec.python or (find_vllm_python() if spec.module == VLLM_MODULE else None)
        server = VLLMServer(spec.model, host="0.0.0.0", port=port, served_model_name=spec.served_model_name,
                            device=spec.device, extra_args=vllm_args(spec), log_path=log, python=python,
                            startup_timeout_s=spec.startup_timeout_s, module=spec.module)
        server.__enter__()
        self.server = server
        self.url = f"http://{host}:{port}/v1"
        return self.url

    def watch(self) -> int:
        """Block until the server exits; its exit code."""
        assert self.server is not None and self.server.process is not None
        return int(self.server.process.wait())

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.__exit__(None, None, None)


def start_replicas(ray: Any, specs: Sequence[ReplicaSpec], *, timeout_s: float) -> tuple[list[Any], list[str]]:
    """K replica actors spread over the nodes; their URLs once every one answers (the actors, to stop later)."""
    remote = ray.remote(VLLMReplica)
    actors = [remote.options(num_cpus=1, num_gpus=spec.gpus, max_restarts=0, max_concurrency=3,
                             scheduling_strategy="SPREAD").remote(spec) for spec in specs]
    urls = ray.get([actor.start.remote() for actor in actors], timeout=timeout_s)
    return actors, list(urls)


def stop_replicas(ray: Any, actors: Sequence[Any]) -> None:
    with contextlib.suppress(Exception):
        ray.wait([actor.stop.remote() for actor in actors], num_returns=len(actors), timeout=60)
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)
