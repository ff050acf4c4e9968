"""Quality numbers of a synth run, per task type: how often the rubric accepts, whether the rubric agrees
with execution, whether the written tests hold, how often candidates pass, what an accepted row costs,
and how many candidates were suspect. They go into the report and the manifest of every run.

Read from the rows `synth` writes (`graphs.records`): the ledger (stages, verdicts), SFT rows (their
`checks`: the instance's own code against the trusted tests), matrix rows (the pass matrix, `suspect`,
and `checks` for every executed instance — rejected ones included where the run executed a sample of
them, see `rejected_checks`), and the manifest's usage.
"""

from __future__ import annotations

from typing import Any

from graphs.app.reports.synth_data import RunData, as_dict, as_list, as_number, task_types


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def quality(data: RunData) -> dict[str, dict[str, Any]]:
    """Per task type (and `all`): the numbers below; a number is None where nothing measured it.

    - `acceptance_rate`: accepted / judged threads.
    - `accepted_failing_execution`: accepted instances whose own code fails a trusted test (the rubric said
      yes, execution said no), over accepted instances that were executed.
    - `rejected_passing_execution`: rejected instances executed for this purpose (`rejected_executed` of them,
      `SynthSettings.rejected_sample`) whose code passes every trusted test (the rubric said no, execution
      said yes), over those executed.
    - `test_validity`: share of the tests written for accepted instances that the instance's reference passes.
    - `candidate_pass_rate`: share of the accepted instances' matrix cells that passed.
    - `suspect_candidates`: candidates flagged as forging primitives.
    - `calls_per_accepted`, `tokens_per_accepted`: model calls and tokens (prompt and completion) over
      accepted rows. Overall, from the usage of every run on the OUTDIR; per task type, from the ledger's
      per-thread usage where it is recorded, else only when the OUTDIR holds one task type.
    """
    tasks = task_types(data)
    table = {task: _numbers(data, task) for task in tasks}
    table["all"] = _numbers(data, None)
    calls, tokens = run_usage(data.manifest)
    per_task_usage = any(as_dict(row.get("usage")) for row in data.ledger)
    single = tasks if len(tasks) == 1 else []
    for name in ["all", *([] if per_task_usage else single)]:
        accepted = table[name]["accepted"]
        table[name]["calls_per_accepted"] = calls / accepted if calls is not None and accepted else None
        table[name]["tokens_per_accepted"] = tokens / accepted if tokens is not None and accepted else None
    return table


def run_usage(manifest: dict[str, Any]) -> tuple[float | None, float | None]:
    """Model calls and tokens of every run on the OUTDIR (`totals.usage`, else the latest run's `usage`): summed
    over the agents of a `UsageReport` dump, or read from a `total` entry."""
    usage = as_dict(as_dict(manifest.get("totals")).get("usage")) or as_dict(manifest.get("usage"))
    parts = [as_dict(agent) for agent in as_dict(usage.get("agents")).values()] or \
        [as_dict(usage.get("total")) or usage]
    calls = [as_number(part.get("calls")) for part in parts]
    tokens = [as_number(part.get("total_tokens")) or _sum_tokens(part) for part in parts]
    return (sum(c for c in calls if c is not None) if any(c is not None for c in calls) else None,
            sum(t for t in tokens if t is not None) if any(t is not None for t in tokens) else None)


def _sum_tokens(totals: dict[str, Any]) -> float | None:
    parts = [as_number(totals.get(key)) for key in ("prompt_tokens", "completion_tokens")]
    return sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None


def _numbers(data: RunData, task: str | None) -> dict[str, Any]:
    def mine(row: dict[str, Any]) -> bool:
        return task is None or row.get("task_type") == task

    judged = [r for r in data.ledger if mine(r) and "generated" in as_list(r.get("stages"))]
    accepted = [r for r in judged if "accepted" in as_list(r.get("stages"))]
    # Execution follows acceptance: every matrix row but the rejected sample is an accepted instance.
    executed = [r for r in data.matrix if mine(r) and not r.get("rejected_sample")]
    accepted_checks = [as_dict(r.get("checks")) for r in executed if r.get("checks")]
    failing = sum(c.get("ok") is False for c in accepted_checks)
    rejected = [as_dict(r.get("checks")) for r in data.matrix
                if mine(r) and r.get("rejected_sample") and r.get("checks")]
    passing_rejected = sum(c.get("ok") is True for c in rejected)
    written = sum(as_number(as_dict(r.get("checks")).get("tests_total")) or 0 for r in executed)
    held = sum(as_number(as_dict(r.get("checks")).get("reference_passes")) or 0 for r in executed)
    cells = [cell for r in executed for row in as_list(as_dict(r.get("verification")).get("matrix"))
             for cell in as_list(row)]
    suspects = sum(reason is not None for r in data.matrix if mine(r)
                   for reason in as_list(as_dict(r.get("verification")).get("suspect")))
    per_thread = [as_dict(r.get("usage")) for r in data.ledger if mine(r)]
    calls = sum(as_number(u.get("calls")) or 0 for u in per_thread)
    tokens = sum(as_number(u.get("total_tokens")) or _sum_tokens(u) or 0 for u in per_thread)
    return {
        "judged": len(judged), "accepted": len(accepted),
        "acceptance_rate": _share(len(accepted), len(judged)),
        "accepted_failing_execution": _share(failing, len(accepted_checks)),
        "rejected_executed": len(rejected), "rejected_passing_execution": _share(passing_rejected, len(rejected)),
        "test_validity": _share(int(held), int(written)),
        "candidate_pass_rate": _share(sum(cell == "passed" for cell in cells), len(cells)),
        "suspect_candidates": suspects,
        "calls_per_accepted": calls / len(accepted) if calls and accepted else None,
        "tokens_per_accepted": tokens / len(accepted) if tokens and accepted else None,
    }
