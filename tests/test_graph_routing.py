"""The synthesis graph's routing and the batch runner, with scripted agents (no LLM, no sandbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from graphs.batch import BatchRunner, choose_task_type
from graphs.context import RunContext, SynthSettings
from graphs.slots import Roster, validate_roster
from graphs.state import ExecutionChecks, Instance, RubricCheck, SeedInput, SynthesisState, TaskType, Verdict
from graphs.synthesis import draw
from tools.errors import ConfigError, LLMError
from tools.verification import Efficiency, PreferencePair, VerifyResult


class ScriptedGenerator:
    name: ClassVar[str] = "scripted-generator"
    slot: ClassVar[str] = "generator"
    reads: ClassVar[frozenset[str]] = frozenset({"seed", "task_type", "feedback"})
    writes: ClassVar[frozenset[str]] = frozenset({"instance", "attempt"})
    sample_writes: ClassVar[frozenset[str]] = frozenset({"candidates"})

    def __init__(self, fail_for: set[str] = frozenset(), llm_down: bool = False) -> None:
        self.fail_for, self.llm_down, self.calls = fail_for, llm_down, 0

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.calls += 1
        if self.llm_down:
            raise LLMError("http://127.0.0.1:1/v1 (model m): connection refused")
        if state.seed.id in self.fail_for:
            return {"attempt": state.attempt + 1}  # the agent gave up: no instance
        instance = Instance(task_type=state.task_type, task_name=f"t{state.attempt}", instruction="Write f.",
                            output="def f():\n    return 1\n", entry_point="f")
        return {"instance": instance, "attempt": state.attempt + 1}

    async def sample(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        return {"candidates": ["def f():\n    return 1\n", "def f():\n    return 2\n"]}


class ScriptedDiscriminator:
    """Rejects the first `reject_first` attempts of every thread."""

    name: ClassVar[str] = "scripted-discriminator"
    slot: ClassVar[str] = "discriminator"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"verdict", "feedback"})

    def __init__(self, reject_first: int = 0) -> None:
        self.reject_first = reject_first

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        ok = state.attempt > self.reject_first
        check = RubricCheck(name="related", passed=ok, reason="fine" if ok else "solution unrelated")
        verdict = Verdict(checks=[check], accepted=ok)
        return {"verdict": verdict, "feedback": verdict.reasons}


class ScriptedTestWriter:
    name: ClassVar[str] = "scripted-test-writer"
    slot: ClassVar[str] = "test_writer"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"tests"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        return {"tests": ["assert f() == 1"]}


class ScriptedExecutor:
    name: ClassVar[str] = "scripted-executor"
    slot: ClassVar[str] = "executor"
    reads: ClassVar[frozenset[str]] = frozenset({"candidates", "tests"})
    writes: ClassVar[frozenset[str]] = frozenset({"verification", "checks"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        pair = PreferencePair(prompt="Write f.", chosen=state.candidates[0], rejected=state.candidates[1],
                              kind="correctness")
        verification = VerifyResult(
            task_id=state.thread_id, prompt="Write f.", language="python", candidates=state.candidates,
            tests=state.tests, matrix=[["passed"], ["failed"]], exec_s=[[0.0], [0.0]], errors=[[None], [None]],
            scores={"pagerank": [1.0, 0.0]}, test_scores={"pagerank": [1.0]}, ranker="pagerank", top_candidate=0,
            efficiency=Efficiency(), pairs=[pair], timing_s={})
        return {"verification": verification, "checks": ExecutionChecks(reference_passes=1, tests_total=1, ok=True)}


def roster(**overrides: Any) -> Roster:
    parts = {"generator": ScriptedGenerator(), "discriminator": ScriptedDiscriminator(),
             "test_writer": ScriptedTestWriter(), "executor": ScriptedExecutor()}
    parts.update(overrides)
    return Roster(**parts)


def context(**settings: Any) -> RunContext:
    mix = {TaskType.GENERATION: 1.0, TaskType.SUMMARIZATION: 0.0, TaskType.REPAIR: 0.0, TaskType.TRANSLATION: 0.0}
    return RunContext(settings=SynthSettings(task_mix=mix, **settings), llm=None, sandbox=None, pool=None)


def seeds(n: int) -> list[SeedInput]:
    return [SeedInput(id=f"s{i}", code=f"def f{i}():\n    return {i}\n") for i in range(n)]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_accepted_first_time_writes_every_row(tmp_path: Path) -> None:
    stats = await BatchRunner(roster(), context(), tmp_path).run(seeds(3))
    assert len(rows(tmp_path / "sft.jsonl")) == 3
    assert len(rows(tmp_path / "dpo.jsonl")) == 3
    assert len(rows(tmp_path / "matrix.jsonl")) == 3
    ledger = rows(tmp_path / "ledger.jsonl")
    assert {row["status"] for row in ledger} == {"accepted"}
    assert ledger[0]["stages"] == ["generated", "accepted", "tested", "executed", "pairs"]
    assert stats.funnel["pairs"]["generation"] == 3


async def test_rejected_then_accepted_records_attempts(tmp_path: Path) -> None:
    await BatchRunner(roster(discriminator=ScriptedDiscriminator(reject_first=1)), context(), tmp_path).run(seeds(1))
    (sft,) = rows(tmp_path / "sft.jsonl")
    assert sft["attempts"] == 2


async def test_gives_up_after_the_attempt_bound(tmp_path: Path) -> None:
    generator = ScriptedGenerator()
    runner = BatchRunner(roster(generator=generator, discriminator=ScriptedDiscriminator(reject_first=99)),
                         context(max_attempts=3), tmp_path)
    await runner.run(seeds(1))
    assert generator.calls == 3
    (ledger,) = rows(tmp_path / "ledger.jsonl")
    assert ledger["status"] == "rejected" and ledger["verdict_reasons"] == ["related: solution unrelated"] * 3
    assert rows(tmp_path / "sft.jsonl") == []


async def test_a_generator_that_never_answers_is_bounded_too(tmp_path: Path) -> None:
    generator = ScriptedGenerator(fail_for={"s0"})
    await BatchRunner(roster(generator=generator), context(max_attempts=2), tmp_path).run(seeds(2))
    statuses = {row["seed_id"]: row["status"] for row in rows(tmp_path / "ledger.jsonl")}
    assert statuses == {"s0": "failed", "s1": "accepted"}
    assert generator.calls == 3


async def test_rerun_writes_no_duplicates(tmp_path: Path) -> None:
    await BatchRunner(roster(), context(), tmp_path).run(seeds(2))
    stats = await BatchRunner(roster(), context(), tmp_path).run(seeds(4))
    assert stats.skipped == 2
    ids = [row["id"] for row in rows(tmp_path / "sft.jsonl")]
    assert len(ids) == 4 and len(set(ids)) == 4


async def test_unreachable_model_stops_the_run_and_records_nothing(tmp_path: Path) -> None:
    runner = BatchRunner(roster(generator=ScriptedGenerator(llm_down=True)), context(max_attempts=1), tmp_path,
                         concurrency=1, max_consecutive_llm_failures=2)
    with pytest.raises(LLMError, match="re-run to resume"):
        await runner.run(seeds(5))
    assert rows(tmp_path / "ledger.jsonl") == []
    stats = await BatchRunner(roster(), context(), tmp_path).run(seeds(5))  # the model is back: all 5 run
    assert stats.status["accepted"] == 5


def test_task_mix_is_deterministic_and_follows_weights() -> None:
    settings = SynthSettings()
    many = [SeedInput(id=f"seed-{i}", code="x = 1") for i in range(2000)]
    first = [choose_task_type(seed, settings) for seed in many]
    assert first == [choose_task_type(seed, settings) for seed in many]
    share = first.count(TaskType.GENERATION) / len(first)
    assert 0.52 < share < 0.62
    go_seed = SeedInput(id="g", code="package main", language="go")
    assert all(choose_task_type(go_seed, SynthSettings(seed=s)) != TaskType.TRANSLATION for s in range(50))


def test_validation_names_the_culprit() -> None:
    class Reviewer:
        name: ClassVar[str] = "scripted-generator"
        slot: ClassVar[str] = "reviewer"
        reads: ClassVar[frozenset[str]] = frozenset({"verification"})
        writes: ClassVar[frozenset[str]] = frozenset({"reviews"})
        distribution = "my-plugin"

        async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
            return {}

    with pytest.raises(ConfigError, match=r"duplicate agent name 'scripted-generator'.*my-plugin"):
        validate_roster(roster(reviewers=[Reviewer()]))

    class Lonely(ScriptedTestWriter):
        name: ClassVar[str] = "lonely"
        reads: ClassVar[frozenset[str]] = frozenset({"checks"})

    with pytest.raises(ConfigError, match=r"'lonely'.*reads checks, which no agent writes"):
        validate_roster(roster(test_writer=Lonely(), executor=_WritesNothing()))

    class NoSample:
        name = "nosample"
        reads = frozenset()
        writes = frozenset()

        async def __call__(self, state, ctx):
            return {}

    with pytest.raises(ConfigError, match="no `sample` method"):
        validate_roster(roster(generator=NoSample()))


class _WritesNothing(ScriptedExecutor):
    name: ClassVar[str] = "writes-nothing"
    writes: ClassVar[frozenset[str]] = frozenset({"verification"})


def test_graph_draws_as_mermaid() -> None:
    text = draw(roster())
    for node in ("generate", "discriminate", "write_tests", "sample", "execute", "finalize"):
        assert node in text


async def test_human_review_pauses_and_the_person_decides(tmp_path: Path) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from graphs.pool import FewShotPool
    from graphs.synthesis import compile_graph

    ctx = context()
    ctx.pool = FewShotPool(tmp_path / "pool")
    app = compile_graph(roster(), InMemorySaver(), human=True)
    config = {"configurable": {"thread_id": "chat-1"}}
    start = SynthesisState(seed=SeedInput(id="s", code="x"), task_type=TaskType.GENERATION)
    paused = await app.ainvoke(start, config, context=ctx)
    (pending,) = paused["__interrupt__"]
    assert pending.value["instance"]["task_name"] == "t0" and pending.value["checks"]["ok"] is True
    final = SynthesisState.model_validate(await app.ainvoke(
        Command(resume={"accepted": False, "reason": "too trivial"}), config, context=ctx))
    assert final.status == "rejected" and final.verdict.source == "human"
    (entry,) = ctx.pool.entries(TaskType.GENERATION)
    assert entry.verdict.source == "human" and entry.verdict.analysis == "too trivial"


class CountingReviewer:
    name: ClassVar[str] = "counting-reviewer"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"verification"})
    writes: ClassVar[frozenset[str]] = frozenset({"reviews"})

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        self.calls += 1
        return {}


async def test_a_rejected_instance_in_the_sample_is_executed_but_yields_no_training_rows(tmp_path: Path) -> None:
    reviewer = CountingReviewer()
    parts = roster(discriminator=ScriptedDiscriminator(reject_first=99), reviewers=[reviewer])
    await BatchRunner(parts, context(max_attempts=2, rejected_sample=1.0), tmp_path).run(seeds(2))
    assert rows(tmp_path / "sft.jsonl") == [] and rows(tmp_path / "dpo.jsonl") == []  # its pairs are not data
    matrices = rows(tmp_path / "matrix.jsonl")
    assert len(matrices) == 2 and all(row["rejected_sample"] is True and row["checks"]["ok"] for row in matrices)
    for ledger in rows(tmp_path / "ledger.jsonl"):
        assert ledger["status"] == "rejected" and ledger["attempts"] == 2
        assert ledger["stages"] == ["generated"]  # the funnel counts no execution, no pairs
        assert ledger["rows"] == {"sft": 0, "dpo": 0, "matrix": 1}
    assert reviewer.calls == 0  # measured, not reviewed


async def test_the_sample_is_only_the_final_rejection_of_executable_instances(tmp_path: Path) -> None:
    # Accepted at the second attempt: the first rejection is not probed, and the matrix is an accepted one.
    await BatchRunner(roster(discriminator=ScriptedDiscriminator(reject_first=1)),
                      context(rejected_sample=1.0), tmp_path / "a").run(seeds(1))
    (matrix,) = rows(tmp_path / "a" / "matrix.jsonl")
    assert matrix["rejected_sample"] is False and len(rows(tmp_path / "a" / "sft.jsonl")) == 1
    # A summary has nothing to execute.
    summaries = context(max_attempts=1, rejected_sample=1.0)
    summaries.settings.task_mix = {task: float(task is TaskType.SUMMARIZATION) for task in TaskType}
    await BatchRunner(roster(discriminator=ScriptedDiscriminator(reject_first=99)), summaries,
                      tmp_path / "s").run(seeds(2))
    assert rows(tmp_path / "s" / "matrix.jsonl") == []
    # A share of 0 probes nothing.
    await BatchRunner(roster(discriminator=ScriptedDiscriminator(reject_first=99)),
                      context(max_attempts=1, rejected_sample=0.0), tmp_path / "z").run(seeds(3))
    assert rows(tmp_path / "z" / "matrix.jsonl") == []


def test_the_rejected_sample_is_a_stable_share_of_thread_ids() -> None:
    from graphs.routing import in_rejected_sample

    ids = [f"seed-{i}:generation" for i in range(4000)]
    chosen = [tid for tid in ids if in_rejected_sample(tid, 0.1)]
    assert chosen == [tid for tid in ids if in_rejected_sample(tid, 0.1)]  # the same choice on every run
    assert 0.08 < len(chosen) / len(ids) < 0.12
    assert set(chosen) <= {tid for tid in ids if in_rejected_sample(tid, 0.3)}  # a larger share adds threads
    assert not any(in_rejected_sample(tid, 0.0) for tid in ids) and all(in_rejected_sample(tid, 1.0) for tid in ids)


def test_a_person_reviewing_every_instance_gets_every_rejection() -> None:
    from graphs.synthesis import compile_graph

    assert "probe_rejected" not in compile_graph(roster(), human=True).get_graph().nodes
    assert "probe_rejected" in compile_graph(roster()).get_graph().nodes
