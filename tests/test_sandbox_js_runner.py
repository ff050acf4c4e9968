"""The JavaScript candidate runner (`RUNNER_JS`), driven directly: one node per candidate, the
frame on fd 3, one verdict line per test on fd 4. Hostile candidates try to forge a pass: each attack gets a
failing test, and the test must stay failing (and the same tests must pass for a correct candidate)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tools.benchmark_data import DEFAULT_DATA_DIR, load_benchmark
from tools.sandbox.javascript import (
    RESULT_STATUSES,
    RUNNER_JS,
    RunnerLine,
    encode_frame,
    parse_result_line,
    runner_argv,
)

NODE = "/usr/bin/node"
NONCE = os.urandom(16).hex()
HARD_DEADLINE_S = 120  # a runner that outlives this is killed and the test fails on the missing "done"
ADD = "const add = (a, b) => a + b\n"
WRONG_ADD = "function add(a, b) { return a + b + 1 }\n"


@dataclass
class Run:
    results: list[RunnerLine]
    done: bool
    returncode: int
    stdout: str
    stderr: str
    unverified: list[bytes] = field(default_factory=list)  # lines on fd 4 that are not genuine results

    @property
    def statuses(self) -> list[str]:
        return [result.status for result in self.results]

    @property
    def types(self) -> list[str | None]:
        return [result.error_type for result in self.results]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("js-runner") / "runner.js"
    path.write_text(RUNNER_JS, encoding="utf-8")
    return str(path)


def run_candidate(runner: str, code: str, tests: list[str], *, timeout_ms: int = 10000, memory_mb: int = 256,
                  address_space_mb: int | None = None, frame: bytes | None = None,
                  on_first_result: Callable[[int, dict[str, str]], None] | None = None) -> Run:
    """Start the runner as the worker will (frame on fd 3, results on fd 4, empty env) and collect it all."""
    payload = frame if frame is not None else encode_frame(NONCE, code, tests, timeout_ms)
    frame_r, frame_w = os.pipe()
    result_r, result_w = os.pipe()
    pipes = {"frame": f"pipe:[{os.fstat(frame_r).st_ino}]", "results": f"pipe:[{os.fstat(result_w).st_ino}]"}
    # Above 9, so that placing them on 3 and 4 cannot clobber one with the other.
    high_r = fcntl.fcntl(frame_r, fcntl.F_DUPFD_CLOEXEC, 10)
    high_w = fcntl.fcntl(result_w, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(frame_r)
    os.close(result_w)
    limit = f"ulimit -v {address_space_mb * 1024}; " if address_space_mb else ""
    script = f'{limit}exec 3<&{high_r} 4>&{high_w} {high_r}<&- {high_w}>&-; exec "$@"'
    with tempfile.TemporaryDirectory(prefix="codemill-js-") as workdir:
        process = subprocess.Popen(["/bin/bash", "-c", script, "bash", *runner_argv(NODE, runner, memory_mb)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   pass_fds=(high_r, high_w), env={}, cwd=workdir)
        os.close(high_r)
        os.close(high_w)
        os.set_blocking(frame_w, False)
        assert process.stdout is not None and process.stderr is not None
        out_fd, err_fd = process.stdout.fileno(), process.stderr.fileno()
        buffers = {result_r: bytearray(), out_fd: bytearray(), err_fd: bytearray()}
        selector = selectors.DefaultSelector()
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        selector.register(frame_w, selectors.EVENT_WRITE)
        sent, announced, deadline = 0, False, time.monotonic() + HARD_DEADLINE_S
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                if key.fd == frame_w:
                    try:
                        sent += os.write(frame_w, payload[sent:])
                    except BrokenPipeError:
                        sent = len(payload)
                    if sent == len(payload):
                        selector.unregister(frame_w)
                        os.close(frame_w)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                buffers[key.fd] += chunk
                if key.fd == result_r and on_first_result is not None and not announced and b"\n" in chunk:
                    announced = True
                    on_first_result(process.pid, pipes)
        if selector.get_map():  # past the deadline
            process.kill()
            for key in list(selector.get_map().values()):
                selector.unregister(key.fd)
                if key.fd == frame_w:
                    os.close(frame_w)
        returncode = process.wait()
        process.stdout.close()
        process.stderr.close()
        os.close(result_r)
    results, unverified = [], []
    for line in bytes(buffers[result_r]).splitlines():
        parsed = parse_result_line(line, NONCE)
        if parsed is None:
            unverified.append(line)
        else:
            results.append(parsed)
    done = bool(results) and results[-1].done
    verdicts = [result for result in results if not result.done]
    assert [result.position for result in verdicts] == list(range(len(verdicts))), "verdicts out of order"
    return Run(verdicts, done, returncode, buffers[out_fd].decode(errors="replace"),
               buffers[err_fd].decode(errors="replace"), unverified)


def finished(run: Run, count: int) -> Run:
    """The run ended normally with `count` genuine verdicts and nothing else on fd 4."""
    assert (run.returncode, run.done, run.unverified, len(run.results)) == (0, True, [], count), run.stderr
    return run


# ---------------------------------------------------------------------------------------------- the contract


def test_each_test_gets_its_verdict_in_order(runner):
    tests = [
        "console.assert(add(1, 2) === 3)",
        "console.assert(add(1, 2) === 4, 'sum is %d', add(1, 2))",
        "const assert = require('assert')\nassert.deepStrictEqual([add(1, 1)], [3])",
        "undefinedFunction(1)",
        "let x = ;",
        "console.log('out', {a: [1, new Map([[1, 2]])]}, add(20, 22)); console.error('err', 7)",
        "require('fs')",
        "process.exit(0)\nconsole.assert(false)",
        "Promise.resolve().then(() => console.assert(add(2, 2) === 5))",
        "setTimeout(() => assert.strictEqual(add(1, 1), 3), 100)",
        "(async () => { await new Promise((resolve) => setTimeout(resolve, 10)); assert.equal(add(2, 2), 4) })()",
        "return",
    ]
    run = finished(run_candidate(runner, ADD, tests), len(tests))
    assert run.statuses == ["passed", "failed", "failed", "error", "error", "passed", "error", "error", "failed",
                            "failed", "passed", "passed"]
    assert run.types == [None, "AssertionError", "AssertionError", "ReferenceError", "SyntaxError", None, "Error",
                         "ReferenceError", "AssertionError", "AssertionError", None, None]
    assert run.results[1].message == "Assertion failed: sum is 3"
    assert "[ 2 ]" in run.results[2].message and "[ 3 ]" in run.results[2].message
    assert "'fs'" in run.results[6].message and run.results[7].message == "process is not defined"
    assert run.stdout == "out { a: [ 1, Map(1) { 1 => 2 } ] } 42\n" and run.stderr == "err 7\n"
    assert all(result.exec_s > 0 for result in run.results if result.error_type != "SyntaxError")


def test_a_candidate_that_does_not_compile_errors_every_test(runner):
    run = finished(run_candidate(runner, "const add = (a, b => a", ["add(1, 2)", "console.assert(true)"]), 2)
    assert run.statuses == ["error", "error"] and run.types == ["SyntaxError", "SyntaxError"]


def test_candidate_declarations_are_visible_and_module_exists(runner):
    code = "'use strict'\nconst k = 2\nlet twice = (x) => x * k\nclass Box { constructor(v) { this.v = v } }\n" \
           "function wrap(v) { return new Box(v) }\nmodule.exports = { twice }\nexports.k = k\n"
    tests = ["console.assert(twice(4) === 8 && wrap(1).v === 1 && module.exports.twice === twice)",
             "console.assert(exports.k === 2 && __filename.endsWith('main.js') && typeof __dirname === 'string')",
             "const k = 5; console.assert(k === 5 && twice(1) === 2)"]  # a test may shadow the candidate's names
    assert finished(run_candidate(runner, code, tests), 3).statuses == ["passed"] * 3


def test_the_runner_reads_nothing_but_its_frame_and_closes_fd3_first(runner):
    seen: dict[str, object] = {}

    def inspect(pid: int, pipes: dict[str, str]) -> None:  # while test 1 spins
        seen["links"] = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        seen["argv"] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        seen["pipes"] = pipes

    run = run_candidate(runner, ADD, ["console.assert(add(1, 2) === 3)", "for (;;) {}"], timeout_ms=2000,
                        on_first_result=inspect)
    assert finished(run, 2).statuses == ["passed", "timeout"]
    links: dict[int, str] = seen["links"]  # type: ignore[assignment]
    pipes: dict[str, str] = seen["pipes"]  # type: ignore[assignment]
    assert pipes["frame"] not in links.values()  # read and closed before the candidate ran
    assert [fd for fd, link in links.items() if link == pipes["results"]] == [4]
    assert seen["argv"] == [arg.encode() for arg in runner_argv(NODE, runner, 256)]


@pytest.mark.parametrize("frame", [
    b"\x00\x00\x00\x00\x00\x00\x00\x10{}",  # shorter than announced
    b"\x00\x00\x00\x00\x00\x00\x00\x03abc",  # not JSON
    encode_frame("not-hex", ADD, ["1"], 1000),
    b"\x00" * 8,
])
def test_a_malformed_frame_is_refused(runner, frame):
    run = run_candidate(runner, "", [], frame=frame)
    assert (run.returncode, run.results, run.done, run.unverified) == (2, [], False, [])
    assert "codemill runner:" in run.stderr


def test_result_lines_are_checked_against_the_nonce():
    line = json.dumps({"i": 0, "nonce": NONCE, "status": "passed", "error_type": None, "message": "", "exec_s": 0.1})
    assert parse_result_line(line, NONCE) == RunnerLine(position=0, status="passed", exec_s=0.1)
    assert parse_result_line(line, "0" * 32) is None
    assert parse_result_line(json.dumps({"done": True, "nonce": NONCE}), NONCE) == RunnerLine(position=None)
    for broken in ({"status": "won"}, {"i": -1}, {"i": True}, {"extra": 1}, {"message": None}, {"exec_s": "1"}):
        record = json.loads(line) | broken
        assert parse_result_line(json.dumps(record), NONCE) is None, broken
    assert parse_result_line(b"\xff not json", NONCE) is None
    assert {"passed", "failed", "error", "timeout", "memory"} == RESULT_STATUSES


# ---------------------------------------------------------------------------------------------- semantics

PAIRS = [
    "1, 1", "1, '1'", "0, -0", "-0, -0", "NaN, NaN", "null, undefined", "null, null", "true, 1", "'a', 'a'",
    "1n, 1n", "1n, 1", "Symbol.for('s'), Symbol.for('s')", "[1, 2], [1, 2]", "[1, 2], [2, 1]",
    "[1, [2, [3]]], [1, [2, [3]]]", "[1], ['1']", "[0], [-0]", "[NaN], [NaN]", "[], {}", "[, 1], [undefined, 1]",
    "[1, 2, 3], [1, 2]", "{a: 1, b: 2}, {b: 2, a: 1}", "{a: 1}, {a: 1, b: undefined}",
    "{a: [1, {b: 2}]}, {a: [1, {b: 2}]}",
    "{a: 1}, {a: '1'}", "Object.create(null), {}", "new Map([[1, 'a'], [2, 'b']]), new Map([[2, 'b'], [1, 'a']])",
    "new Map([[1, 'a']]), new Map([[1, 'b']])", "new Map([[{k: 1}, 2]]), new Map([[{k: 1}, 2]])",
    "new Map([['1', 2]]), new Map([[1, 2]])", "new Set([1, 2, 3]), new Set([3, 2, 1])",
    "new Set([1, 2]), new Set([1, 3])",
    "new Set([[1], [2]]), new Set([[2], [1]])", "new Set(['1']), new Set([1])", "new Set([{a: 1}]), new Set([{a: 2}])",
    "new Date(0), new Date(0)", "new Date(0), new Date(1)", "/a/g, /a/g", "/a/g, /a/i",
    "new Error('x'), new Error('x')",
    "new Error('x'), new TypeError('x')", "new Number(1), new Number(1)", "new Number(1), 1",
    "new String('a'), new String('a')", "new Uint8Array([1, 2]), new Uint8Array([1, 2])",
    "new Uint8Array([1, 2]), new Uint8Array([1, 3])", "new Float64Array([0]), new Float64Array([-0])",
    "new Uint8Array([1]), new Int8Array([1])", "{[Symbol.for('k')]: 1}, {}", "[1, 2, 3].map(String), ['1', '2', '3']",
    "(() => { const a = {x: 1}; a.self = a; return a })(), (() => { const b = {x: 1}; b.self = b; return b })()",
    "new (class A { constructor() { this.x = 1 } })(), {x: 1}", "{a: NaN}, {a: NaN}", "'abc', new String('abc')",
    "{length: 1, 0: 'a'}, ['a']", "new Map(), new Set()", "[undefined], []", "{a: undefined}, {}", "false, 0",
    "'', 0", "[1, 2], '1,2'",
]
METHODS = ["equal", "notEqual", "strictEqual", "notStrictEqual", "deepEqual", "notDeepEqual", "deepStrictEqual",
           "notDeepStrictEqual"]


def test_assert_agrees_with_nodes_assert(runner):
    tests = [f"assert.{method}({pair})" for pair in PAIRS for method in METHODS]
    reference = ("const assert = require('assert'); const out = [];"
                 f"for (const t of {json.dumps(tests)}) {{ try {{ eval(t); out.push('passed') }}"
                 " catch (e) { out.push(e.code === 'ERR_ASSERTION' ? 'failed' : 'error') } }"
                 "console.log(JSON.stringify(out))")
    expected = json.loads(subprocess.run([NODE, "-e", reference], capture_output=True, text=True, check=True).stdout)
    run = finished(run_candidate(runner, "", tests), len(tests))
    assert [(test, status) for test, status in zip(tests, run.statuses, strict=True)] == list(
        zip(tests, expected, strict=True))
    assert {"passed", "failed"} <= set(expected)  # both outcomes are exercised


@pytest.mark.parametrize(("test", "status"), [
    ("assert.throws(() => { throw new TypeError('bad') }, TypeError)", "passed"),
    ("assert.throws(() => { throw new TypeError('bad') }, RangeError)", "failed"),
    ("assert.throws(() => { throw new TypeError('bad') }, /bad/)", "passed"),
    ("assert.throws(() => { throw new TypeError('bad') }, {name: 'TypeError', message: 'bad'})", "passed"),
    ("assert.throws(() => { throw new TypeError('bad') }, {message: 'good'})", "failed"),
    ("assert.throws(() => 1)", "failed"),
    ("assert.doesNotThrow(() => 1)", "passed"),
    ("assert.doesNotThrow(() => { throw new Error('x') })", "failed"),
    ("assert.doesNotThrow(() => { throw new RangeError('x') }, TypeError)", "error"),
    ("assert.fail('no')", "failed"),
    ("assert.match('abc', /b/); assert.doesNotMatch('abc', /d/)", "passed"),
    ("assert.ifError(null); assert.ifError(new Error('x'))", "failed"),
    ("assert.rejects(Promise.reject(new Error('x')), /x/)", "passed"),
    ("assert.rejects(Promise.resolve(1))", "failed"),
    ("assert.strict.equal(1, '1')", "failed"),
    ("require('assert/strict').deepEqual([1], ['1'])", "failed"),
    ("assert.ok(0, new TypeError('custom'))", "error"),
    ("assert()", "failed"),
    ("console.assert(1); console.assert(0)", "failed"),
    ("const util = require('util'); console.assert(util.isDeepStrictEqual({a: [1]}, {a: [1]}) "
     "&& util.format('%s=%d %j', 'x', 4, {a: 1}) === 'x=4 {\"a\":1}')", "passed"),
    ("let order = ''; setTimeout(() => { order += 'b' }, 20); setTimeout(() => { order += 'a' }, 10);"
     "setTimeout(() => console.assert(order === 'ab'), 30)", "passed"),
    ("let n = 0; const h = setInterval(() => { if (++n === 3) clearInterval(h) }, 5);"
     "setTimeout(() => assert.strictEqual(n, 3), 100)", "passed"),
    ("queueMicrotask(() => { throw new Error('late') })", "error"),
])
def test_assert_throws_and_async_semantics(runner, test, status):
    assert finished(run_candidate(runner, ADD, [test]), 1).statuses == [status]


def test_js_md5_matches_md5(runner):
    texts = ["", "Hello world", "password", "A B C", "héllo wörld", "emoji 🌍 and 中文", "x" * 1000]
    tests = [f"console.assert(require('js-md5')({json.dumps(text)}) === '{hashlib.md5(text.encode()).hexdigest()}')"
             for text in texts]
    tests.append("console.assert(require('js-md5')('abc') === '0')")  # the control: a wrong digest fails
    assert finished(run_candidate(runner, "", tests), len(tests)).statuses == ["passed"] * len(texts) + ["failed"]


@pytest.mark.slow
def test_humanevalpack_canonical_solutions_pass_and_wrong_variants_fail(runner):
    """Every canonical solution passes its test; the buggy solution and an empty body fail it: run as the
    test's own definitions (one runner per problem) and, for every eighth problem, as the candidate itself."""
    problems = load_benchmark("humanevalpack-js")
    with (DEFAULT_DATA_DIR / "humanevalpack-js.jsonl").open(encoding="utf-8") as handle:
        buggy = {record["task_id"]: record["buggy_solution"] for record in map(json.loads, handle)}
    assert len(problems) == 164

    def check(numbered: tuple[int, object]) -> list[str]:
        number, problem = numbered
        wrong = [problem.program(buggy[problem.task_id]), problem.program("}\n")]
        run = run_candidate(runner, problem.program(), [problem.test] + [f"{code}\n{problem.test}" for code in wrong],
                            timeout_ms=10000)
        # A wrong variant may also exhaust the heap and take the runner down (JavaScript/25's buggy loop does
        # on a fast machine): the worker marks that test `memory`. Either way it must not pass.
        died_on_a_wrong_variant = not run.done and len(run.statuses) >= 1 and "heap" in run.stderr
        honest = (run.done or died_on_a_wrong_variant) and run.statuses[:1] == ["passed"] \
            and "passed" not in run.statuses[1:]
        problems_found = [] if honest else [
            f"{problem.task_id}: {run.statuses} {[r.message[:80] for r in run.results]} {run.stderr[:200]}"]
        if number % 8 == 0:
            for code in wrong:
                alone = run_candidate(runner, code, [problem.test], timeout_ms=10000)
                out_of_heap = not alone.done and not alone.statuses and "heap" in alone.stderr
                if not out_of_heap and (not alone.done or alone.statuses != [alone.statuses[0]]
                                        or alone.statuses[0] == "passed"):
                    problems_found.append(f"{problem.task_id} as candidate: {alone.statuses}")
        return problems_found

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [failure for found in pool.map(check, enumerate(problems)) for failure in found]
    assert failures == []


