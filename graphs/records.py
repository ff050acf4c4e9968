"""The rows `synth` (and chat's `/save`) writes — SFT, DPO, matrix, ledger — and how a finished thread's state
becomes them and reaches disk.

Every row has a stable `id` derived from the seed and the task, so a resumed or repeated run finds the rows it
already wrote and never writes a second copy. Every row also says which model and sampling settings made it
(`model`, `sampling`: a `ModelStamp`), so rows of runs with different settings can be told apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from graphs.state import SynthesisState, thread_id
from tools.rows import JsonlWriter, stable_id

OUTPUT_FILES = {"sft": "sft.jsonl", "dpo": "dpo.jsonl", "matrix": "matrix.jsonl", "ledger": "ledger.jsonl"}
# Every thread counts as a seed; the later stages are those `funnel_stages` finds it reached.
FUNNEL = ("seeds", "generated", "accepted", "tested", "executed", "pairs")


class ModelStamp(BaseModel):
    """The model and sampling settings a run used, stamped on every row it writes."""

    model: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)


class Provenance(BaseModel):
    """Where a row came from."""

    seed_id: str
    path: str | None = None
    lines: list[int] | None = None
    repo: str | None = None
    language: str = "python"
    license: str | None = None


class SFTRow(BaseModel):
    """An instruction example: chat `messages` plus alpaca-style fields."""

    id: str
    task_type: str
    task_name: str
    instruction: str
    input: str
    output: str
    messages: list[dict[str, str]]
    language: str
    provenance: Provenance
    verdict: dict[str, Any]
    checks: dict[str, Any] | None = None
    attempts: int = 1
    reviews: list[dict[str, Any]] = Field(default_factory=list)  # plug-in reviewers' findings
    model: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)


class DPORow(BaseModel):
    """A preference pair in TRL's prompt/chosen/rejected shape, with its evidence."""

    id: str
    task_id: str
    task_type: str
    kind: Literal["correctness", "efficiency"]
    prompt: str
    chosen: str
    rejected: str
    metadata: dict[str, Any] = Field(default_factory=dict)  # scores, timings, ranker
    provenance: Provenance
    model: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)


class MatrixRow(BaseModel):
    """Every pass matrix with statuses, so rankers can be re-run offline."""

    id: str
    task_id: str
    task_type: str
    language: str
    prompt: str
    candidates: list[str]
    tests: list[str]
    verification: dict[str, Any]
    checks: dict[str, Any] | None = None
    reviews: list[dict[str, Any]] = Field(default_factory=list)
    # The rubric rejected this instance; it was executed only to measure the rubric against execution
    # (`SynthSettings.rejected_sample`). Not training data: its candidates answer a rejected task.
    rejected_sample: bool = False
    model: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)


class LedgerRow(BaseModel):
    """One finished thread: how far it got and why it stopped (feeds the funnel and the report)."""

    id: str
    thread_id: str
    seed_id: str
    task_type: str
    status: Literal["accepted", "rejected", "failed"]
    stages: list[str]  # funnel stages reached: generated, accepted, tested, executed, pairs
    attempts: int
    verdict_reasons: list[str] = Field(default_factory=list)  # failed checks of every verdict, all attempts
    failures: list[dict[str, str]] = Field(default_factory=list)
    rows: dict[str, int] = Field(default_factory=dict)  # sft / dpo / matrix rows written
    usage: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)


def provenance(state: SynthesisState) -> Provenance:
    seed = state.seed
    return Provenance(
        seed_id=seed.id, path=seed.path, lines=list(seed.lines) if seed.lines else None, repo=seed.repo,
        language=seed.language, license=seed.license,
    )


def prompt_text(state: SynthesisState) -> str:
    """The user turn of an instance: the instruction, followed by its input if any."""
    assert state.instance is not None
    instance = state.instance
    return instance.instruction if not instance.input.strip() else f"{instance.instruction}\n\n{instance.input}"


def funnel_stages(state: SynthesisState) -> list[str]:
    """The funnel stages a thread reached; a probed rejection (`rejected_sample`) stops at `generated`, since its
    execution produced nothing for the funnel to count."""
    stages: list[str] = []
    if state.instance is not None:
        stages.append("generated")
    if state.rejected_sample:
        return stages
    if state.verdict is not None and state.verdict.accepted:
        stages.append("accepted")
    if state.tests:
        stages.append("tested")
    if state.verification is not None:
        stages.append("executed")
    if state.verification is not None and state.verification.pairs:
        stages.append("pairs")
    return stages


