"""Hostile code is contained: each attack gets the right status, the run goes on, the host is untouched."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tools.errors import SandboxError
from tools.sandbox import Check, Limits, Sandbox, Status
from tools.sandbox.slots import GUARD_S

LIMITS = Limits(timeout_s=1.5, memory_mb=256, output_bytes=16 * 1024, file_size_mb=4)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="dropping privileges needs root")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=LIMITS) as box:
        yield box


@pytest.fixture
def canary():
    """A root-owned directory the checks can see but must not change, holding one file to protect."""
    parent = next((p for p in ("/srv", "/opt", "/mnt") if os.path.isdir(p) and os.stat(p).st_uid == 0), None)
    directory = Path(tempfile.mkdtemp(prefix="codemill-canary-", dir=parent))
    directory.chmod(0o755)
    (directory / "keep").write_text("precious")
    yield directory
    shutil.rmtree(directory)


def processes_of(uids: list[int]) -> list[int]:
    """Pids of live processes whose real uid is one of the sandbox's slot uids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        state = next(line for line in status.splitlines() if line.startswith("State:"))
        if int(uid_line.split()[1]) in uids and "Z" not in state.split()[1]:
            found.append(int(entry.name))
    return found


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_still_healthy(box: Sandbox) -> None:
    result = box.run_one(Check(code="def f():\n    return 1", test="assert f() == 1"))
    assert result.status is Status.PASSED, result


def test_fork_bomb_is_contained_and_cleaned_up(sandbox):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = sandbox.run_one(Check(code=bomb, test="assert True"))
    assert result.status is Status.TIMEOUT
    assert result.wall_s < LIMITS.timeout_s + GUARD_S  # stopped by the limit (the bound is loose: busy machines)
    if ROOT:
        time.sleep(0.2)
        assert processes_of(sandbox.slot_uids) == []
    assert_still_healthy(sandbox)


@needs_root
@pytest.mark.parametrize("ending", ["assert True", "import os\nos._exit(0)"])
def test_processes_escaping_the_group_are_killed(sandbox, ending):
    escape = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n    os._exit(0)\n"
              "time.sleep(0.1)")
    result = sandbox.run_one(Check(code=escape, test=ending))
    assert result.status is (Status.PASSED if ending == "assert True" else Status.CRASHED)
    time.sleep(0.2)
    assert processes_of(sandbox.slot_uids) == []


@pytest.mark.parametrize("bomb", ["x = ' ' * (8 * 1024 ** 3)",
                                  "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))"])
def test_memory_bomb(sandbox, bomb):
    roomy = LIMITS.model_copy(update={"timeout_s": 10.0})  # the machine may be busy: let memory run out first
    result = sandbox.run_one(Check(code=bomb, test="assert True", limits=roomy))
    assert result.status is Status.MEMORY, result
    assert_still_healthy(sandbox)


@pytest.mark.parametrize("flood", ["while True:\n    print('x' * 100)",
                                   "import os\nos.write(1, b'y' * (10 ** 8))",
                                   "import sys\nwhile True:\n    sys.stderr.write('e' * 1000)"])
def test_infinite_output_is_capped(sandbox, flood):
    result = sandbox.run_one(Check(code=flood, test="assert True"))
    assert result.status is Status.OUTPUT_LIMIT, result
    assert len(result.stdout) + len(result.stderr) <= LIMITS.output_bytes
    assert result.wall_s < LIMITS.timeout_s + GUARD_S  # stopped by the limit (the bound is loose: busy machines)


@pytest.mark.parametrize("loop", ["import itertools\nlist(itertools.product(range(100), repeat=10))",
                                  "import itertools\nany(itertools.repeat(0))"])
def test_infinite_loop_in_c_code(sandbox, loop):
    result = sandbox.run_one(Check(code=loop, test="assert True"))
    assert result.status in {Status.TIMEOUT, Status.MEMORY}, result
    assert result.wall_s < LIMITS.timeout_s + GUARD_S  # stopped by the limit (the bound is loose: busy machines)


def test_ignoring_sigterm_does_not_help(sandbox):
    code = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass"
    result = sandbox.run_one(Check(code=code, test="assert True"))
    assert result.status is Status.TIMEOUT
    assert result.wall_s < LIMITS.timeout_s + GUARD_S  # stopped by the limit (the bound is loose: busy machines)


