"""Preference pairs in TRL's prompt/chosen/rejected shape, from a scored pass matrix and timings.

- correctness: the top-scored candidate against the lowest-scored ones, only where the score gap is
  real (at least `min_score_gap`; scores are in [0, 1]) and the programs differ.
- efficiency: among candidates that pass every trusted test, the fastest against the slowest ones,
  only where the speed-up is clearly not noise (`efficiency.clearly_faster`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.verification.efficiency import Efficiency, clearly_faster


class PreferencePair(BaseModel):
    """One TRL preference record; extra fields are metadata TRL passes through."""

    prompt: str
    chosen: str
    rejected: str
    kind: Literal["correctness", "efficiency"]
    metadata: dict[str, Any] = Field(default_factory=dict)


def correctness_pairs(prompt: str, candidates: list[str], scores: list[float], ranker: str,
                      min_score_gap: float, limit: int, best: int | None = None,
                      suspect: list[str | None] | None = None) -> list[PreferencePair]:
    """The top candidate (`best`, by default the highest score) against the lowest-scored ones. A suspect
    candidate is never chosen; as the rejected side its reason goes into the metadata."""
    suspect = suspect or [None] * len(candidates)
    if best is None:
        eligible = [i for i in range(len(candidates)) if suspect[i] is None]
        best = max(eligible, key=lambda i: (scores[i], -i)) if eligible else None
    if best is None or limit < 1 or suspect[best] is not None:
        return []
    pairs: list[PreferencePair] = []
    used: set[str] = {candidates[best]}
    for worst in sorted(range(len(candidates)), key=lambda i: (scores[i], i)):
        if len(pairs) >= limit or scores[best] - scores[worst] < min_score_gap:
            break
        if candidates[worst] in used:
            continue
        used.add(candidates[worst])
        pairs.append(PreferencePair(
            prompt=prompt, chosen=candidates[best], rejected=candidates[worst], kind="correctness",
            metadata={"ranker": ranker, "chosen_index": best, "rejected_index": worst,
                      "chosen_score": scores[best], "rejected_score": scores[worst],
                      "rejected_suspect": suspect[worst]},
        ))
    return pairs


def efficiency_pairs(prompt: str, candidates: list[str], efficiency: Efficiency, min_time_gap_s: float,
                     limit: int) -> list[PreferencePair]:
    timings = {i: timing for i in efficiency.timed_candidates if (timing := efficiency.timings[i]) is not None}
    if len(timings) < 2 or limit < 1:
        return []
    by_speed = sorted(timings, key=lambda i: timings[i].median_s)
    fast = by_speed[0]
    pairs: list[PreferencePair] = []
    used: set[str] = {candidates[fast]}
    for slow in reversed(by_speed[1:]):
        fast_t, slow_t = timings[fast], timings[slow]
        if len(pairs) >= limit or not clearly_faster(fast_t, slow_t, efficiency.min_speedup, min_time_gap_s):
            break
        if candidates[slow] in used:
            continue
        used.add(candidates[slow])
        pairs.append(PreferencePair(
            prompt=prompt, chosen=candidates[fast], rejected=candidates[slow], kind="efficiency",
            metadata={"chosen_index": fast, "rejected_index": slow, "chosen_median_s": fast_t.median_s,
                      "rejected_median_s": slow_t.median_s,
                      "speedup": slow_t.median_s / fast_t.median_s if fast_t.median_s > 0 else None,
                      "clock": efficiency.clock, "repeats": efficiency.repeats,
                      "trusted_tests": efficiency.trusted_tests},
        ))
    return pairs
