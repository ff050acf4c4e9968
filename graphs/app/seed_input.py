"""The seeds a `synth` run works on: a seeds JSONL as it is, or anything else put through the seeds stage first
(and kept as OUTDIR/seeds.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from graphs.state import SeedInput
from tools.errors import ConfigError


def load_or_prepare_seeds(inputs: list[Path], outdir: Path, console: Console) -> list[SeedInput]:
    """A seeds JSONL is read as it is; anything else goes through the seeds stage first."""
    from tools.seeds import SeedsConfig, load_seeds, prepare_seeds

    for path in inputs:
        if not path.exists():
            raise ConfigError(f"no such seed file or directory: {path}")
    if len(inputs) == 1 and inputs[0].is_file() and inputs[0].suffix == ".jsonl" and _looks_like_seeds(inputs[0]):
        seeds = load_seeds(inputs[0])
    else:
        console.print(f"seeding from {', '.join(map(str, inputs))} …")
        result = prepare_seeds(inputs, SeedsConfig())
        seeds = result.seeds
        with (outdir / "seeds.jsonl").open("w", encoding="utf-8") as handle:
            for seed in seeds:
                handle.write(seed.model_dump_json() + "\n")
    if not seeds:
        raise ConfigError(f"no usable seeds in {', '.join(map(str, inputs))}")
    return [SeedInput.model_validate(seed.model_dump()) for seed in seeds]


def _looks_like_seeds(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return True  # let load_seeds report the bad line
                return isinstance(record, dict) and "id" in record and "code" in record
    return True
