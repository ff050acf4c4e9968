"""Sources compiled by the workers before the first check (`Sandbox(precompile=...)`): a hint that changes
no verdict, survives garbage, and yields as soon as a check is asking."""

from __future__ import annotations

import os
import threading

import pytest

from tools.sandbox import Check, Sandbox, Status, protocol, pyguard, slots
from tools.sandbox.slots import WorkerProcess
from tools.sandbox.worker import DEFAULT_PIPE_BYTES, Worker

ALWAYS_EQUAL = "class Liar:\n    def __eq__(self, other):\n        return True\n\ndef f(x):\n    return Liar()\n"


def test_precompiled_sources_give_the_same_verdicts_and_garbage_costs_no_worker() -> None:
    hint = [("code", "x = 1"), ("test", "assert x == 1"), ("test", "assert x == 2"), ("code", "def broken(:"),
            ("code", ALWAYS_EQUAL), ("test", "assert f(1) == 3"), ("bogus", "x = 1"), ("test", 12), ("code", None)]
    checks = [Check(code="x = 1", test="assert x == 1"), Check(code="x = 1", test="assert x == 2"),
              Check(code="def broken(:", test="assert x == 1"), Check(code=ALWAYS_EQUAL, test="assert f(1) == 3")]
    with Sandbox(workers=1, precompile=hint) as warmed, Sandbox(workers=1) as cold:  # type: ignore[arg-type]
        hinted, plain = warmed.run(checks), cold.run(checks)
        assert warmed.replaced_workers == 0
    assert [r.status for r in hinted] == [r.status for r in plain] == [
        Status.PASSED, Status.FAILED, Status.ERROR, Status.FAILED]
    assert hinted[2].error_type == plain[2].error_type == "SyntaxError"
    assert "claims to equal an arbitrary object" in hinted[3].message  # the test was compiled as a test


@pytest.fixture
def bare_worker() -> Worker:
    """A Worker with only what `precompile` uses (no sealed root, no cgroup, no audit hook)."""
    worker = Worker.__new__(Worker)
    worker.code_cache = {}
    worker.honesty_check = pyguard.make_honesty_check()
    return worker


def test_precompile_fills_the_cache_and_stops_when_a_request_arrives(bare_worker: Worker) -> None:
    sources = [["code", "x = 1"], ["test", "assert x == 1"], ["test", "assert x =="], ["other", "y"], "junk"]
    read, write = os.pipe()
    try:
        requests = protocol.FrameReader(read)
        assert bare_worker.precompile(sources, requests) == 2  # the two that compile
        assert set(bare_worker.code_cache) == {("<candidate>", "x = 1"), ("<test>", "assert x == 1")}
        code, test = bare_worker.compiled({"code": "x = 1", "test": "assert x == 1"})  # what a check then runs
        assert code is bare_worker.code_cache["<candidate>", "x = 1"]
        assert test is bare_worker.code_cache["<test>", "assert x == 1"]
        protocol.write_frame(write, {"language": "python"})  # a check is waiting
        bare_worker.code_cache.clear()
        assert bare_worker.precompile(sources, requests) == 0 and not bare_worker.code_cache
        assert requests.read() == {"language": "python"}  # untouched, still first in line
        assert bare_worker.precompile("not a list", requests) == 0
    finally:
        os.close(read)
        os.close(write)


def test_a_precompiled_test_keeps_its_honesty_checks(bare_worker: Worker) -> None:
    read, write = os.pipe()
    try:
        assert bare_worker.precompile([["code", ALWAYS_EQUAL], ["test", "assert f(1) == 3"]],
                                      protocol.FrameReader(read)) == 2
    finally:
        os.close(read)
        os.close(write)
    code, test = bare_worker.compiled({"code": ALWAYS_EQUAL, "test": "assert f(1) == 3"})
    namespace: dict = {}
    exec(code, namespace)
    with pytest.raises(AssertionError, match="claims to equal an arbitrary object"):
        exec(test, namespace)


