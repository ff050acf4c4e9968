"""The few-shot pool: persisted per task type, append-only, de-duplicated, torn-line tolerant."""

from __future__ import annotations

import json
from pathlib import Path

from graphs.pool import FewShotPool
from graphs.state import Instance, RubricCheck, TaskType, Verdict


def instance(number: int, task_type: TaskType = TaskType.GENERATION) -> Instance:
    return Instance(task_type=task_type, task_name=f"task {number}", instruction=f"Write f{number}.",
                    output=f"def f{number}():\n    return {number}\n", entry_point=f"f{number}")


def verdict(accepted: bool, source: str = "model") -> Verdict:
    check = RubricCheck(name="related", passed=accepted, reason="ok" if accepted else "unrelated")
    return Verdict(checks=[check], accepted=accepted, analysis=f"{source} says {accepted}", source=source)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_verdicts_persist_per_task_type_across_pools(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    pool.add(instance(1), verdict(True))
    pool.add(instance(2), verdict(False))
    pool.add(instance(3, TaskType.SUMMARIZATION), verdict(True))
    assert len(lines(tmp_path / "generation.jsonl")) == 2
    assert len(lines(tmp_path / "summarization.jsonl")) == 1

    reopened = FewShotPool(tmp_path)
    examples = reopened.examples(TaskType.GENERATION, good=5, bad=5)
    assert [(e.instance.task_name, e.verdict.accepted) for e in examples] == [("task 1", True), ("task 2", False)]
    assert reopened.counts()["summarization"] == {"instances": 1, "accepted": 1, "rejected": 0}


def test_the_same_instance_is_stored_once(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    assert pool.add(instance(1), verdict(True)) is True
    assert pool.add(instance(1), verdict(False)) is False  # same instance, same kind of judge
    assert FewShotPool(tmp_path).add(instance(1), verdict(True)) is False  # across runs too
    assert len(lines(tmp_path / "generation.jsonl")) == 1


def test_a_human_verdict_overrides_the_model_and_comes_first(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    for number in range(6):
        pool.add(instance(number), verdict(True))
    pool.add(instance(4), verdict(False, "human"))  # a person disagrees with the model
    pool.add(instance(5), verdict(True, "human"))
    entries = {e.instance.task_name: e.verdict for e in FewShotPool(tmp_path).entries(TaskType.GENERATION)}
    assert len(entries) == 6
    assert entries["task 4"].source == "human" and not entries["task 4"].accepted
    for seed in range(5):
        examples = pool.examples(TaskType.GENERATION, good=2, bad=1, rng_seed=seed)
        assert examples[0].instance.task_name == "task 5"  # the human-approved one leads the good ones
        assert examples[-1].instance.task_name == "task 4" and not examples[-1].verdict.accepted


def test_examples_are_bounded_and_reproducible_per_seed(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    for number in range(20):
        pool.add(instance(number), verdict(number % 3 != 0))
    first = pool.examples(TaskType.GENERATION, good=2, bad=1, rng_seed=7)
    again = FewShotPool(tmp_path).examples(TaskType.GENERATION, good=2, bad=1, rng_seed=7)
    assert [e.hash for e in first] == [e.hash for e in again]
    assert [e.verdict.accepted for e in first] == [True, True, False]
    draws = {tuple(e.hash for e in pool.examples(TaskType.GENERATION, good=2, bad=1, rng_seed=s))
             for s in range(10)}
    assert len(draws) > 1  # different seeds see different examples
    assert pool.examples(TaskType.GENERATION, good=0, bad=0) == []
    assert pool.examples(TaskType.REPAIR) == []  # nothing judged yet: no file, no error


def test_a_torn_last_line_is_skipped_and_never_glued_to(tmp_path: Path) -> None:
    pool = FewShotPool(tmp_path)
    pool.add(instance(1), verdict(True))
    path = tmp_path / "generation.jsonl"
    with path.open("a") as handle:
        handle.write('{"hash": "abc", "instance": {"task_ty')  # the process died mid-write
    reopened = FewShotPool(tmp_path)
    assert len(reopened.entries(TaskType.GENERATION)) == 1
    assert reopened.add(instance(2), verdict(False))
    records = lines(path)
    assert len(records) == 3
    assert json.loads(records[2])["instance"]["task_name"] == "task 2"
    assert len(FewShotPool(tmp_path).entries(TaskType.GENERATION)) == 2