def test_cpu_limit_stops_a_busy_loop():
    with Sandbox(workers=1, limits=Limits(timeout_s=10, cpu_s=1)) as box:
        result = box.run_one(Check(code="while True:\n    pass", test=""))
    assert result.status is Status.TIMEOUT and result.error_type == "SIGXCPU"
    assert result.cpu_s < 5  # stopped by the CPU limit, long before the wall-clock one


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "raise SystemExit", "import os\nos._exit(0)",
                                       "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
def test_exiting_before_the_asserts_is_not_a_pass(sandbox, exit_call):
    result = sandbox.run_one(Check(code=exit_call, test="assert False, 'never reached'"))
    assert result.status is Status.CRASHED, result


def test_faking_a_completion_report_is_not_a_pass(sandbox):
    fake = ('import os\nfor fd in range(3, 64):\n    try:\n'
            '        os.write(fd, b\'{"nonce": "", "status": "passed", "exec_s": 0}\')\n'
            '    except OSError:\n        pass\nos._exit(0)')
    result = sandbox.run_one(Check(code=fake, test="assert False"))
    assert result.status is Status.CRASHED, result


def test_monkeypatching_builtins_and_modules(sandbox):
    patch = ("import builtins, os, time, json\n"
             "builtins.AssertionError = type('Fake', (Exception,), {})\n"
             "builtins.type = builtins.str = builtins.isinstance = None\n"
             "os._exit = os.write = os.read = lambda *a: 0\n"
             "time.perf_counter = lambda: 0.0\njson.dumps = None")
    failed, passed = sandbox.run([Check(code=patch, test="assert 1 == 2, 'caught'"),
                                  Check(code=patch, test="x = 1")])
    assert failed.status is Status.FAILED and failed.message == "caught"
    assert passed.status is Status.PASSED and passed.exec_s >= 0  # measured outside: patched clocks don't matter
    assert_still_healthy(sandbox)  # the next check forks from a clean worker


def test_flooding_the_report_pipe_is_stopped_early(sandbox):
    flood = ("import os\nchunk = b'x' * 65536\nfor fd in range(3, 64):\n    try:\n        while True:\n"
             "            os.write(fd, chunk)\n    except OSError:\n        pass")
    result = sandbox.run_one(Check(code=flood, test="assert False"))
    assert (result.status, result.error_type) == (Status.CRASHED, "BadReport"), result
    assert result.wall_s < LIMITS.timeout_s + GUARD_S  # cut off at the cap, not left to fill the worker's memory
    assert_still_healthy(sandbox)


def test_patched_exception_builtins_cannot_change_the_report(sandbox):
    patch = ("import builtins\nfor name in ('BaseException', 'Exception', 'OSError', 'SystemExit', 'MemoryError',"
             " 'str', 'type', 'len'):\n    setattr(builtins, name, None)\n")
    raised, exited, passed = sandbox.run([Check(code=patch, test="raise ValueError('boom')"),
                                          Check(code="import sys\n" + patch, test="sys.exit(0)"),
                                          Check(code=patch, test="x = 1")])
    assert (raised.status, raised.error_type, raised.message) == (Status.ERROR, "ValueError", "boom")
    assert exited.status is Status.CRASHED and exited.error_type == "SystemExit"
    assert passed.status is Status.PASSED


@needs_root
def test_subclasses_trick_cannot_touch_the_host(sandbox, canary):
    escape = ("sub = [c for c in ().__class__.__bases__[0].__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
              "system = sub.__init__.__globals__['system']\n"
              f"status = system('touch /tmp/codemill-escaped; touch {canary}/escaped; rm -f {canary}/keep')\n")
    result = sandbox.run_one(Check(code=escape, test="assert status == 0, status"))
    # Sealed: there is no shell to run (exit 127); unsealed: it ran as an unprivileged uid and could not write.
    assert result.status is Status.FAILED
    assert result.message == str(127 << 8) or "Permission denied" in result.stderr, result
    assert (canary / "keep").read_text() == "precious"
    assert not (canary / "escaped").exists()
    assert not Path("/tmp/codemill-escaped").exists()


