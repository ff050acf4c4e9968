"""Preference pairs: only real score gaps and speed-ups that cannot be noise become pairs."""

from __future__ import annotations

from tools.sandbox.models import CheckResult, Status
from tools.verification.efficiency import Timing, clearly_faster, summarise
from tools.verification.pairs import correctness_pairs, efficiency_pairs


def timing(*runs: float) -> Timing:
    ordered = sorted(runs)
    return Timing(runs_s=list(runs), median_s=ordered[len(ordered) // 2], min_s=ordered[0], max_s=ordered[-1])


def test_correctness_pair_is_best_against_worst_with_metadata() -> None:
    pairs = correctness_pairs("p", ["a", "b", "c"], [0.2, 0.9, 0.0], "bayes", 0.5, limit=1)
    assert len(pairs) == 1
    record = pairs[0].model_dump()
    assert (record["prompt"], record["chosen"], record["rejected"], record["kind"]) == ("p", "b", "c", "correctness")
    assert record["metadata"] == {"ranker": "bayes", "chosen_index": 1, "rejected_index": 2,
                                  "chosen_score": 0.9, "rejected_score": 0.0, "rejected_suspect": None}


def test_no_correctness_pair_without_a_real_gap_or_between_identical_programs() -> None:
    assert correctness_pairs("p", ["a", "b"], [0.7, 0.4], "bayes", 0.5, limit=1) == []
    assert correctness_pairs("p", ["a", "a"], [1.0, 0.0], "bayes", 0.5, limit=1) == []
    assert correctness_pairs("p", [], [], "bayes", 0.5, limit=1) == []


def test_more_correctness_pairs_take_the_next_lowest() -> None:
    pairs = correctness_pairs("p", ["a", "b", "c", "d"], [1.0, 0.0, 0.1, 0.8], "max_pass", 0.5, limit=3)
    assert [p.rejected for p in pairs] == ["b", "c"]


def test_overlapping_runs_are_not_faster_even_with_a_large_median_ratio() -> None:
    assert clearly_faster(timing(1.0, 1.1, 1.2), timing(2.0, 2.1, 2.2), 1.3, 0.0)
    assert not clearly_faster(timing(1.0, 1.1, 3.0), timing(2.0, 2.1, 2.2), 1.3, 0.0)  # one slow outlier
    assert not clearly_faster(timing(1.0, 1.0, 1.0), timing(1.2, 1.2, 1.2), 1.3, 0.0)  # below min speedup
    assert not clearly_faster(timing(1e-6, 1e-6, 1e-6), timing(5e-6, 5e-6, 5e-6), 1.3, 1e-4)  # too small


def test_summarise_and_efficiency_pair() -> None:
    ok = lambda s: CheckResult(status=Status.PASSED, cpu_s=s, exec_s=1.0)  # noqa: E731 (cpu time counts)
    # repeat-major: (cand 0, cand 2) × 3 repeats; candidate 1 is not timed
    runs = [ok(0.010), ok(0.050), ok(0.011), ok(0.052), ok(0.012), ok(0.049)]
    efficiency = summarise(3, [0, 2], runs, repeats=3, trusted_tests=[0, 1], min_speedup=1.3)
    assert efficiency.timings[1] is None
    assert efficiency.timings[0].median_s == 0.011 and efficiency.timings[2].median_s == 0.050
    assert (efficiency.fastest, efficiency.slowest) == (0, 2)
    assert abs(efficiency.speedup - 0.050 / 0.011) < 1e-9
    pairs = efficiency_pairs("p", ["fast", "x", "slow"], efficiency, 1e-4, limit=1)
    assert [(p.chosen, p.rejected, p.kind) for p in pairs] == [("fast", "slow", "efficiency")]
    assert pairs[0].metadata["chosen_median_s"] == 0.011


def test_a_candidate_with_a_failed_timing_run_is_not_timed() -> None:
    runs = [CheckResult(status=Status.PASSED, exec_s=0.01), CheckResult(status=Status.TIMEOUT, exec_s=5.0)]
    efficiency = summarise(2, [0, 1], runs, repeats=1, trusted_tests=[0], min_speedup=1.3, clock="exec")
    assert efficiency.timings[1] is None and efficiency.fastest == 0
    assert efficiency_pairs("p", ["a", "b"], efficiency, 0.0, limit=1) == []
