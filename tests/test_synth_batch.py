"""The batch runner's guarantees, with scripted agents (no LLM, no sandbox): one failing thread never stops the
others, infrastructure leaves threads unfinished (the sandbox only for a bounded number of runs), the circuit
breaker reacts to every endpoint failure class, plug-ins keep to their declared writes, `--retry-failed`
supersedes a thread's rows, task types never change on resume, one writer per OUTDIR, live events through
LangGraph's custom stream."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from graphs.batch import BatchRunner
from graphs.breaker import EndpointsFailing, SandboxFailing
from graphs.context import Event, RunContext, SynthSettings
from graphs.outdir_lock import OutdirBusy, OutdirLock
from graphs.scheduler import BoundedScheduler, threads_for
from graphs.state import Review, SeedInput, SynthesisState, TaskType
from tests.fakes import outdir_held_elsewhere
from tests.test_graph_routing import ScriptedExecutor, ScriptedGenerator, roster, rows, seeds
from tools.errors import (
    AuthFailed,
    ConfigError,
    ContextLengthExceeded,
    EndpointUnreachable,
    RequestRejected,
    RoleOrderRejected,
    SandboxError,
    Transient,
    UnknownModel,
)

ROOT = Path(__file__).resolve().parent.parent


def context(**settings: Any) -> RunContext:
    mix = {TaskType.GENERATION: 1.0, TaskType.SUMMARIZATION: 0.0, TaskType.REPAIR: 0.0, TaskType.TRANSLATION: 0.0}
    return RunContext(settings=SynthSettings(**{"task_mix": mix, **settings}), llm=None, sandbox=None, pool=None)


class Exploding(ScriptedGenerator):
    """Raises `error` for the seeds in `bad`, like a buggy plug-in or a validation that overflows."""

    def __init__(self, bad: set[str], error: BaseException) -> None:
        super().__init__()
        self.bad, self.error = bad, error

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        if state.seed.id in self.bad:
            raise self.error
        return await super().__call__(state, ctx)


class FlakyExecutor(ScriptedExecutor):
    """The sandbox loses every check of the seeds in `lost` (SandboxError out of the executor)."""

    def __init__(self, lost: set[str]) -> None:
        self.lost = lost

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        if state.seed.id in self.lost:
            raise SandboxError("sandbox worker lost twice during this check")
        return await super().__call__(state, ctx)


def ledger(outdir: Path) -> dict[str, dict]:
    return {row["seed_id"]: row for row in rows(outdir / "ledger.jsonl")}


class ExplodingReviewer:
    """A plug-in reviewer that raises `error` for the seeds in `bad` (it runs beside nothing: after execution)."""

    name: ClassVar[str] = "exploding"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"reviews"})

    def __init__(self, bad: set[str], error: BaseException) -> None:
        self.bad, self.error = bad, error

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        if state.seed.id in self.bad:
            raise self.error
        return {"reviews": [Review(reviewer=self.name, notes="fine")]}


THREAD_ERRORS = [RecursionError("maximum recursion depth exceeded"), MemoryError(), KeyError("instance"),
                 ZeroDivisionError("division by zero"), SystemExit(0), SystemExit(3),
                 asyncio.CancelledError("a plug-in's own cancellation, not the batch's")]


@pytest.mark.parametrize("error", THREAD_ERRORS, ids=repr)
async def test_any_exception_in_one_thread_is_that_threads_failure(tmp_path: Path, error: BaseException) -> None:
    runner = BatchRunner(roster(generator=Exploding({"s1"}, error)), context(max_attempts=2), tmp_path, concurrency=3)
    stats = await runner.run(seeds(4))
    statuses = {seed: row["status"] for seed, row in ledger(tmp_path).items()}
    assert statuses == {"s0": "accepted", "s1": "failed", "s2": "accepted", "s3": "accepted"}
    failure = ledger(tmp_path)["s1"]["failures"][0]
    assert failure["error_type"] == type(error).__name__ and failure["stage"] == "generate"
    assert type(error).__name__ in failure["message"]
    assert stats.status == {"accepted": 3, "failed": 1}
    assert len(rows(tmp_path / "sft.jsonl")) == 3 and len(rows(tmp_path / "dpo.jsonl")) == 3


@pytest.mark.parametrize("error", [SystemExit(0), SystemExit(3), MemoryError()], ids=repr)
async def test_a_plug_in_raising_beside_a_parallel_branch_fails_only_its_thread(tmp_path: Path,
                                                                               error: BaseException) -> None:
    """The same, from a plug-in node that LangGraph runs as its own task (two reviewers run in parallel)."""
    reviewers = [ExplodingReviewer({"s0", "s2"}, error), BadValueReviewer()]
    stats = await BatchRunner(roster(reviewers=reviewers), context(), tmp_path, concurrency=2).run(seeds(4))
    assert stats.status == {"accepted": 4}  # a reviewer's failure is recorded; it does not reject the instance
    failures = {seed: row["failures"] for seed, row in ledger(tmp_path).items()}
    for seed in ("s0", "s2"):
        (raised,) = [failure for failure in failures[seed] if failure["agent"] == "exploding"]
        assert raised["error_type"] == type(error).__name__ and raised["stage"] == "review_exploding"
    assert not any(failure["agent"] == "exploding" for failure in failures["s1"] + failures["s3"])
    assert len(rows(tmp_path / "sft.jsonl")) == 4 and len(rows(tmp_path / "dpo.jsonl")) == 4


class SelfCancelling(ScriptedGenerator):
    """Cancels its own task for the seeds in `bad`: a cancellation the batch never asked for."""

    def __init__(self, bad: set[str]) -> None:
        super().__init__()
        self.bad = bad

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        if state.seed.id in self.bad:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)
        return await super().__call__(state, ctx)


async def test_a_plug_in_that_cancels_its_own_task_fails_only_its_thread(tmp_path: Path) -> None:
    stats = await BatchRunner(roster(generator=SelfCancelling({"s1"})), context(), tmp_path, concurrency=2
                              ).run(seeds(3))
    assert stats.status == {"accepted": 2, "failed": 1} and ledger(tmp_path)["s1"]["status"] == "failed"
    assert "CancelledError" in ledger(tmp_path)["s1"]["failures"][-1]["message"]


class ExitingGraph:
    """A compiled graph whose run raises `error` (what graph code, not an agent, might raise)."""

    def __init__(self, error: BaseException, started: asyncio.Event | None = None) -> None:
        self.error, self.started = error, started

    async def aget_state(self, config: Any) -> Any:
        return type("Snapshot", (), {"values": {}, "next": ()})()

    async def astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if self.started is not None:
            self.started.set()
            await asyncio.Event().wait()  # until cancelled
        raise self.error
        yield  # an async generator, like LangGraph's


@pytest.mark.parametrize("error", [SystemExit(0), SystemExit("bye"), MemoryError()], ids=repr)
async def test_the_thread_runner_records_what_escapes_the_graph(error: BaseException) -> None:
    from graphs.thread_runner import run_thread

    seed = SeedInput(id="s0", code="x = 1")
    result = await run_thread(ExitingGraph(error), seed, TaskType.GENERATION, context())
    assert result.status == "failed" and result.error_type == type(error).__name__
    assert result.state is not None and result.state.failures[-1].error_type == type(error).__name__


async def test_cancelling_a_thread_still_cancels_it() -> None:
    from graphs.thread_runner import run_thread

    started = asyncio.Event()
    seed = SeedInput(id="s0", code="x = 1")
    task = asyncio.ensure_future(run_thread(ExitingGraph(SystemExit(0), started), seed, TaskType.GENERATION,
                                            context()))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class RogueReviewer:
    """A reviewer that also overwrites the instance and the pairs it has no right to."""

    name: ClassVar[str] = "rogue"
    slot: ClassVar[str] = "reviewer"
    reads: ClassVar[frozenset[str]] = frozenset({"instance"})
    writes: ClassVar[frozenset[str]] = frozenset({"reviews"})

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        return {"reviews": [Review(reviewer=self.name, notes="fine")], "verification": {"pairs": []},
                "instance": None}


class BadValueReviewer(RogueReviewer):
    name: ClassVar[str] = "bad-value"

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        return {"reviews": "not a list of reviews"}


async def test_an_update_outside_the_declared_writes_is_a_failure_naming_agent_and_field(tmp_path: Path) -> None:
    await BatchRunner(roster(reviewers=[RogueReviewer(), BadValueReviewer()]), context(), tmp_path).run(seeds(1))
    (row,) = rows(tmp_path / "ledger.jsonl")
    assert row["status"] == "accepted" and "pairs" in row["stages"]  # the instance and the pairs are intact
    messages = {failure["agent"]: failure for failure in row["failures"]}
    assert messages["rogue"]["error_type"] == "ContractViolation"
    assert "'instance'" in messages["rogue"]["message"] and "'verification'" in messages["rogue"]["message"]
    assert "'reviews'" in messages["bad-value"]["message"] and "invalid" in messages["bad-value"]["message"]
    (sft,) = rows(tmp_path / "sft.jsonl")
    assert sft["reviews"] == []  # neither rogue update was applied, not even its allowed part
    assert len(rows(tmp_path / "dpo.jsonl")) == 1


class InPlaceReviewer(RogueReviewer):
    """A reviewer that changes the state it is given instead of returning the change."""

    name: ClassVar[str] = "in-place"

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        assert state.instance is not None and state.verification is not None
        state.instance.output = "PWNED-OUTPUT"
        state.instance.instruction = "PWNED-INSTRUCTION"
        state.verification.pairs.clear()
        state.verification.candidates[0] = "PWNED-CANDIDATE"
        state.tests.append("assert True  # PWNED")
        state.failures.clear()
        state.status = "rejected"
        return {"reviews": [Review(reviewer=self.name, notes="fine")]}


class ShiftyUpdate(Mapping[str, Any]):
    """A mapping whose keys show only `reviews` while `items()` and `values()` also carry an instance."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance
        self.reviews = [Review(reviewer="shifty", notes="fine")]

    def __iter__(self) -> Iterator[str]:
        return iter(["reviews"])

    def __len__(self) -> int:
        return 1

    def __getitem__(self, key: str) -> Any:
        if key == "reviews":
            return self.reviews
        raise KeyError(key)

    def keys(self) -> Any:
        return ["reviews"]

    def items(self) -> Any:
        return [("reviews", self.reviews), ("instance", self.instance)]

    def values(self) -> Any:
        return [self.reviews, self.instance]