def sft_row(state: SynthesisState) -> SFTRow | None:
    if state.status != "accepted" or state.instance is None or state.verdict is None or state.rejected_sample:
        return None
    instance = state.instance
    user = prompt_text(state)
    return SFTRow(
        id=stable_id("sft", state.thread_id),
        task_type=state.task_type.value, task_name=instance.task_name, instruction=instance.instruction,
        input=instance.input, output=instance.output,
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": instance.output}],
        language=instance.language, provenance=provenance(state), verdict=state.verdict.model_dump(mode="json"),
        checks=state.checks.model_dump(mode="json") if state.checks else None, attempts=state.attempt,
        reviews=[review.model_dump(mode="json") for review in state.reviews],
    )


def dpo_rows(state: SynthesisState) -> list[DPORow]:
    if state.verification is None or state.instance is None or not (state.verdict and state.verdict.accepted) \
            or state.rejected_sample:
        return []
    tid = state.thread_id
    rows = []
    for preference in state.verification.pairs:
        pair = preference.model_dump(mode="json")
        metadata = dict(pair.get("metadata") or {})
        metadata.update({key: value for key, value in pair.items()
                         if key not in ("prompt", "chosen", "rejected", "kind", "metadata")})
        rows.append(DPORow(
            id=stable_id("dpo", tid, preference.chosen, preference.rejected), task_id=tid,
            task_type=state.task_type.value, kind=preference.kind, prompt=prompt_text(state),
            chosen=preference.chosen, rejected=preference.rejected, metadata=metadata, provenance=provenance(state),
        ))
    return rows


def matrix_row(state: SynthesisState) -> MatrixRow | None:
    if state.verification is None or state.instance is None:
        return None
    tid = state.thread_id
    return MatrixRow(
        id=stable_id("matrix", tid), task_id=tid, task_type=state.task_type.value,
        language=state.instance.language, prompt=prompt_text(state), candidates=state.candidates,
        tests=state.tests, verification=state.verification.to_record(),
        checks=state.checks.model_dump(mode="json") if state.checks else None,
        reviews=[review.model_dump(mode="json") for review in state.reviews], rejected_sample=state.rejected_sample,
    )


def ledger_row(state: SynthesisState, rows: dict[str, int], usage: dict[str, Any] | None = None) -> LedgerRow:
    tid = state.thread_id
    status = state.status if state.status != "running" else "failed"
    return LedgerRow(
        id=stable_id("ledger", tid), thread_id=tid, seed_id=state.seed.id, task_type=state.task_type.value,
        status=status, stages=funnel_stages(state), attempts=state.attempt,
        verdict_reasons=[reason for verdict in state.verdicts for reason in verdict.reasons],
        failures=[failure.model_dump() for failure in state.failures], rows=rows, usage=usage or {},
    )


def open_writers(outdir: Path) -> dict[str, JsonlWriter]:
    """One id-deduplicating writer per output file of OUTDIR; close them when done."""
    return {name: JsonlWriter(outdir / file) for name, file in OUTPUT_FILES.items()}


def row_thread_id(name: str, row: dict[str, Any]) -> str | None:
    """The thread a row of output file `name` (sft, dpo, matrix, ledger) belongs to."""
    if name == "ledger":
        return row.get("thread_id")
    if name == "sft":
        seed_id = (row.get("provenance") or {}).get("seed_id")
        try:
            return thread_id(seed_id, row.get("task_type", "")) if seed_id else None
        except ValueError:
            return None
    return row.get("task_id")


def write_thread(state: SynthesisState, writers: dict[str, JsonlWriter], stamp: ModelStamp | None = None, *,
                 usage: dict[str, Any] | None = None) -> LedgerRow:
    """Write a finished thread's rows, the ledger row last: a thread counts as done only once its rows are on
    disk. Every row is built and serialized before the first is written, so a row that cannot be (a value
    nested too deeply, say) raises before any of the thread's rows is on disk. Returns the ledger row (its
    `rows` says how many new rows each file got)."""
    stamped = (stamp or ModelStamp()).model_dump()
    planned: list[tuple[str, BaseModel]] = []
    if (sft := sft_row(state)) is not None:
        planned.append(("sft", sft))
    planned += [("dpo", row) for row in dpo_rows(state)]
    if (matrix := matrix_row(state)) is not None:
        planned.append(("matrix", matrix))
    records = [(name, row.model_copy(update=stamped).model_dump(mode="json")) for name, row in planned]
    for _, record in records:
        json.dumps(record, ensure_ascii=False)
    rows = {"sft": 0, "dpo": 0, "matrix": 0}
    for name, record in records:
        rows[name] += writers[name].write(record)
    ledger = ledger_row(state, rows, usage).model_copy(update=stamped)
    writers["ledger"].write(ledger)
    return ledger
