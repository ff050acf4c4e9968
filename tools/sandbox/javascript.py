"""The Node harness for JavaScript checks (written by each worker into its private directory).

`RUNNER_JS` (`runner.js`, beside this file) runs ONE candidate against its tests one by one, each test in a
fresh `vm` context.
Its contract with the worker, which provides the OS containment around it (uid, rlimits, no network,
sealed filesystem, killing what the uid leaves running):

- argv: `runner_argv(...)` = `node --max-old-space-size=MB --v8-pool-size=1 [--stack-size=KB] RUNNER`,
  nothing else; a scrubbed environment; cwd a private writable work dir (`__dirname` of the candidate).
- fd 3 (read end of a pipe): exactly one frame, `encode_frame(...)`: an 8-byte big-endian length, then
  UTF-8 JSON `{"nonce": hex, "code": str, "tests": [str, ...], "timeout_ms": number}`. The runner reads it
  synchronously at start-up and closes fd 3 before any candidate code runs.
- fd 4 (write end): one JSON line per test, in order, `{"i", "nonce", "status", "error_type", "message",
  "exec_s"}` (status: passed, failed, error, timeout, memory; message capped at 2000 characters; exec_s the
  test's own run time, candidate script + test + its timers), then `{"done": true, "nonce"}`; checked by
  `parse_result_line`. If node dies or hangs during test i (heap exhaustion aborts V8; a hang outside the
  vm timeout), the worker marks test i and starts a fresh runner for the remaining tests: a test's verdict
  depends only on that test. "i" is the index in this frame's `tests`.
- fds 1/2: console output (log/info/debug to 1, error/warn/trace to 2), at most 1 MiB per test.
- exit status 0 after "done"; 2: unreadable or malformed frame; 3: fd 4 not writable.
- time: each test may use `timeout_ms` (the candidate's top level, re-run in the test's fresh context, plus
  the test and its timers), then up to 3 x 0.5 s (only hostile code uses them) to read what it threw and to
  flush its rejected promises, plus a few ms of set-up; the first line also waits for Node's start (~50-150
  ms of CPU). A worker deadline of `timeout_ms + 3 s` per line, from the previous line (or the spawn).

Per test: a context from a null-prototype object, with string and wasm code generation off and
`microtaskMode: 'afterEvaluate'`. A bootstrap run inside it captures the primordials it needs, builds
console, require (allow-list: assert, assert/strict, util, js-md5, also under `node:`), module/exports,
a frozen Node-compatible assert and virtual timers (due order, no waiting), removes FinalizationRegistry,
WeakRef, SharedArrayBuffer, Atomics and WebAssembly, and freezes the intrinsics. There is no `process`,
Buffer, fetch or file system. Then the candidate runs as a script (its top-level declarations are
globals), and the test as a strict function compiled in the same context: it sees the candidate's
declarations, and resolves every builtin, console, require and assert in a frozen scope of pristine values
first, so nothing the candidate rebinds or mutates changes what the test compares. Each step is a vm
evaluation under the test's timeout; nothing of the host realm is reachable from the context. `import()`,
the one syntax whose rejection would carry a host object, is refused before anything runs (error_type
"SandboxViolation", also for the word `import` followed by `(` or a comment in a string: conservative).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import NamedTuple

FRAME_FD = 3
RESULT_FD = 4
RESULT_STATUSES = frozenset({"passed", "failed", "error", "timeout", "memory"})


def runner_argv(node: str, runner: str, memory_mb: int, stack_size_kb: int | None = None) -> list[str]:
    """The runner's whole command line: Node flags and the script, no arguments (nothing to read there)."""
    argv = [node, f"--max-old-space-size={memory_mb}", "--v8-pool-size=1"]
    if stack_size_kb is not None:
        argv.append(f"--stack-size={stack_size_kb}")
    return [*argv, runner]


def encode_frame(nonce: str, code: str, tests: Sequence[str], timeout_ms: int) -> bytes:
    """The one frame the worker writes to the runner's fd 3."""
    payload = json.dumps({"nonce": nonce, "code": code, "tests": list(tests), "timeout_ms": timeout_ms}).encode()
    return len(payload).to_bytes(8, "big") + payload


class RunnerLine(NamedTuple):
    """One line the runner wrote to fd 4: a test's verdict (`position`: the test's index in the frame), or
    the final `done` (position None)."""

    position: int | None
    status: str = ""
    error_type: str | None = None
    message: str = ""
    exec_s: float = 0.0

    @property
    def done(self) -> bool:
        return self.position is None


def parse_result_line(line: bytes | str, nonce: str) -> RunnerLine | None:
    """A verified line from fd 4, or None if it is malformed or does not carry this run's nonce."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("nonce") != nonce:
        return None
    if record.get("done") is True and set(record) == {"done", "nonce"}:
        return RunnerLine(position=None)
    index, status, error_type = record.get("i"), record.get("status"), record.get("error_type")
    message, exec_s = record.get("message"), record.get("exec_s")
    if (set(record) != {"i", "nonce", "status", "error_type", "message", "exec_s"}
            or not isinstance(index, int) or isinstance(index, bool) or index < 0 or status not in RESULT_STATUSES
            or not (error_type is None or isinstance(error_type, str)) or not isinstance(message, str)
            or not isinstance(exec_s, int | float) or isinstance(exec_s, bool) or exec_s < 0):
        return None
    return RunnerLine(position=index, status=status, error_type=error_type, message=message, exec_s=float(exec_s))




def _read_runner() -> str:
    """runner.js, read with `os.path` (no pathlib: every module the worker imports, each check's fork copies)."""
    with open(os.path.join(os.path.dirname(__file__), "runner.js"), encoding="utf-8") as handle:
        return handle.read()


RUNNER_JS = _read_runner()  # read once, by the worker