# ---------------------------------------------------------------------------------------------- attacks

# Each of these fails for WRONG_ADD (add(1, 2) is 4) and passes for ADD.
FORGEABLE_TESTS = [
    "console.assert(add(1, 2) === 3)",
    "const assert = require('assert'); assert.strictEqual(add(1, 2), 3)",
    "assert.deepEqual([add(1, 2)], [3])",
    "require('node:assert/strict').deepStrictEqual({x: add(1, 2)}, {x: 3})",
    "assert(add(1, 2) === 3)",
    "assert.equal(add(1, 2), 3)",
    "console.assert(JSON.stringify([add(1, 2)]) === JSON.stringify([3]))",
    "console.assert([add(1, 2)].includes(3))",
    "console.assert(String([add(1, 2)]) == '3' && `${[add(1, 2)]}` === '3')",
    "console.assert(Math.abs(add(1, 2) - 3) < 1e-9)",
    "console.assert(Object.keys({[add(1, 2)]: 1})[0] === '3')",
    "if (add(1, 2) !== 3) throw new Error('wrong sum')",
]
FORGEABLE_STATUSES = ["failed"] * (len(FORGEABLE_TESTS) - 1) + ["error"]
ATTACKS = {
    "mutate require('assert')": [
        "const a = require('assert'); a.strictEqual = a.deepEqual = a.deepStrictEqual = a.equal = a.ok = () => {}",
        "Object.defineProperty(require('assert'), 'strictEqual', {value: () => {}})",
        "require('assert').strict.deepStrictEqual = () => {}",
        "Object.setPrototypeOf(require('assert'), null)",
        "require('assert').AssertionError.prototype.name = 'Nope'",
    ],
    "shadow assert": [
        "var assert = () => {}; assert.strictEqual = assert.deepEqual = assert.equal = () => {}",
        "globalThis.assert = Object.assign(() => {}, {deepEqual() {}, equal() {}, strictEqual() {}})",
        "Object.defineProperty(globalThis, 'assert', {value: () => {}, configurable: false})",
        "var require = () => ({strictEqual() {}, deepStrictEqual() {}})",
        "globalThis.require = () => ({strictEqual() {}, deepStrictEqual() {}})",
    ],
    "no-op console.assert": [
        "console.assert = () => {}",
        "globalThis.console = {assert() {}, log() {}}",
        "Object.defineProperty(globalThis, 'console', {value: {assert() {}}})",
        "delete globalThis.console",
        "var console = {assert() {}, log() {}}",
    ],
    "pollute prototypes": [
        "Object.prototype.then = function (resolve) { resolve() }",
        "Function.prototype.call = function () {}", "Function.prototype.apply = function () {}",
        "Object.prototype.toJSON = () => 0", "Array.prototype.toJSON = () => 0",
        "Array.prototype.includes = () => true", "Array.prototype.toString = () => '3'",
        "Array.prototype.join = () => '3'", "String.prototype.toString = () => '3'",
        "Object.prototype[Symbol.toPrimitive] = () => 3", "Number.prototype.valueOf = () => 3",
        "Object.defineProperty(Array.prototype, Symbol.toPrimitive, {value: () => '3'})",
        "Object.setPrototypeOf(Array.prototype, new Proxy({}, {get: () => () => true}))",
        "Object.keys = () => ['3']", "Error.prototype.name = 'AssertionError'",
    ],
    "replace globals": [
        "JSON = {stringify: () => '1'}", "globalThis.JSON = {stringify: () => '1'}",
        "Object.defineProperty(globalThis, 'Math', {value: {abs: () => 0}})", "Math.abs = () => 0",
        "JSON.stringify = () => '1'", "String = () => '3'", "globalThis.Object = {keys: () => ['3']}",
        "Object.setPrototypeOf(globalThis, new Proxy({}, {has: () => true, get: () => () => {}}))",
    ],
    "end the process": [
        "process.emit('beforeExit')", "process.exitCode = 0", "process.exit(0)", "process.kill(process.pid)",
        "process.stdout.write('forged')", "globalThis.process = {exit() {}}",
    ],
    "escape the realm": [
        "this.constructor.constructor('return process')().exit(0)",
        "(function () {}).constructor('return process')().exit(0)",
        "Function('return this')().process.exit(0)",
        "Reflect.construct(Function, ['return process'])().exit(0)",
        "Error.prepareStackTrace = (e, frames) => frames.map((f) => f.getThis())",
        "Error.captureStackTrace(globalThis)",
        "require('child_process').spawn('sh', ['-c', 'echo forged >&4'], {detached: true}).unref()",
        "require('fs').writeSync(4, JSON.stringify({i: 0, nonce: 'ab'.repeat(16), status: 'passed'}) + '\\n')",
        "require('module')", "require('vm').runInThisContext('process')", "require('node:worker_threads')",
    ],
    "hijack the harness": [
        "for (const k of Object.getOwnPropertyNames(globalThis)) if (k.startsWith('__codemill')) "
        "{ globalThis[k](); globalThis[k] = () => '[\"passed\",null,\"\"]' }",
        "for (const k of Object.getOwnPropertyNames(globalThis)) if (k.startsWith('__codemill')) "
        "Object.defineProperty(globalThis, k, {value: () => '[\"passed\",null,\"\"]'})",
        "setTimeout = (f) => f()", "queueMicrotask = () => {}",
        "Promise.resolve().then(() => { console.assert = () => {} })",
    ],
}