@needs_root
def test_writing_and_deleting_outside_the_work_dir(sandbox, canary):
    attacks = [f"open('{canary}/new', 'w').write('x')", f"os.remove('{canary}/keep')",
               "open('/etc/codemill-pwned', 'w')", f"shutil.rmtree('{canary}')", "open('/etc/shadow').read()",
               "os.setuid(0)"]
    checks = [Check(code="import os, shutil\n" + attack, test="") for attack in attacks]
    results = sandbox.run(checks)
    refusals = {"PermissionError", "FileNotFoundError", "OSError"}  # unsealed: not allowed; sealed: not there
    for attack, result in zip(attacks, results, strict=True):
        assert result.status is Status.ERROR and result.error_type in refusals, (attack, result)
    tmp = sandbox.run_one(Check(code="open('/tmp/codemill-tmp-write', 'w').write('x')\nopen('here', 'w')",
                                test="import os\nassert os.path.exists('here')"))
    assert tmp.status is Status.PASSED  # the private /tmp and the work dir are writable …
    assert not Path("/tmp/codemill-tmp-write").exists()  # … but /tmp is not the host's
    assert sorted(p.name for p in canary.iterdir()) == ["keep"]
    assert not Path("/etc/codemill-pwned").exists()


def test_file_size_and_open_file_limits(sandbox):
    big, many = sandbox.run([Check(code="open('big', 'wb').write(b'x' * (64 * 1024 * 1024))", test=""),
                             Check(code="files = [open('/dev/null') for _ in range(10000)]", test="")])
    assert big.status is Status.ERROR and "too large" in big.message.lower()
    assert many.status is Status.ERROR and many.error_type == "OSError"


def test_killing_the_parent_is_refused_or_survived(sandbox):
    pids = sandbox.worker_pids
    result = sandbox.run_one(Check(code="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", test=""))
    if ROOT:
        assert result.status is Status.ERROR and result.error_type == "PermissionError"
        assert sandbox.worker_pids == pids
    else:
        assert result.status in {Status.CRASHED, Status.ERROR}
    assert_still_healthy(sandbox)


def kill_worker_while_checking(box: Sandbox, slot: int = 0) -> int:
    """SIGKILL the slot's worker once one of its checks is running; the pid killed."""
    pid = box.worker_pids[slot]
    deadline = time.monotonic() + 10
    while not children_of(pid) and time.monotonic() < deadline:  # its check is running
        time.sleep(0.01)
    os.kill(pid, 9)
    return pid


def test_a_lost_worker_is_replaced_and_its_check_runs_again():
    """A worker that dies is the infrastructure's fault: its check runs again on a fresh worker."""
    with Sandbox(workers=2, limits=LIMITS) as box:
        before = box.worker_pids
        results: list = []
        checks = [Check(code=f"import time\ntime.sleep(0.5)\nN = {i}", test=f"assert N == {i}") for i in range(6)]
        runner = threading.Thread(target=lambda: results.extend(box.run(checks)))
        runner.start()
        kill_worker_while_checking(box)
        runner.join(timeout=30)
        assert [r.status for r in results] == [Status.PASSED] * 6, results
        assert len(box.worker_pids) == 2 and box.worker_pids != before and box.replaced_workers == 1
        assert_still_healthy(box)


def test_a_check_that_loses_its_worker_twice_is_an_infrastructure_error_not_a_verdict():
    with Sandbox(workers=1, limits=LIMITS) as box:
        outcome: list = []

        def run() -> None:
            try:
                outcome.append(box.run([Check(code="import time\ntime.sleep(1)", test="assert True")]))
            except SandboxError as error:
                outcome.append(error)

        runner = threading.Thread(target=run)
        runner.start()
        kill_worker_while_checking(box)
        deadline = time.monotonic() + 10
        while box.replaced_workers < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        kill_worker_while_checking(box)
        runner.join(timeout=30)
        assert len(outcome) == 1 and isinstance(outcome[0], SandboxError), outcome
        assert "lost twice" in str(outcome[0]) and box.replaced_workers == 2
        assert_still_healthy(box)


def test_closing_or_redirecting_stdout_and_stderr(sandbox):
    closing = sandbox.run_one(Check(code="import os\nos.close(1)\nos.close(2)\nprint('gone')", test="x = 1"))
    redirect = sandbox.run_one(Check(code="import os\nos.dup2(os.open(os.devnull, os.O_WRONLY), 1)\nprint('x')",
                                     test="assert True"))
    close_all = sandbox.run_one(Check(code="import os\nos.closerange(0, 4096)", test="assert True"))
    assert closing.status is Status.PASSED
    assert redirect.status is Status.PASSED and redirect.stdout == ""
    assert close_all.status is Status.CRASHED  # the report channel is gone: never a pass
    assert_still_healthy(sandbox)


