"""Turn a finished thread's state into the rows `synth` writes (SFT, DPO, matrix, ledger)."""

from __future__ import annotations

from typing import Any

from graphs.state import SynthesisState, TaskType
from tools.export import DPORow, LedgerRow, MatrixRow, Provenance, SFTRow, stable_id


def thread_id(seed_id: str, task_type: TaskType | str) -> str:
    """One LangGraph thread per (seed, task type); stable across runs."""
    return f"{seed_id}:{TaskType(task_type).value}"


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
    stages: list[str] = []
    if state.instance is not None:
        stages.append("generated")
    if state.verdict is not None and state.verdict.accepted:
        stages.append("accepted")
    if state.tests:
        stages.append("tested")
    if state.verification is not None:
        stages.append("executed")
    if state.verification and state.verification.get("pairs"):
        stages.append("pairs")
    return stages


def sft_row(state: SynthesisState) -> SFTRow | None:
    if state.status != "accepted" or state.instance is None or state.verdict is None:
        return None
    instance = state.instance
    user = prompt_text(state)
    return SFTRow(
        id=stable_id("sft", thread_id(state.seed.id, state.task_type)),
        task_type=state.task_type.value, task_name=instance.task_name, instruction=instance.instruction,
        input=instance.input, output=instance.output,
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": instance.output}],
        language=instance.language, provenance=provenance(state), verdict=state.verdict.model_dump(mode="json"),
        checks=state.checks.model_dump(mode="json") if state.checks else None, attempts=state.attempt,
        reviews=[review.model_dump(mode="json") for review in state.reviews],
    )


def dpo_rows(state: SynthesisState) -> list[DPORow]:
    if state.verification is None or state.instance is None or not (state.verdict and state.verdict.accepted):
        return []
    tid = thread_id(state.seed.id, state.task_type)
    rows = []
    for pair in state.verification.get("pairs", []):
        kind = pair.get("kind", "correctness")
        metadata = dict(pair.get("metadata") or {})
        metadata.update({key: value for key, value in pair.items()
                         if key not in ("prompt", "chosen", "rejected", "kind", "metadata")})
        rows.append(DPORow(
            id=stable_id("dpo", tid, pair["chosen"], pair["rejected"]), task_id=tid,
            task_type=state.task_type.value, kind=kind, prompt=prompt_text(state), chosen=pair["chosen"],
            rejected=pair["rejected"], metadata=metadata, provenance=provenance(state),
        ))
    return rows


def matrix_row(state: SynthesisState) -> MatrixRow | None:
    if state.verification is None or state.instance is None:
        return None
    tid = thread_id(state.seed.id, state.task_type)
    return MatrixRow(
        id=stable_id("matrix", tid), task_id=tid, task_type=state.task_type.value,
        language=state.instance.language, prompt=prompt_text(state), candidates=state.candidates,
        tests=state.tests, verification=state.verification,
        checks=state.checks.model_dump(mode="json") if state.checks else None,
        reviews=[review.model_dump(mode="json") for review in state.reviews],
    )


def ledger_row(state: SynthesisState, rows: dict[str, int], usage: dict[str, Any] | None = None) -> LedgerRow:
    tid = thread_id(state.seed.id, state.task_type)
    status = state.status if state.status != "running" else "failed"
    return LedgerRow(
        id=stable_id("ledger", tid), thread_id=tid, seed_id=state.seed.id, task_type=state.task_type.value,
        status=status, stages=funnel_stages(state), attempts=state.attempt,
        verdict_reasons=[reason for verdict in state.verdicts for reason in verdict.reasons],
        failures=[failure.model_dump() for failure in state.failures], rows=rows, usage=usage or {},
    )