def guarded(statements: list[str]) -> str:
    """Each statement in its own try: the candidate's script runs to its end whatever the runner refuses."""
    return "".join(f"try {{ {statement} }} catch (_) {{}}\n" for statement in statements)


@pytest.mark.parametrize("attack", ATTACKS, ids=list(ATTACKS))
def test_a_forging_attack_leaves_failing_tests_failing(runner, attack):
    run = finished(run_candidate(runner, guarded(ATTACKS[attack]) + WRONG_ADD, FORGEABLE_TESTS), len(FORGEABLE_TESTS))
    assert run.statuses == FORGEABLE_STATUSES, run.results
    assert run.types == ["AssertionError"] * (len(FORGEABLE_TESTS) - 1) + ["Error"]
    assert "forged" not in run.stdout + run.stderr


def test_the_attacked_tests_still_pass_for_a_correct_candidate(runner):
    code = "".join(guarded(statements) for statements in ATTACKS.values()) + ADD
    assert finished(run_candidate(runner, code, FORGEABLE_TESTS), len(FORGEABLE_TESTS)).statuses == [
        "passed"] * len(FORGEABLE_TESTS)


ESCAPE_PROBE = r"""
const outcomes = {};
const attempt = (name, fn) => {
  try {
    const got = fn();
    outcomes[name] = got && typeof got.pid === 'number' ? 'reached the process' : 'got ' + typeof got;
  } catch (error) {
    outcomes[name] = 'blocked: ' + error.name;
  }
};
attempt('process', () => process);
attempt('this.constructor', () => this.constructor.constructor('return process')());
attempt('Function', () => Function('return process')());
attempt('AsyncFunction', () => (async () => {}).constructor('return process'));
attempt('eval', () => eval('process'));
attempt('require fs', () => require('fs'));
attempt('require child_process', () => require('child_process'));
attempt('require path', () => require('path'));
attempt('require non-string', () => require({toString: () => 'fs'}));
attempt('SharedArrayBuffer', () => new SharedArrayBuffer(8));
attempt('Atomics', () => Atomics.wait);
attempt('WebAssembly', () => WebAssembly.compile);
attempt('FinalizationRegistry', () => new FinalizationRegistry(() => {}));
attempt('setTimeout string', () => setTimeout('process.exit(0)', 1));
"""


