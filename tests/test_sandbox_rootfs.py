"""The sealed root: a check sees its work dir, a private /tmp and the read-only runtime, nothing else.

Each test starts a small driver the way a worker is started (`WorkerPlan.launcher()`: unshare --net
--mount --pid --fork ...), which calls `rootfs.seal` and then runs a probe as an unprivileged uid in a
forked child, like a check. The probes attack: they look for the host's files, processes and mounts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.sandbox import isolation, rootfs

SANDBOX_DIR = str(Path(isolation.__file__).parent)
CHECKOUT = str(Path(__file__).resolve().parents[1])
CHECKOUT_PARENT = str(Path(CHECKOUT).parent)
SHARED = os.path.join(CHECKOUT_PARENT, "shared")  # benchmark answers, beside the checkout
NODE = "/usr/bin/node"
STDLIB = os.path.realpath(os.path.dirname(os.__file__))
LIB_DYNLOAD = os.path.join(STDLIB, "lib-dynload")
ROOT = os.geteuid() == 0
needs_namespaces = pytest.mark.skipif(not (ROOT and isolation.namespaces_available()[2]),
                                      reason="sealing needs root and unshare --pid (truly unavailable here)")

# Runs inside the namespaces, as root, like the worker: seal, look around as root, then run the probe in a
# forked child that drops to an unprivileged uid, like a check. Prints one JSON line.
DRIVER = r"""
import json, os, sys, threading, traceback
request = json.loads(sys.argv[1])
sys.path.insert(0, request["sandbox_dir"])
import rootfs
python_paths = [p for p in sys.path if p and p != request["sandbox_dir"]]
out = {"pid": os.getpid(), "mnt_ns": [os.readlink("/proc/self/ns/mnt")]}
if request["mode"] == "unprivileged":
    os.setgroups([]); os.setgid(request["uid"]); os.setuid(request["uid"])
if request["mode"] == "threaded":  # unshare would move only the calling thread: the others keep the host
    threading.Thread(target=threading.Event().wait, daemon=True).start()
try:
    sealed = rootfs.seal(request["base_name"], python_paths, request["allowed"], request["node"])
except rootfs.SealError as error:
    out.update(filesystem=rootfs.host_readable(error), root=sorted(os.listdir("/")),
               host_visible=os.path.isdir(os.path.dirname(request["sandbox_dir"])))
    print(json.dumps(out)); sys.exit(0)
except ValueError as error:
    out.update(value_error=str(error), root=sorted(os.listdir("/")))
    print(json.dumps(out)); sys.exit(0)
out["mnt_ns"].append(os.readlink("/proc/self/ns/mnt"))
out.update(filesystem=sealed.description, visible=sealed.visible, base_dir=sealed.base_dir,
           writable=sealed.writable, seconds=sealed.seconds, cwd=os.getcwd(),
           root_pids=sorted(n for n in os.listdir("/proc") if n.isdigit()))

def attempt(action):
    try:
        action()
    except OSError as error:
        return os.strerror(error.errno)
    return "ok"

def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

out["root_writes"] = {p: attempt(lambda p=p: create(p)) for p in request["root_writes"]}
workdir = os.path.join(sealed.base_dir, "check-1")
os.mkdir(workdir, 0o700)
os.chown(workdir, request["uid"], request["uid"])
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        os.close(read_end)
        os.chdir(workdir)
        os.setgroups([]); os.setgid(request["uid"]); os.setuid(request["uid"])
        os.environ.clear()
        os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8")
        scope = {"request": request, "result": {}, "__name__": "__probe__"}
        exec(compile(request["probe"], "<probe>", "exec"), scope)
        data = json.dumps(scope["result"]).encode()
    except BaseException:
        data = json.dumps({"probe_error": traceback.format_exc()}).encode()
    while data:
        data = data[os.write(write_end, data):]
    os._exit(0)
os.close(write_end)
chunks = []
while chunk := os.read(read_end, 1 << 16):
    chunks.append(chunk)
os.waitpid(pid, 0)
out["check"] = json.loads(b"".join(chunks))
print(json.dumps(out))
"""

# What a hostile check tries, as its unprivileged uid.
CHECK_PROBE = r"""
import ctypes, errno, os, subprocess, sys

def attempt(action):
    try:
        value = action()
    except OSError as error:
        return os.strerror(error.errno) if error.errno else repr(error)
    return value if isinstance(value, (str, int, bool, list)) else "ok"

