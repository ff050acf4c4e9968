"""The human-in-the-loop node: a person's verdict, through LangGraph's `interrupt`."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graphs.context import RunContext
from graphs.state import RubricCheck, SynthesisState, Verdict


async def human_review(state: SynthesisState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Pause for a person's verdict (LangGraph `interrupt`); resume with {"accepted": bool, "reason": str}.

    Anything else (e.g. {"skip": true}) keeps the model's verdict. A human verdict goes into the few-shot
    pool like the discriminator's, marked as human.
    """
    if state.instance is None:
        return {}
    answer = interrupt({"instance": state.instance.model_dump(mode="json"),
                        "verdict": state.verdict.model_dump(mode="json") if state.verdict else None,
                        "checks": state.checks.model_dump(mode="json") if state.checks else None})
    if not isinstance(answer, dict) or "accepted" not in answer:
        return {}
    reason = str(answer.get("reason") or ("accepted by a person" if answer["accepted"] else "rejected by a person"))
    verdict = Verdict(checks=[RubricCheck(name="human", passed=bool(answer["accepted"]), reason=reason)],
                      accepted=bool(answer["accepted"]), analysis=reason, source="human")
    if runtime.context.pool is not None:
        runtime.context.pool.add(state.instance, verdict)
    return {"verdict": verdict, "verdicts": [verdict]}