def test_no_network(sandbox):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    result = sandbox.run_one(Check(code=f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)",
                                   test=""))
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    assert result.status is Status.ERROR
    assert result.error_type in {"OSError", "PermissionError", "ConnectionRefusedError"}


def test_work_dir_is_private_and_removed(sandbox):
    first, second = sandbox.run([Check(code="import os\nprint(os.getcwd())\nopen('mine', 'w').write('1')", test=""),
                                 Check(code="import os\nprint(os.getcwd())\nprint(os.listdir('.'))", test="")])
    assert first.stdout.strip() != second.stdout.splitlines()[0]
    assert second.stdout.splitlines()[1] == "[]"
    mode = stat.S_IMODE(os.stat("/tmp").st_mode)
    assert mode & stat.S_ISVTX or not ROOT  # the host /tmp is left as it was


@pytest.mark.skipif(not os.path.exists("/usr/bin/node"), reason="needs Node at /usr/bin/node")
def test_hostile_javascript(sandbox, canary):
    js = [
        ("const a = []\nwhile (true) a.push(new Array(1e6).fill(1))", Status.MEMORY),
        ("while (true) console.log('x'.repeat(100))", Status.OUTPUT_LIMIT),
        (f"require('child_process').execSync('rm -f {canary}/keep')", Status.ERROR),
        ("process.kill(process.ppid, 9)", Status.ERROR if ROOT else Status.CRASHED),
        ("process.on('SIGTERM', () => {})\nwhile (true) {}", Status.ERROR),  # no `process` in the context
        ("while (true) {}", Status.TIMEOUT),
    ]
    results = sandbox.run([Check(code=code, test="console.assert(true)", language="javascript",
                                 limits=Limits(timeout_s=4, memory_mb=256, output_bytes=16 * 1024))
                           for code, _ in js])
    for (code, status), result in zip(js, results, strict=True):
        assert result.status is status, (code, result)
    assert (canary / "keep").read_text() == "precious"
    assert_still_healthy(sandbox)


def test_fallback_without_namespaces_disables_sockets(monkeypatch):
    from tools.sandbox import isolation

    monkeypatch.setattr(isolation, "namespaces_available", lambda: (False, False, False))
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.3)
    port = server.getsockname()[1]
    with Sandbox(workers=1, limits=LIMITS) as box:
        assert box.isolation["network"] == "sockets-disabled"
        result = box.run_one(Check(code=f"import socket\nsocket.create_connection(('127.0.0.1', {port}))",
                                   test=""))
        exited = box.run_one(Check(code="import sys\nsys.exit(0)", test="assert False"))
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()
    assert result.status is Status.ERROR and result.error_type == "PermissionError"
    assert exited.status is Status.CRASHED


@needs_root
def test_nothing_written_to_tmp_survives_into_the_next_check():
    with Sandbox(workers=1, limits=LIMITS) as box:
        writer, reader = box.run([
            Check(code="import os\nopen('/tmp/left-over', 'w').write('x')\nos.mkdir('/dev/shm/stash')", test=""),
            Check(code="import os\nprint(sorted(os.listdir('/tmp')), os.listdir('/dev/shm'))", test="")])
    assert writer.status is Status.PASSED
    assert "left-over" not in reader.stdout and "stash" not in reader.stdout
    assert not Path("/tmp/left-over").exists()


@needs_root
def test_leftovers_in_every_private_tmpfs_are_removed():
    places = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
    write = "import os\n" + "".join(
        f"if os.access('{place}', os.W_OK):\n    os.mkdir('{place}/mine')\n    open('{place}/mine/f', 'w').write('x')\n"
        for place in places)
    look = "import os\nprint({p: sorted(n for n in os.listdir(p) if 'mine' in n) for p in %r if os.path.isdir(p)})"
    with Sandbox(workers=1, limits=LIMITS) as box:
        if box.host_readable and "private tmpfs" not in box.isolation["filesystem"]:
            pytest.skip("no mount namespace here")
        results = box.run([Check(code=write, test=""), Check(code=look % (places,), test=""),
                           Check(code="x = 1", test=""), Check(code=look % (places,), test="")])
    assert [r.status for r in results] == [Status.PASSED] * 4, results
    assert "mine" not in results[1].stdout and "mine" not in results[3].stdout
    assert "/tmp" in results[1].stdout
