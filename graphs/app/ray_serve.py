"""`run.py serve --ray [ADDRESS] --replicas K`: K vLLM servers as Ray actors (`graphs.replicas`), spread over the
cluster's nodes; prints one URL per line, and the `--base-url` flags that use them all, then serves until Ctrl-C
(or until a replica exits, which is an error naming it)."""

from __future__ import annotations

import argparse
from typing import Any

from tools.errors import ConfigError, LLMError
from tools.ray_connect import LOCAL


def add_ray_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray cluster")
    group.add_argument("--ray", nargs="?", const=LOCAL, metavar="ADDRESS",
                       help="start the servers as Ray actors: no ADDRESS starts a local instance, `auto` joins this "
                            "machine's cluster, ray://HOST:PORT uses Ray Client")
    group.add_argument("--replicas", type=int, default=1, metavar="K", help="vLLM servers to start with --ray")


def serve_on_ray(args: argparse.Namespace, console: Any) -> int:
    """Start the replicas, print their URLs, wait; stop them (and a Ray instance this started) on the way out."""
    from graphs.app.ray_synth import RaySettings  # the serve command's parser stays light: imported when used
    from graphs.replicas import ReplicaSpec, start_replicas, stop_replicas
    from tools.llm.launcher import VLLM_MODULE
    from tools.llm.settings import LLMSettings
    from tools.ray_connect import connect, import_ray
    from tools.settings import load_settings

    ray = import_ray()
    if args.replicas < 1:
        raise ConfigError(f"--replicas must be 1 or more, not {args.replicas}")
    llm = load_settings(LLMSettings, config_file=args.config, model=args.model)
    ray_settings = load_settings(RaySettings, config_file=args.config)
    if llm.model == "demo":
        raise ConfigError("the demo model is built on one machine: with --ray, serve a model every node can load "
                          "(a Hugging Face id, or a directory present on every node)")
    extra = args.vllm_args[1:] if args.vllm_args[:1] == ["--"] else args.vllm_args
    gpus = ray_settings.gpus_per_replica
    if gpus is None:
        gpus = 0 if args.device == "cpu" else 1
    specs = [ReplicaSpec(index=index, model=llm.model, served_model_name=args.served_model_name or llm.model,
                         device=args.device, gpus=gpus, extra_args=tuple(extra),
                         module=args.vllm_module or VLLM_MODULE, startup_timeout_s=args.startup_timeout,
                         log_dir=str(args.log.parent) if args.log else None) for index in range(args.replicas)]
    started = connect(ray, args.ray)
    actors: list = []
    try:
        console.print(f"starting {args.replicas} vLLM replicas ({gpus} GPUs each) on the Ray cluster …")
        actors, urls = start_replicas(ray, specs, timeout_s=args.startup_timeout + ray_settings.start_timeout_s)
        for url in urls:
            print(url, flush=True)
        flags = " ".join(f"--base-url {url}" for url in urls)
        console.print(f"ready: use {flags} --model {specs[0].served_model_name}; Ctrl-C stops the replicas")
        watches = [actor.watch.remote() for actor in actors]
        done, _ = ray.wait(watches, num_returns=1)
        index = watches.index(done[0])
        raise LLMError(f"vLLM replica {index} ({urls[index]}) exited on its own with code {ray.get(done[0])}")
    finally:
        stop_replicas(ray, actors)
        if started:
            ray.shutdown()