def test_escape_attempts_are_blocked(runner):
    test = ("for (const [name, outcome] of Object.entries(outcomes)) "
            "console.assert(outcome.startsWith('blocked'), name + ': ' + outcome)")
    count = "console.assert(Object.keys(outcomes).length === 14)"
    run = finished(run_candidate(runner, ESCAPE_PROBE, [test, count]), 2)
    assert run.statuses == ["passed", "passed"], run.results


# Walks everything reachable from the context's globals (and what the harness hands out) and reports the
# objects whose prototype chain does not end at this realm's Object.prototype: an object of another realm.
REALM_WALK = r"""
function foreignObjects(roots) {
  const seen = new Set(), stack = [...roots], foreign = [];
  const home = (object) => { // its prototype chain reaches this realm's Object.prototype
    for (let p = Object.getPrototypeOf(object), i = 0; p !== null && i < 1000; p = Object.getPrototypeOf(p), i++) {
      if (p === Object.prototype) return true;
    }
    return false;
  };
  while (stack.length > 0) {
    const object = stack.pop();
    if ((typeof object !== 'object' && typeof object !== 'function') || object === null || seen.has(object)) continue;
    seen.add(object);
    if (Object.getPrototypeOf(object) !== null && !home(object)) foreign.push(String(Object.keys(object)));
    for (const key of Reflect.ownKeys(object)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(object, key);
      stack.push(descriptor.value, descriptor.get, descriptor.set);
    }
    stack.push(Object.getPrototypeOf(object));
  }
  return {foreign, count: seen.size};
}
"""
HANDED_OUT = r"""
const caught = [];
const keep = (fn) => { try { fn() } catch (error) { caught.push(error) } };
keep(() => require('fs'));
keep(() => require(1));
keep(() => assert.strictEqual(1, 2));
keep(() => console.assert(false));
keep(() => setTimeout('x'));
keep(() => null.x);
keep(() => new Function('1'));
function deep() {
  try { return deep() } catch (error) {
    caught.push(error);
    keep(() => console.log('at the stack limit'));
    keep(() => require('fs'));
    keep(() => assert.deepStrictEqual([1], [2]));
    return 0;
  }
}
deep();
const handedOut = [globalThis, require('assert'), require('assert/strict'), require('util'), require('js-md5'),
  console, module, exports, setTimeout(() => {}, 1), setImmediate(() => {}), ...caught];
"""