def create(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

def owner(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Uid:"):
            return int(line.split()[1])

pids = [name for name in os.listdir("/proc") if name.isdigit()]
result["proc"] = {"pids": pids, "owners": [owner(p) for p in pids], "uid": os.getuid(),
                  "statm": len(open("/proc/self/statm").read().split()),
                  "pidfd": attempt(lambda: os.close(os.pidfd_open(os.getpid()))),
                  "worker": attempt(lambda: os.listdir("/proc/1/root"))}
result["mount_points"] = [line.split()[4] for line in open("/proc/self/mountinfo")]
result["exists"] = {p: os.path.lexists(p) for p in request["forbidden"]}
result["listings"] = {p: attempt(lambda p=p: sorted(os.listdir(p))) for p in request["listings"]}
files, dirs, links = [], [], {}
for folder, subdirs, names in os.walk("/"):
    if folder == "/":
        subdirs[:] = [d for d in subdirs if d not in ("proc", "dev", "tmp")]
    dirs.append(folder)
    files += [os.path.join(folder, n) for n in names if not os.path.islink(os.path.join(folder, n))]
    links.update({os.path.join(folder, n): os.path.realpath(os.path.join(folder, n)) for n in names + subdirs
                  if os.path.islink(os.path.join(folder, n))})
result["files"], result["dirs"], result["links"] = files, dirs, links

failures = {}
for name in request["modules"]:
    try:
        __import__(name)
    except BaseException as error:
        failures[name] = repr(error)[:300]
result["import_failures"] = failures
import ctypes, decimal, json, multiprocessing, random, sqlite3, ssl, threading
worker = threading.Thread(target=lambda: None)
worker.start(); worker.join()
result["usage"] = [str(decimal.Decimal("0.1") + decimal.Decimal("0.2")), json.dumps({"a": [1]}),
                   0 <= random.random() < 1, sqlite3.connect(":memory:").execute("select 40 + 2").fetchone()[0],
                   ssl.create_default_context().protocol.name, ctypes.CDLL(None).getpid() == os.getpid(),
                   attempt(lambda: multiprocessing.Lock().acquire())]
node = subprocess.run([request["node"], "-e", request["node_script"]], capture_output=True, text=True, timeout=60)
result["node"] = [node.returncode, node.stdout, node.stderr]
python = subprocess.run([sys.executable, "-c", "import decimal, sys; print(sys.prefix)"], capture_output=True,
                        text=True, timeout=60)
result["python"] = [python.returncode, python.stdout, python.stderr]

result["writes"] = {p: attempt(lambda p=p: create(p)) for p in request["check_writes"]}
result["writes"]["/dev/null"] = attempt(lambda: os.write(os.open("/dev/null", os.O_WRONLY), b"x"))
result["writes"]["/tmp (a file left behind)"] = attempt(lambda: open("/tmp/x", "w").write("y"))
result["urandom"] = len(open("/dev/urandom", "rb").read(16))

libc = ctypes.CDLL(None, use_errno=True)
result["escapes"] = {
    "chroot": attempt(lambda: os.chroot("/tmp")),
    "dotdot": sorted(os.listdir("/..")) == sorted(os.listdir("/")),
    "proc_root": attempt(lambda: sorted(os.listdir("/proc/self/root"))) == sorted(os.listdir("/")),
    "dangling": attempt(lambda: (os.symlink("/work/shared/data", "link"), os.listdir("link"))),
}
if libc.unshare(0x10000000 | 0x00020000) == 0:  # CLONE_NEWUSER | CLONE_NEWNS: root of a new user ns
    result["escapes"]["userns_root"] = sorted(os.listdir("/"))
    result["escapes"]["userns_exists"] = [p for p in request["forbidden"] if os.path.lexists(p)]
    os.mkdir("sys")
    os.mkdir("proc")
    result["escapes"]["userns_sysfs"] = libc.mount(b"sysfs", b"sys", b"sysfs", 0, None) == 0
    result["escapes"]["userns_proc"] = libc.mount(b"proc", b"proc", b"proc", 0, None) == 0
    # the cover over pyenv's site-packages and the read-only binds are locked in a less privileged namespace
    covered, stdlib = request["covered"].encode(), request["stdlib"].encode()
    result["escapes"]["userns_uncover"] = libc.umount2(covered, 2) == 0 or bool(os.listdir(covered))
    result["escapes"]["userns_remount_rw"] = libc.mount(None, stdlib, None, 4096 | 32, None) == 0
else:
    result["escapes"]["userns"] = os.strerror(ctypes.get_errno())
"""

PACKAGE_PROBE = r"""
import os
import numpy, typing_extensions
result["numpy"] = int(numpy.arange(6).reshape(2, 3).sum())
try:
    import pydantic
    result["pydantic"] = "imported"
except ImportError:
    result["pydantic"] = "missing"
result["listings"] = {p: sorted(os.listdir(p)) if os.path.isdir(p) else None for p in request["listings"]}
"""

NODE_SCRIPT = ("const fs = require('fs');"
               "fs.writeFileSync('/tmp/n.txt', 'hi');"
               "console.log(fs.readFileSync('/tmp/n.txt', 'utf8'),"
               " require('crypto').createHash('sha256').update('a').digest('hex').slice(0, 8),"
               " fs.existsSync('/work/shared'), fs.existsSync('/etc/passwd'), require('os').cpus().length > 0)")


def site_packages() -> str:
    return next(p for p in sys.path if p.endswith("site-packages"))


def base_site_packages() -> str:
    return os.path.join(STDLIB, "site-packages")


def run_driver(mode: str = "seal", allowed: list[str] | None = None, probe: str = "", pidns: bool = True,
               **extra: object) -> dict:
    """Start the driver under the worker's launcher; its JSON report."""
    plan = dataclasses.replace(isolation.plan_slots(1)[0], pidns=pidns)
    uid = plan.uid if plan.uid is not None else 65534
    request = {"sandbox_dir": SANDBOX_DIR, "mode": mode, "allowed": allowed or [], "node": NODE, "uid": uid,
               "base_name": "codemill-sandbox-test", "probe": probe, "root_writes": [], **extra}
    command = [*plan.launcher(), sys.executable, "-E", "-s", "-c", DRIVER, json.dumps(request)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=isolation.worker_env())
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert "probe_error" not in report.get("check", {}), report["check"]["probe_error"]
    return report


@pytest.fixture(scope="module")
def secrets_on_host(tmp_path_factory):
    """OUTDIR-like directories with a secret file, in places a check must not see."""
    places = [tmp_path_factory.mktemp("outdir")]
    for parent in ("/srv", "/opt", "/var/tmp", "/home"):
        if os.path.isdir(parent):
            directory = Path(parent) / f"codemill-outdir-{secrets.token_hex(4)}"
            directory.mkdir(mode=0o755)
            places.append(directory)
    for place in places:
        (place / "answers.jsonl").write_text("secret")
        os.chmod(place / "answers.jsonl", 0o644)
    yield [str(p / "answers.jsonl") for p in places]
    for place in places[1:]:
        shutil.rmtree(place)


@pytest.fixture(scope="module")
def sealed_check(secrets_on_host):
    """One sealed driver run with the default (empty) allow-list and the hostile probe."""
    forbidden = [*secrets_on_host, SHARED, os.path.join(SHARED, "data"), os.path.join(CHECKOUT, "README.md"),
                 os.path.join(CHECKOUT, "tools"), os.path.join(site_packages(), "pydantic"), site_packages(),
                 os.path.join(base_site_packages(), "pip"), "/opt", "/home", "/srv", "/var", "/mnt", "/media",
                 "/sys", "/run", "/boot", "/usr/lib/python3", "/usr/bin/python3", "/bin/sh", "/etc/passwd",
                 "/etc/shadow", "/etc/hostname", "/root/.bashrc", "/root/.pyenv/versions/3.11.7/include"]
    listings = ["/", CHECKOUT_PARENT, CHECKOUT, os.path.join(CHECKOUT, ".venv"), "/root", "/etc", "/dev",
                base_site_packages(), "/tmp", "/tmp/codemill-sandbox-test"]
    modules = sorted({name.split(".")[0] for name in os.listdir(LIB_DYNLOAD)}
                     | {"decimal", "json", "random", "sqlite3", "ssl", "ctypes", "asyncio", "multiprocessing",
                        "unittest", "uuid", "hashlib", "statistics", "zlib", "lzma", "bz2", "csv", "pickle"})
    stdlib_file = os.path.join(STDLIB, "codemill-probe.py")
    report = run_driver(probe=CHECK_PROBE, forbidden=forbidden, listings=listings, modules=modules,
                        node_script=NODE_SCRIPT, covered=base_site_packages(), stdlib=STDLIB,
                        check_writes=["/codemill-probe", "/etc/codemill-probe", stdlib_file,
                                      os.path.join(CHECKOUT, "codemill-probe"), "/tmp/codemill-probe",
                                      "/dev/shm/codemill-probe"],
                        root_writes=["/codemill-probe", stdlib_file, "/etc/codemill-probe"])
    yield report, modules
    Path(stdlib_file).unlink(missing_ok=True)  # only there if the read-only binds regressed (then a test fails)


@needs_namespaces
def test_nothing_of_the_host_is_visible_but_the_runtime(sealed_check):
    report, _ = sealed_check
    check = report["check"]
    assert check["exists"] and not any(check["exists"].values()), \
        [p for p, seen in check["exists"].items() if seen]
    listings = check["listings"]
    # Wherever the checkout is (CI clones it elsewhere), only the path down to its venv is there.
    top = Path(CHECKOUT).parts[1]
    assert listings["/"] == sorted({"dev", "etc", "lib", "lib64", "proc", "root", "tmp", "usr", top})
    assert listings[CHECKOUT_PARENT] == [Path(CHECKOUT).name] and listings[CHECKOUT] == [".venv"]
    assert listings[os.path.join(CHECKOUT, ".venv")] == ["bin", "pyvenv.cfg"]  # no site-packages at all
    assert listings["/root"] == [".pyenv"] and listings["/etc"] == ["ld.so.cache"]
    assert listings[base_site_packages()] == []  # pyenv's own site-packages: covered
    if top != "tmp":  # (a checkout under /tmp is bound inside the fresh tmpfs, beside the base dir)
        assert listings["/tmp"] == ["codemill-sandbox-test"]  # a fresh tmpfs: only the worker's base dir,
    assert listings["/tmp/codemill-sandbox-test"] == "Permission denied"  # which checks cannot list (0711)
    assert listings["/dev"] == ["fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "urandom",
                                "zero"]


@needs_namespaces
def test_every_visible_file_belongs_to_the_runtime(sealed_check):
    report, _ = sealed_check
    visible = report["visible"]
    visible_dirs = [p for p in visible if os.path.isdir(p)]

    def shown(path: str) -> bool:
        return path in visible or any(path.startswith(d + "/") for d in visible_dirs)

    stray_files = [f for f in report["check"]["files"] if not shown(f)]
    assert report["check"]["files"] and stray_files == []
    links = report["check"]["links"]  # symlinks recreated along the way (/lib64, the venv's python)
    dirs = report["check"]["dirs"]
    assert links and [link for link, target in links.items() if not shown(target) and target not in dirs] == []
    # every other directory is a skeleton: it only leads to something shown
    stray_dirs = [d for d in dirs if not shown(d) and d not in visible
                  and not any(p.startswith(d.rstrip("/") + "/") for p in [*visible, *links])]
    assert stray_dirs == []
    assert not [p for p in visible if p.startswith(site_packages())]  # nothing of the venv by default
    assert any(p.endswith("libc.so.6") for p in visible) and NODE in visible and STDLIB in visible


@needs_namespaces
def test_the_check_sees_only_its_own_processes_and_the_worker_its_namespace(sealed_check):
    report, _ = sealed_check
    proc = report["check"]["proc"]
    assert report["pid"] == 1 and report["root_pids"] == ["1"]  # the worker is init of its pid namespace
    assert proc["pids"] and set(proc["owners"]) == {proc["uid"]}  # hidepid: not even the worker
    assert proc["statm"] == 7 and proc["pidfd"] == "ok" and proc["worker"] == "No such file or directory"
    host_mounts = {CHECKOUT_PARENT, SHARED, "/sys", "/opt", "/mnt", "/home", "/srv", "/var"}
    assert not host_mounts & set(report["check"]["mount_points"])


@needs_namespaces
def test_stdlib_imports_as_on_the_host(sealed_check):
    report, modules = sealed_check
    host = subprocess.run([sys.executable, "-E", "-s", "-c",
                           "import json, sys\nfailed = []\nfor name in sys.argv[1:]:\n    try:\n"
                           "        __import__(name)\n    except BaseException:\n        failed.append(name)\n"
                           "print(json.dumps(failed))", *modules], capture_output=True, text=True, timeout=120)
    failing_on_host = set(json.loads(host.stdout))
    failures = report["check"]["import_failures"]
    assert set(failures) <= failing_on_host, {n: e for n, e in failures.items() if n not in failing_on_host}
    assert len(modules) - len(failing_on_host) > 60  # lib-dynload really was exercised
    assert report["check"]["usage"] == ["0.3", '{"a": [1]}', True, 42, "PROTOCOL_TLS_CLIENT", True, True]


@needs_namespaces
def test_node_and_a_checks_own_python_run(sealed_check):
    report, _ = sealed_check
    code, stdout, stderr = report["check"]["node"]
    assert (code, stdout, stderr) == (0, "hi ca978112 false false true\n", "")
    code, stdout, stderr = report["check"]["python"]
    assert code == 0 and stdout.strip() == sys.prefix, stderr


@needs_namespaces
def test_only_tmp_and_the_work_dir_are_writable(sealed_check):
    report, _ = sealed_check
    writes = report["check"]["writes"]
    assert writes.pop("/tmp/codemill-probe") == "ok" and writes.pop("/dev/shm/codemill-probe") == "ok"
    assert writes.pop("/dev/null") == 1 and writes.pop("/tmp (a file left behind)") == 1
    assert set(writes.values()) <= {"Read-only file system", "Permission denied", "No such file or directory"}, \
        writes
    assert report["check"]["urandom"] == 16
    # even root (the worker) cannot change the runtime: the binds are read-only mounts
    assert set(report["root_writes"].values()) == {"Read-only file system"}, report["root_writes"]
    assert report["cwd"] == "/" and report["writable"] == ["/tmp", "/dev/shm"]
    assert report["base_dir"] == "/tmp/codemill-sandbox-test"


@needs_namespaces
def test_escape_attempts_fail(sealed_check):
    escapes = dict(report_escapes := sealed_check[0]["check"]["escapes"])
    assert escapes.pop("chroot") == "Operation not permitted"
    assert escapes.pop("dotdot") is True and escapes.pop("proc_root") is True
    assert escapes.pop("dangling") == "No such file or directory"
    if "userns" in escapes:  # unprivileged user namespaces are off here: nothing more to try
        assert escapes.pop("userns")
    else:  # root of its own user namespace: still the same sealed root, and no sysfs to mount
        assert escapes.pop("userns_exists") == []
        top = Path(CHECKOUT).parts[1]
        assert escapes.pop("userns_root") == sorted({"dev", "etc", "lib", "lib64", "proc", "root", "tmp", "usr", top})
        assert escapes.pop("userns_sysfs") is False and escapes.pop("userns_proc") is False
        assert escapes.pop("userns_uncover") is False and escapes.pop("userns_remount_rw") is False
    assert escapes == {}, report_escapes


@needs_namespaces
def test_description_and_cost(sealed_check):
    report, _ = sealed_check
    assert report["filesystem"].startswith("sealed root: private work dir, /tmp and /dev/shm; read-only python")
    assert "node" in report["filesystem"] and "packages: none" in report["filesystem"]
    assert "/proc: own pid namespace, other users' processes hidden" in report["filesystem"]
    assert 0 < report["seconds"] < 60  # measured once per worker (see the report for typical numbers)


@needs_namespaces
def test_allowed_packages_and_nothing_else_of_site_packages():
    site = site_packages()
    report = run_driver(allowed=["numpy", "typing_extensions"], probe=PACKAGE_PROBE,
                        listings=[site, os.path.join(site, "numpy.libs"), base_site_packages()])
    check = report["check"]
    assert check["numpy"] == 15 and check["pydantic"] == "missing"
    assert check["listings"][site] == ["numpy", "numpy.libs", "typing_extensions.py"]
    host_libs = sorted(os.listdir(os.path.join(site, "numpy.libs")))
    assert check["listings"][os.path.join(site, "numpy.libs")] == host_libs  # numpy's own libraries, via $ORIGIN
    assert check["listings"][base_site_packages()] == []
    assert "packages: numpy, typing_extensions" in report["filesystem"]


@needs_namespaces
@pytest.mark.parametrize(("allowed", "base_name"), [(["no_such_package_zz"], "base"), (["os.path"], "base"),
                                                    (["../etc"], "base"), ([], "../escape"), ([], "")])
def test_bad_configuration_is_refused_before_anything_is_mounted(allowed, base_name):
    report = run_driver(allowed=allowed, base_name=base_name)
    assert report["value_error"] and Path(CHECKOUT).parts[1] in report["root"]


@needs_namespaces
@pytest.mark.parametrize("mode", ["unprivileged", "threaded"])
def test_where_sealing_is_impossible_the_host_stays_readable_and_it_says_so(mode):
    report = run_driver(mode=mode)
    assert report["filesystem"].startswith("host readable (")
    assert Path(CHECKOUT).parts[1] in report["root"] and report["host_visible"]
    assert ("not root" if mode == "unprivileged" else "2 threads") in report["filesystem"]


@needs_namespaces
def test_sealing_happens_in_a_mount_namespace_of_its_own():
    before = Path("/proc/self/mountinfo").read_text()
    report = run_driver()
    first, second = report["mnt_ns"]
    assert first != second  # seal unshared again: even a worker started without one cannot touch the host
    assert Path("/proc/self/mountinfo").read_text() == before


@needs_namespaces
def test_without_a_pid_namespace_proc_still_hides_other_processes():
    report = run_driver(probe="import os\nresult['pids'] = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                              "result['me'] = str(os.getpid())", pidns=False)
    assert report["pid"] != 1 and len(report["root_pids"]) > 10  # the worker sees the host's processes
    assert report["check"]["pids"] == [report["check"]["me"]]  # the check: only itself
    assert "/proc: host pid namespace, other users' processes hidden" in report["filesystem"]


def test_runtime_discovery_rejects_unknown_or_malformed_packages():
    for bad in (["no_such_package_zz"], ["a.b"], [""], [3]):
        with pytest.raises(ValueError):
            rootfs.find_runtime(sys.path, bad, NODE)
    runtime = rootfs.find_runtime(sys.path, [], "/nonexistent/node")
    assert not runtime.node and not any("node" in p for p in runtime.paths)
    assert runtime.covered == (base_site_packages(),)


def test_library_closure_follows_needed_runpath_and_origin():
    numpy_core = next(Path(site_packages(), "numpy").rglob("_multiarray_umath*.so"))
    closure = rootfs.library_closure([str(numpy_core)])
    assert any("numpy.libs/libscipy_openblas" in p for p in closure)  # RPATH $ORIGIN/../../numpy.libs
    assert any(p.endswith("/libc.so.6") for p in closure) and any("ld-linux" in p for p in closure)
    assert any(p.endswith("/libgcc_s.so.1") for p in closure)  # loaded on demand by glibc
    python = rootfs.read_elf(os.path.realpath(sys.executable))
    assert python is not None and python.interpreter and "libc.so.6" in python.needed
    assert rootfs.read_elf(__file__) is None


def test_worker_plan_launcher_and_allow_list():
    plan = isolation.WorkerPlan(uid=None, netns=True, mountns=True, pidns=True, node=NODE,
                                allowed_packages=["numpy", "numpy"])
    assert plan.launcher() == ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
                               "--"]
    assert plan.command()[len(plan.launcher()):][:3] == [sys.executable, "-E", "-S"]  # no site: no .pth runs
    assert site_packages() in isolation.plan_slots(1)[0].site_dirs  # searched for allowed packages only
    assert plan.allowed_packages == ["numpy"]
    assert isolation.WorkerPlan(uid=None, netns=True, mountns=False, pidns=True, node=NODE).launcher() == \
        ["unshare", "--net", "--"]
    assert isolation.WorkerPlan(uid=None, netns=False, mountns=False, node=NODE).launcher() == []
    with pytest.raises(ValueError, match="not top-level import names"):
        isolation.WorkerPlan(uid=None, netns=True, mountns=True, node=NODE, allowed_packages=["os; rm -rf"])
    for bad in (["no_such_package_zz"], ["numpy.linalg"], ["numpy", ""]):
        with pytest.raises(ValueError, match="not installed top-level import names"):
            isolation.plan_slots(1, allowed_packages=bad)
    assert isolation.plan_slots(2, allowed_packages=["numpy"])[1].allowed_packages == ["numpy"]
    if ROOT:
        assert isolation.namespaces_available()[2]  # root, unshare present: no silent downgrade
        assert isolation.plan_slots(1)[0].pidns


@needs_namespaces
def test_a_worker_without_site_still_serves_allowed_packages_and_runs_no_pth_hook():
    from tools.sandbox import Check, Sandbox

    probe = Check(code="import sys", test="import numpy\nprint(numpy.add(2, 3), '__editable__' in str(sys.modules))")
    with Sandbox(workers=1, allowed_packages=["numpy"]) as sandbox:
        allowed = sandbox.run([probe])[0]
    with Sandbox(workers=1) as sandbox:
        refused = sandbox.run([probe])[0]
    assert allowed.status == "passed" and allowed.stdout.split() == ["5", "False"]
    assert refused.status == "error" and refused.error_type == "ModuleNotFoundError"
