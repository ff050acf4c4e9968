"""Loaders for the benchmark sets in `../shared/data` (HumanEval, MBPP, sanitized MBPP, HumanEvalPack).

Used by `evaluate` (real tests), decontamination (prompts and solutions) and the benchmarks.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel

from tools.errors import ConfigError

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

BenchmarkName = Literal["humaneval", "mbpp", "mbpp-sanitized", "humanevalpack-python", "humanevalpack-js"]
BENCHMARKS: tuple[str, ...] = get_args(BenchmarkName)


class BenchmarkProblem(BaseModel):
    """One benchmark problem, normalised across sources."""

    benchmark: str
    task_id: str
    language: Literal["python", "javascript"] = "python"
    prompt: str  # what the model sees (function header + docstring, or the task text)
    solution: str  # reference code; for HumanEval the body that continues `prompt`
    test: str  # runnable test code; calls the entry point on its own
    entry_point: str = ""
    setup: str = ""  # imports or setup code the test needs

    def program(self, completion: str | None = None) -> str:
        """Code under test: the reference solution, or a completion in the benchmark's own format."""
        body = self.solution if completion is None else completion
        if self.benchmark in ("humaneval", "humanevalpack-python", "humanevalpack-js"):
            return self.prompt + body
        return body


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_benchmark(name: str, data_dir: Path | None = None) -> list[BenchmarkProblem]:
    """All problems of one benchmark; raises ConfigError if the data file is missing."""
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    loaders = {
        "humaneval": ("HumanEval.jsonl.gz", _humaneval),
        "mbpp": ("mbpp.jsonl", _mbpp),
        "mbpp-sanitized": ("sanitized-mbpp.json", _mbpp_sanitized),
        "humanevalpack-python": ("humanevalpack-python.jsonl", _humanevalpack),
        "humanevalpack-js": ("humanevalpack-js.jsonl", _humanevalpack),
    }
    if name not in loaders:
        raise ConfigError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    file_name, convert = loaders[name]
    path = data_dir / file_name
    if not path.exists():
        raise ConfigError(f"benchmark data not found: {path} (expected ../shared/data beside the checkout)")
    records = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else list(_read_jsonl(path))
    return [convert(name, record) for record in records]


def _humaneval(name: str, r: dict) -> BenchmarkProblem:
    return BenchmarkProblem(
        benchmark=name, task_id=r["task_id"], prompt=r["prompt"], solution=r["canonical_solution"],
        test=f"{r['test']}\ncheck({r['entry_point']})\n", entry_point=r["entry_point"],
    )


def _mbpp(name: str, r: dict) -> BenchmarkProblem:
    return BenchmarkProblem(
        benchmark=name, task_id=str(r["task_id"]), prompt=r["text"], solution=r["code"].replace("\r\n", "\n"),
        test=r.get("test_setup_code", "") + "\n" + "\n".join(r["test_list"]) + "\n",
    )


def _mbpp_sanitized(name: str, r: dict) -> BenchmarkProblem:
    setup = "\n".join(r.get("test_imports", []))
    return BenchmarkProblem(
        benchmark=name, task_id=str(r["task_id"]), prompt=r["prompt"], solution=r["code"],
        test=setup + "\n" + "\n".join(r["test_list"]) + "\n", setup=setup,
    )


def _humanevalpack(name: str, r: dict) -> BenchmarkProblem:
    language = "javascript" if name.endswith("-js") else "python"
    return BenchmarkProblem(
        benchmark=name, task_id=r["task_id"], language=language, prompt=r["prompt"],
        solution=r["canonical_solution"], test=r["test"], entry_point=r["entry_point"],
    )