def test_no_object_of_the_host_realm_is_reachable(runner):
    probe = "const {foreign, count} = foreignObjects(handedOut); console.log(count);" \
            "console.assert(foreign.length === 0, JSON.stringify(foreign))"
    run = finished(run_candidate(runner, REALM_WALK + HANDED_OUT, [probe]), 1)
    assert run.statuses == ["passed"], run.results
    assert int(run.stdout.split()[-1]) > 500  # the walk did cover the intrinsics and the harness
    # The walk does see a host object when one is there (plain Node, one leaked on purpose):
    control = (REALM_WALK + "const vm = require('vm'); const context = vm.createContext({leaked: {}});"
               "vm.runInContext(" + json.dumps(REALM_WALK) + ", context);"
               "console.log(vm.runInContext('foreignObjects([globalThis]).foreign.length', context))")
    assert int(subprocess.run([NODE, "-e", control], capture_output=True, text=True, check=True).stdout) > 0


def test_forged_result_lines_do_not_reach_fd4(runner):
    forged = [json.dumps({"i": i, "nonce": nonce, "status": "passed", "error_type": None, "message": "",
                          "exec_s": 0.0}) for i in range(3) for nonce in (NONCE, "ab" * 16)]
    code = WRONG_ADD + "".join(f"console.log({json.dumps(line)}); console.error({json.dumps(line)});\n"
                               for line in forged)
    tests = [f"console.log({json.dumps(forged[0])}); console.assert(add(1, 2) === 3)"] * 3
    run = finished(run_candidate(runner, code, tests), 3)  # even a leaked nonce only reaches stdout and stderr
    assert run.statuses == ["failed"] * 3
    assert forged[0] in run.stdout and forged[0] in run.stderr


