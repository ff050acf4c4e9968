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
    - `rejected_passing_execution`: rejected instances executed for this purpose whose code passes every
      trusted test (the rubric said no, execution said yes), over those executed.
    - `test_validity`: share of written tests the instance's reference passes.
    - `candidate_pass_rate`: share of matrix cells that passed.
    - `suspect_candidates`: candidates flagged as forging primitives.
    - `calls_per_accepted`, `tokens_per_accepted`: model calls and tokens over accepted rows.
    """
    tasks = task_types(data)
    table = {task: _numbers(data, task) for task in tasks}
    table["all"] = _numbers(data, None)
    usage = as_dict(data.manifest.get("usage"))
    totals = as_dict(usage.get("total")) or usage
    calls = as_number(totals.get("calls"))
    tokens = as_number(totals.get("total_tokens")) or _sum_tokens(totals)
    accepted = table["all"]["accepted"]
    table["all"]["calls_per_accepted"] = calls / accepted if calls is not None and accepted else None
    table["all"]["tokens_per_accepted"] = tokens / accepted if tokens is not None and accepted else None
    return table


def _sum_tokens(totals: dict[str, Any]) -> float | None:
    parts = [as_number(totals.get(key)) for key in ("prompt_tokens", "completion_tokens")]
    return sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None


def _numbers(data: RunData, task: str | None) -> dict[str, Any]:
    def mine(row: dict[str, Any]) -> bool:
        return task is None or row.get("task_type") == task

    judged = [r for r in data.ledger if mine(r) and "generated" in as_list(r.get("stages"))]
    accepted = [r for r in judged if "accepted" in as_list(r.get("stages"))]
    # Execution follows acceptance: every matrix row but the rejected sample is an accepted instance.
    accepted_checks = [as_dict(r.get("checks")) for r in data.matrix
                       if mine(r) and not r.get("rejected_sample") and r.get("checks")]
    failing = sum(c.get("ok") is False for c in accepted_checks)
    rejected = [as_dict(r.get("checks")) for r in data.matrix
                if mine(r) and r.get("rejected_sample") and r.get("checks")]
    passing_rejected = sum(bool(c.get("ok")) for c in rejected)
    written = sum(as_number(as_dict(r.get("checks")).get("tests_total")) or 0 for r in data.matrix if mine(r))
    held = sum(as_number(as_dict(r.get("checks")).get("reference_passes")) or 0 for r in data.matrix if mine(r))
    cells = [cell for r in data.matrix if mine(r)
             for row in as_list(as_dict(r.get("verification")).get("matrix")) for cell in as_list(row)]
    suspects = sum(reason is not None for r in data.matrix if mine(r)
                   for reason in as_list(as_dict(r.get("verification")).get("suspect")))
    per_thread = [as_dict(r.get("usage")) for r in data.ledger if mine(r)]
    calls = sum(as_number(u.get("calls")) or 0 for u in per_thread)
    tokens = sum(as_number(u.get("total_tokens")) or 0 for u in per_thread)
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