def test_a_hint_larger_than_a_pipe_never_blocks_on_a_worker_that_does_not_read() -> None:
    """`offer` grows the request pipe to hold the whole frame, or sends what fits: the sandbox's start must
    not hang on a worker that stopped after its hello."""
    items = [["test", f"assert {i} == {i}  # {'x' * 1000}"] for i in range(200)]  # ~200 KB: over 64 KB
    read, write = os.pipe()
    worker = WorkerProcess.__new__(WorkerProcess)
    worker.requests_pipe = open(write, "wb", buffering=0)  # noqa: SIM115 — closed below
    try:
        sent: list[int] = []
        thread = threading.Thread(target=lambda: sent.append(worker.offer("precompile", items)), daemon=True)
        thread.start()
        thread.join(60)
        assert not thread.is_alive() and sent == [200]  # nobody read, and it returned
        assert protocol.FrameReader(read).read() == {"precompile": items}
        os.close(read)
        assert worker.offer("precompile", items) == 0  # the reader is gone: nothing sent, no exception
    finally:
        worker.requests_pipe.close()


def test_where_the_pipe_cannot_grow_the_hint_is_trimmed_to_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user at their pipe-buffer limit (EPERM on F_SETPIPE_SZ): the first items that fit are sent whole."""
    real_fcntl = slots.fcntl.fcntl

    def refuse_growth(fd: int, command: int, *args: int) -> int:
        if command == slots.fcntl.F_SETPIPE_SZ:
            raise PermissionError(1, "Operation not permitted")
        return real_fcntl(fd, command, *args)

    monkeypatch.setattr(slots.fcntl, "fcntl", refuse_growth)
    items = [["code", f"x = {i}  # {'y' * 1000}"] for i in range(200)]
    read, write = os.pipe()
    worker = WorkerProcess.__new__(WorkerProcess)
    worker.requests_pipe = open(write, "wb", buffering=0)  # noqa: SIM115 — closed below
    try:
        capacity = real_fcntl(write, slots.fcntl.F_GETPIPE_SZ)
        count = worker.offer("precompile", items)
        assert 0 < count < 200
        assert protocol.FrameReader(read).read() == {"precompile": items[:count]}
        assert len(protocol.frame({"precompile": items[:count]})) <= capacity
        assert len(protocol.frame({"precompile": items[:count + 1]})) > capacity  # as many as fit
    finally:
        os.close(read)
        worker.requests_pipe.close()


def test_frame_within_takes_the_most_items_that_fit() -> None:
    items = [["code", "é" * n] for n in range(1, 40)]  # escaped to \\u00e9: six bytes a character
    for limit in (0, 10, 30, 100, 1000, 10**6):
        data, count = protocol.frame_within("k", items, limit)
        if count:
            assert data == protocol.frame({"k": items[:count]}) and len(data) <= limit
        else:
            assert data == b""
        if count < len(items):
            assert len(protocol.frame({"k": items[:count + 1]})) > limit


def test_the_worker_gives_back_the_grown_pipe_and_malformed_hints_cost_nothing() -> None:
    hint = [("code", "x = 7"), *[("test", f"assert x == {i}  # {'x' * 1000}") for i in range(200)],
            ("code", "y = 1", "extra"), ("test", b"bytes"), ("guess", "x = 1"), "junk", None]
    with Sandbox(workers=1, precompile=hint) as sandbox:  # type: ignore[arg-type]
        results = sandbox.run([Check(code="x = 7", test="assert x == 7  # " + "x" * 1000),
                               Check(code="x = 7", test="assert x == 8")])
        pipe = sandbox._slots[0].worker.requests_pipe.fileno()
        # the worker shrank it right after reading the hint, before it answered the first check
        assert slots.fcntl.fcntl(pipe, slots.fcntl.F_GETPIPE_SZ) == DEFAULT_PIPE_BYTES
        assert sandbox.replaced_workers == 0
    assert [r.status for r in results] == [Status.PASSED, Status.FAILED]