class ShiftyReviewer(RogueReviewer):
    name: ClassVar[str] = "shifty"

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> Any:
        assert state.instance is not None
        return ShiftyUpdate(state.instance.model_copy(update={"output": "SNEAKY-OUTPUT"}))


class SneakyKey(str):
    """A key equal to `reviews` for the declared-writes check, but naming another field when printed."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other == "reviews"

    def __hash__(self) -> int:
        return hash("reviews")


class SneakyKeyReviewer(RogueReviewer):
    name: ClassVar[str] = "sneaky-key"

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[Any, Any]:
        return {SneakyKey("instance"): [Review(reviewer=self.name)]}


class LingeringReviewer(RogueReviewer):
    """A reviewer that keeps what it returned and changes it once the graph holds it."""

    name: ClassVar[str] = "lingering"
    kept: ClassVar[list[Any]] = []

    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        review = Review(reviewer=self.name, notes="fine", data={"list": [1]})
        self.kept.append(review)
        return {"reviews": [review]}


async def test_an_agent_cannot_change_the_state_in_place(tmp_path: Path) -> None:
    await BatchRunner(roster(reviewers=[InPlaceReviewer()]), context(), tmp_path).run(seeds(2))
    sft = rows(tmp_path / "sft.jsonl")
    assert len(sft) == 2 and "PWNED" not in json.dumps(sft)
    assert {row["output"] for row in sft} == {"def f():\n    return 1\n"}
    dpo = rows(tmp_path / "dpo.jsonl")
    assert len(dpo) == 2 and "PWNED" not in json.dumps(dpo)
    assert "PWNED" not in json.dumps(rows(tmp_path / "matrix.jsonl"))
    assert {row["status"] for row in rows(tmp_path / "ledger.jsonl")} == {"accepted"}
    assert [review["reviewer"] for review in sft[0]["reviews"]] == ["in-place"]  # its returned update counts


async def test_a_mapping_that_hides_a_key_from_its_keys_is_a_failure_naming_agent_and_field(tmp_path: Path) -> None:
    await BatchRunner(roster(reviewers=[ShiftyReviewer(), SneakyKeyReviewer()]), context(), tmp_path).run(seeds(1))
    (sft,) = rows(tmp_path / "sft.jsonl")
    assert "SNEAKY" not in json.dumps(sft) and sft["output"] == "def f():\n    return 1\n"
    assert sft["reviews"] == []  # neither update was applied, not even its declared part
    (row,) = rows(tmp_path / "ledger.jsonl")
    failures = {failure["agent"]: failure for failure in row["failures"]}
    assert failures["shifty"]["error_type"] == "ContractViolation"
    assert "'instance'" in failures["shifty"]["message"] and "shifty" in failures["shifty"]["message"]
    assert failures["sneaky-key"]["error_type"] == "ContractViolation"
    assert "SneakyKey" in failures["sneaky-key"]["message"]


async def test_what_an_agent_returned_cannot_be_changed_once_the_graph_holds_it(tmp_path: Path) -> None:
    LingeringReviewer.kept.clear()
    seen: list[SynthesisState] = []
    await BatchRunner(roster(reviewers=[LingeringReviewer()]), context(), tmp_path, on_thread=seen.append).run(seeds(1))
    (kept,) = LingeringReviewer.kept
    kept.notes = "CHANGED-LATER"
    kept.data["list"].append("CHANGED-LATER")
    (state,) = seen
    assert state.reviews[0].notes == "fine" and state.reviews[0].data == {"list": [1]}


@pytest.mark.parametrize("error", [EndpointUnreachable("connection refused"), AuthFailed("key refused", 401),
                                   UnknownModel("no such model", 404), RoleOrderRejected("roles must alternate", 400),
                                   Transient("HTTP 503", retry_after=1.0)])
async def test_every_endpoint_failure_class_trips_the_breaker_and_records_nothing(tmp_path: Path,
                                                                                 error: Exception) -> None:
    runner = BatchRunner(roster(generator=Exploding({f"s{i}" for i in range(6)}, error)), context(), tmp_path,
                         concurrency=1)
    with pytest.raises(EndpointsFailing, match="re-run to resume") as stopped:
        await runner.run(seeds(6))
    assert type(error).__name__ in str(stopped.value)
    assert rows(tmp_path / "ledger.jsonl") == [] and rows(tmp_path / "sft.jsonl") == []
    assert runner.stats.unfinished == {"endpoint": 5}
    stats = await BatchRunner(roster(), context(), tmp_path).run(seeds(6))  # the endpoint is back
    assert stats.status == {"accepted": 6} and len(rows(tmp_path / "ledger.jsonl")) == 6


async def test_a_context_length_error_is_a_recorded_failure_not_an_endpoint_one(tmp_path: Path) -> None:
    error = ContextLengthExceeded("the prompt takes 3000 tokens, more than the model's 2048", 2048)
    await BatchRunner(roster(generator=Exploding({"s0"}, error)), context(max_attempts=1), tmp_path).run(seeds(2))
    assert {seed: row["status"] for seed, row in ledger(tmp_path).items()} == {"s0": "failed", "s1": "accepted"}
    assert ledger(tmp_path)["s0"]["failures"][0]["error_type"] == "ContextLengthExceeded"


async def test_a_config_error_in_a_thread_stops_the_batch(tmp_path: Path) -> None:
    runner = BatchRunner(roster(generator=Exploding({"s0"}, ConfigError("cannot write the LLM cache"))), context(),
                         tmp_path, concurrency=1)
    with pytest.raises(ConfigError, match="LLM cache"):
        await runner.run(seeds(3))
    assert rows(tmp_path / "ledger.jsonl") == []


async def test_sandbox_failures_leave_a_thread_unfinished_for_a_bounded_number_of_runs(tmp_path: Path) -> None:
    flaky = roster(executor=FlakyExecutor({"s0"}))
    for run in (1, 2):
        stats = await BatchRunner(flaky, context(max_infra_runs=3), tmp_path).run(seeds(2))
        assert stats.unfinished == {"sandbox": 1}, run
        assert set(ledger(tmp_path)) == {"s1"}
    stats = await BatchRunner(flaky, context(max_infra_runs=3), tmp_path).run(seeds(2))
    row = ledger(tmp_path)["s0"]
    assert row["status"] == "failed" and row["failures"][-1]["error_type"] == "SandboxError"
    assert "infrastructure failure" in row["failures"][-1]["message"] and "3 runs" in row["failures"][-1]["message"]
    assert stats.unfinished == {}
    stats = await BatchRunner(flaky, context(max_infra_runs=3), tmp_path).run(seeds(2))
    assert stats.skipped == 2  # recorded: a resume no longer stalls on it


BOUNDED = {"sandbox": (lambda: roster(executor=FlakyExecutor({"s0"})), "SandboxError"),
           "refused": (lambda: roster(generator=Exploding({"s0"}, RequestRejected("unsupported feature", 400))),
                       "RequestRejected")}


@pytest.mark.parametrize("kind", list(BOUNDED))
async def test_retry_failed_starts_the_count_of_unfinished_runs_again(tmp_path: Path, kind: str) -> None:
    """A thread recorded as failed at the bound and re-run by --retry-failed starts from scratch: its earlier
    unfinished runs no longer count, so this run leaves it unfinished again rather than failing it at once."""
    broken, error_type = BOUNDED[kind]
    for run in (1, 2):
        stats = await BatchRunner(broken(), context(max_infra_runs=2), tmp_path).run(seeds(2))
        assert sum(stats.unfinished.values()) == (run == 1), run
    assert ledger(tmp_path)["s0"]["status"] == "failed"
    assert ledger(tmp_path)["s0"]["failures"][-1]["error_type"] == error_type
    stats = await BatchRunner(broken(), context(max_infra_runs=2), tmp_path, retry_failed=True).run(seeds(2))
    assert stats.retried == 1 and sum(stats.unfinished.values()) == 1 and set(ledger(tmp_path)) == {"s1"}
    stats = await BatchRunner(broken(), context(max_infra_runs=2), tmp_path).run(seeds(2))
    assert sum(stats.unfinished.values()) == 0 and ledger(tmp_path)["s0"]["status"] == "failed"


@pytest.mark.parametrize("error", [AuthFailed("key refused", 401), UnknownModel("no such model", 404),
                                   RoleOrderRejected("roles must alternate", 400)], ids=repr)
async def test_a_4xx_with_a_known_cause_is_never_bounded(tmp_path: Path, error: Exception) -> None:
    """A refused key, an unknown model, a role order: the operator fixes those, and the thread waits for it."""
    for _ in range(3):
        stats = await BatchRunner(roster(generator=Exploding({"s0"}, error)), context(max_infra_runs=1),
                                  tmp_path).run(seeds(2))
        assert stats.unfinished == {"endpoint": 1} and set(ledger(tmp_path)) == {"s1"}


async def test_a_sandbox_that_keeps_failing_stops_the_run(tmp_path: Path) -> None:
    runner = BatchRunner(roster(executor=FlakyExecutor({f"s{i}" for i in range(8)})), context(), tmp_path,
                         concurrency=1)
    with pytest.raises(SandboxFailing, match="re-run to resume"):
        await runner.run(seeds(8))
    assert rows(tmp_path / "ledger.jsonl") == []


async def test_retry_failed_supersedes_the_ledger_row_and_keeps_ids(tmp_path: Path) -> None:
    await BatchRunner(roster(generator=ScriptedGenerator(fail_for={"s0"})), context(max_attempts=1),
                      tmp_path).run(seeds(2))
    before = ledger(tmp_path)
    assert before["s0"]["status"] == "failed"
    stats = await BatchRunner(roster(), context(), tmp_path).run(seeds(2))  # a plain re-run leaves it alone
    assert stats.skipped == 2 and ledger(tmp_path)["s0"]["status"] == "failed"
    stats = await BatchRunner(roster(), context(), tmp_path, retry_failed=True).run(seeds(2))
    assert stats.retried == 1 and stats.status == {"accepted": 1}
    after = rows(tmp_path / "ledger.jsonl")
    assert len(after) == 2 and len({row["thread_id"] for row in after}) == 2  # one row per thread, never two
    assert ledger(tmp_path)["s0"]["status"] == "accepted" and ledger(tmp_path)["s0"]["id"] == before["s0"]["id"]
    (superseded,) = rows(tmp_path / "superseded.jsonl")
    assert superseded["file"] == "ledger.jsonl" and superseded["row"]["status"] == "failed"
    assert len(rows(tmp_path / "sft.jsonl")) == 2


async def test_a_seed_keeps_its_task_type_when_the_mix_changes(tmp_path: Path) -> None:
    await BatchRunner(roster(), context(), tmp_path).run(seeds(3))
    summaries = {TaskType.SUMMARIZATION: 1.0, TaskType.GENERATION: 0.0, TaskType.REPAIR: 0.0,
                 TaskType.TRANSLATION: 0.0}
    stats = await BatchRunner(roster(), context(task_mix=summaries), tmp_path).run(seeds(4))
    assert stats.skipped == 3 and stats.kept_task_types == 3
    task_types = {row["seed_id"]: row["task_type"] for row in rows(tmp_path / "ledger.jsonl")}
    assert task_types == {"s0": "generation", "s1": "generation", "s2": "generation", "s3": "summarization"}
    assert len(rows(tmp_path / "ledger.jsonl")) == 4  # no second thread for a seed already done


class Chatty(ScriptedGenerator):
    async def __call__(self, state: SynthesisState, ctx: RunContext) -> dict[str, Any]:
        ctx.emit(Event(thread=state.seed.id, agent=self.name, kind="rejected", payload={"attempt": 1}))
        return await super().__call__(state, ctx)


async def test_live_events_come_through_the_custom_stream(tmp_path: Path) -> None:
    seen: list[Event] = []
    runner = BatchRunner(roster(generator=Chatty()), context(), tmp_path, on_event=seen.append)
    stats = await runner.run(seeds(2))
    assert sorted(event.thread for event in seen) == ["s0", "s1"] and stats.events == {"rejected": 2}


async def test_a_second_writer_on_the_same_outdir_stops_naming_the_holder(tmp_path: Path) -> None:
    with outdir_held_elsewhere(tmp_path) as pid:
        with pytest.raises(OutdirBusy, match=rf"in use by pid {pid} on \S+, started \d{{4}}-"):
            await BatchRunner(roster(), context(), tmp_path).run(seeds(1))
        assert rows(tmp_path / "ledger.jsonl") == []
    await BatchRunner(roster(), context(), tmp_path).run(seeds(1))  # the lock died with its process
    assert len(rows(tmp_path / "ledger.jsonl")) == 1 and not (tmp_path / ".lock").exists()


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with OutdirLock(tmp_path), OutdirLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] > 0
    assert not (tmp_path / ".lock").exists()


async def test_the_scheduler_bounds_the_work_in_flight_and_stops_it_on_error() -> None:
    in_flight = peak = 0
    started: list[int] = []

    async def work(item: int) -> int:
        nonlocal in_flight, peak
        started.append(item)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01 if item != 5 else 30)
        in_flight -= 1
        return item

    async def on_result(item: int) -> None:
        if item == 7:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        await asyncio.wait_for(BoundedScheduler(3).run(range(50), work, on_result, lambda: False), 20)
    assert peak == 3 and 5 in started and len(started) < 50  # item 5's 30 s wait was cancelled, not awaited


def test_threads_are_sized_from_the_requests_in_flight() -> None:
    assert threads_for(64, 1) == 128 and threads_for(32, 2) == 128 and threads_for(1, 0, 1.0) == 1


def test_a_full_disk_while_writing_a_row_stops_with_one_line_and_no_torn_row(tmp_path: Path) -> None:
    from graphs.error_policy import DiskFull
    from graphs.state import Instance, Verdict
    from graphs.thread_runner import ThreadResult
    from graphs.writer import RunWriter

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        writer = RunWriter(mount)
        (mount / "filler").write_bytes(b"x" * (64 * 1024 - 12 * 1024))
        seed = SeedInput(id="big", code="x = 1")
        instance = Instance(task_type=TaskType.SUMMARIZATION, task_name="t", instruction="Summarize.",
                            output="word " * 4000)
        state = SynthesisState(seed=seed, task_type=TaskType.SUMMARIZATION, instance=instance, attempt=1,
                               verdict=Verdict(accepted=True), status="accepted")
        result = ThreadResult("big:summarization", seed, TaskType.SUMMARIZATION, "accepted", state=state)
        with pytest.raises(DiskFull, match="disk is full"):
            writer.record(result)
        writer.close()
        for path in mount.glob("*.jsonl"):
            data = path.read_bytes()
            assert not data or data.endswith(b"\n"), path
        assert rows(mount / "ledger.jsonl") == []  # the thread is not counted as done
    finally:
        subprocess.run(["umount", "-l", str(mount)])


async def test_the_scheduler_grows_while_asked_and_never_past_its_bound() -> None:
    running = 0
    release = asyncio.Event()

    async def work(item: int) -> int:
        nonlocal running
        running += 1
        await release.wait()
        running -= 1
        return item

    for grow, expected in ((True, 5), (False, 2)):
        release.clear()
        scheduler = BoundedScheduler(2, grow_while=lambda grow=grow: grow, max_concurrency=5)
        task = asyncio.ensure_future(scheduler.run(range(20), work, _ignore, lambda: False))
        await asyncio.wait_for(_until(lambda expected=expected: running == expected), 10)
        release.set()
        await asyncio.wait_for(task, 10)
        assert scheduler.peak == expected


async def _ignore(_: int) -> None:
    return None


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_thread_whose_rows_cannot_be_serialized_is_recorded_as_failed_with_no_partial_rows(tmp_path: Path) -> None:
    from graphs.state import Instance, Verdict
    from graphs.thread_runner import ThreadResult
    from graphs.writer import RunWriter

    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    seed = SeedInput(id="deep", code="x = 1")
    instance = Instance(task_type=TaskType.GENERATION, task_name="t", instruction="Write f.", output="def f(): pass",
                        entry_point="f")
    state = SynthesisState(seed=seed, task_type=TaskType.GENERATION, instance=instance, attempt=1,
                           verdict=Verdict(accepted=True), tests=["assert f() is None"], status="accepted")
    from tools.verification import PreferencePair, VerifyResult

    pair = PreferencePair.model_construct(prompt="p", chosen="a", rejected="b", kind="correctness",
                                          metadata={"nested": deep})
    state.verification = VerifyResult.model_construct(  # reaches the writer unchecked
        task_id="deep:generation", prompt="p", language="python", candidates=["a", "b"], tests=["t"],
        matrix=[["passed"], ["failed"]], pairs=[pair])
    with RunWriter(tmp_path) as writer:
        ledger = writer.record(ThreadResult("deep:generation", seed, TaskType.GENERATION, "accepted", state=state))
    assert ledger is not None and ledger.status == "failed" and ledger.failures[0]["stage"] == "write"
    assert ledger.failures[0]["error_type"] in {"RecursionError", "ValueError"}  # pydantic: "depth exceeded"
    assert rows(tmp_path / "sft.jsonl") == [] and rows(tmp_path / "matrix.jsonl") == []  # nothing half-written
    assert [row["status"] for row in rows(tmp_path / "ledger.jsonl")] == ["failed"]