def test_the_candidate_cannot_read_the_test(runner):
    # Through `caller` (the test is strict), the stack (line numbers only), or a global setter for its names.
    code = r"""
let leaked;
Object.defineProperty(globalThis, 'expected', {set(v) { leaked = v }, get() { return leaked }, configurable: true});
function add(a, b) {
  let source = '';
  for (const read of [() => add.caller, () => arguments.callee.caller, () => new Error().stack]) {
    try { source += String(read()) } catch (_) {}
  }
  const match = /add\(1, 2\) === (\d+)/.exec(source);
  return match ? Number(match[1]) : leaked !== undefined ? leaked : -1;
}
"""
    tests = ["const check = () => console.assert(add(1, 2) === 3); check()", "console.assert(add(1, 2) === 3)",
             "var expected = 3; console.assert(add(1, 2) === expected)",
             "function expected() {}; const value = 3; console.assert(add(1, 2) === value)"]
    assert finished(run_candidate(runner, code, tests), 4).statuses == ["failed"] * 4


def test_loose_equality_stays_loose_and_strict_stays_strict(runner):
    code = "const add = () => ({[Symbol.toPrimitive]: () => 3, valueOf: () => 3, toString: () => '3'})"
    tests = ["console.assert(add(1, 2) === 3)", "assert.strictEqual(add(1, 2), 3)",
             "assert.deepStrictEqual(add(1, 2), 3)", "assert.deepEqual(add(1, 2), 3)",
             "console.assert(JSON.stringify(add(1, 2)) === '3')",
             "assert.equal(add(1, 2), 3)"]  # `==` calls the object's own toPrimitive, as in Node
    assert finished(run_candidate(runner, code, tests), 6).statuses == ["failed"] * 5 + ["passed"]


def test_hostile_thrown_values_are_classified_safely(runner):
    tests = [
        "throw new Proxy({}, {get() { throw new Error('trap') }, getPrototypeOf() { for (;;) {} }})",
        "throw {get name() { for (;;) {} }}",
        "throw {toString() { for (;;) {} }, message: {toString() { for (;;) {} }}}",
        "throw Symbol('s')", "throw 'text'", "throw null", "throw undefined",
        "const e = new Error('x'); Object.defineProperty(e, 'message', {get() { throw e }}); throw e",
        "throw {name: 'AssertionError', message: 'mine'}",
        "throw Object.assign(new Error('Script execution timed out after 500ms'),"
        " {code: 'ERR_SCRIPT_EXECUTION_TIMEOUT'})",
        "throw {message: 'x'.repeat(100000), name: 'y'.repeat(100000)}",
        "function f() { f() } f()",
    ]
    run = finished(run_candidate(runner, "", tests, timeout_ms=1000), len(tests))
    assert run.statuses == ["error"] * 8 + ["failed", "error", "error", "error"]
    assert run.results[1].message == "<unclassifiable thrown value>"
    assert [r.message for r in run.results[3:7]] == ["Symbol(s)", "text", "null", "undefined"]
    assert run.results[9].error_type == "Error" and run.results[11].error_type == "RangeError"
    assert len(run.results[10].message) == 2000 and len(run.results[10].error_type or "") == 200


def test_dynamic_import_is_refused_before_it_runs(runner):
    # import() is the one syntax whose rejection carries an object of the host realm.
    tests = ["import('fs').catch((e) => e.constructor.constructor('return process')().exit(0))",
             "import /* c */ ('fs')", "import\n('fs')", "import // c\n('fs')", "import <!-- c\n('fs')",
             "const important = 1; const o = {imports: 2}; console.assert(important + o.imports === 3)"]
    run = finished(run_candidate(runner, ADD, tests), len(tests))
    assert run.types == ["SandboxViolation"] * 5 + [None]
    assert run.statuses == ["error"] * 5 + ["passed"]
    candidate = finished(run_candidate(runner, "import('fs')\n" + ADD, ["console.assert(add(1, 2) === 3)"]), 1)
    assert candidate.types == ["SandboxViolation"]


# ---------------------------------------------------------------------------------------------- isolation


def test_state_does_not_leak_between_tests(runner):
    code = "let count = 0\nfunction bump() { return ++count }\n"
    tests = ["globalThis.leak = 1; bump(); bump(); try { Array.prototype.extra = 1 } catch (_) {}; "
             "console.assert(count === 2)",
             "console.assert(typeof leak === 'undefined' && bump() === 1 && [].extra === undefined)"]
    assert finished(run_candidate(runner, code, tests), 2).statuses == ["passed", "passed"]


def test_an_endless_test_times_out_alone(runner):
    tests = ["console.assert(add(1, 2) === 3)", "for (;;) {}", "console.assert(add(1, 2) === 3)",
             "Promise.resolve().then(() => { for (;;) {} })", "setTimeout(() => { for (;;) {} }, 10)",
             "setInterval(() => {}, 1)", "console.assert(add(2, 2) === 5)"]
    run = finished(run_candidate(runner, ADD, tests, timeout_ms=1000), len(tests))
    assert run.statuses == ["passed", "timeout", "passed", "timeout", "timeout", "timeout", "failed"]


def test_hostile_rejected_promises_fail_only_their_test(runner):
    # Node examines rejected promises outside any vm call: that pass runs under the watchdog too.
    tests = ["const p = Promise.reject(1); Object.setPrototypeOf(p, new Proxy({}, {get() { for (;;) {} }}))",
             "const p = Promise.reject(1); Object.setPrototypeOf(p, new Proxy({}, {get() { throw new Error('x') }}))",
             "Promise.reject({get name() { for (;;) {} }})", "Promise.reject(new RangeError('r'))",
             "console.assert(add(1, 2) === 3)"]
    run = finished(run_candidate(runner, ADD, tests, timeout_ms=1000), len(tests))
    assert run.statuses == ["error"] * 4 + ["passed"]
    assert run.types[3] == "RangeError"


def test_a_heap_bomb_kills_the_runner_after_the_earlier_results(runner):
    tests = ["console.assert(add(1, 2) === 3)", "const a = []; for (;;) a.push(new Array(1e5).fill(1))",
             "console.assert(add(1, 2) === 3)"]
    run = run_candidate(runner, ADD, tests, timeout_ms=30000, memory_mb=64)
    assert run.returncode != 0 and not run.done and run.unverified == []
    assert run.statuses == ["passed"]  # the worker marks test 1 and restarts a runner for test 2


def test_an_allocation_refused_by_the_address_space_limit_is_memory(runner):
    tests = ["new Uint8Array(new ArrayBuffer(1.5e9)).fill(1)", "console.assert(add(1, 2) === 3)"]
    run = finished(run_candidate(runner, ADD, tests, memory_mb=64, address_space_mb=1536), 2)
    assert run.statuses == ["memory", "passed"]


def test_console_output_is_capped_per_test(runner):
    tests = ["for (let i = 0; i < 100000; i++) console.log('x'.repeat(99))", "console.log('next')"]
    run = finished(run_candidate(runner, "", tests, timeout_ms=30000), 2)
    assert run.statuses == ["passed", "passed"]
    assert len(run.stdout) < (1 << 20) + 100 and "[output truncated]" in run.stdout and run.stdout.endswith("next\n")
