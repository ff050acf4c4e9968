"""How sandbox workers are started: inside `unshare --net --mount --pid` when the kernel allows it.

The probes run once per process; their answers decide whether the network is cut by a namespace or, as
a fallback, by disabling sockets in the child, whether the worker gets a mount namespace (where
`rootfs.seal` builds the checks' sealed root), and whether it is init of its own pid namespace (so /proc
lists no host process, and killing the worker kills everything its checks left).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("start_worker.py")
UID_RANGE = (1_000_000, 2_000_000_000)  # far from real accounts; one fresh block per Sandbox
PID_NAMESPACE_FLAGS = ["--pid", "--fork", "--kill-child", "--mount-proc"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerPlan:
    """What a worker slot is started with; `uid` is None when we cannot drop privileges (not root).
    A plain dataclass, not a pydantic model: a command launches its workers before pydantic has loaded,
    so that they boot while it imports the rest (it is built here, never parsed from outside)."""

    uid: int | None
    netns: bool
    mountns: bool
    pidns: bool = False
    node: str
    allowed_packages: list[str] = dataclasses.field(default_factory=list)  # top-level import names the
    # checks may import from site-packages
    site_dirs: list[str] = dataclasses.field(default_factory=list)  # where those are installed (the worker
    # runs without `site`: no .pth hooks)

    def __post_init__(self) -> None:
        bad = [name for name in self.allowed_packages if not isinstance(name, str) or not name.isidentifier()]
        if bad:
            raise ValueError(f"not top-level import names: {bad}")
        object.__setattr__(self, "allowed_packages", sorted(set(self.allowed_packages)))

    def launcher(self) -> list[str]:
        """The namespace wrapper the worker runs under (empty when none can be created). With a pid
        namespace `unshare` forks: the worker is its child (pid 1 inside), killed when `unshare` dies."""
        if not self.netns:
            return []
        flags = ["--net"]
        if self.mountns:
            flags.append("--mount")
            if self.pidns:
                flags += PID_NAMESPACE_FLAGS
        return ["unshare", *flags, "--"]

    def command(self) -> list[str]:
        config = json.dumps(dataclasses.asdict(self), separators=(",", ":"))
        return [*self.launcher(), sys.executable, "-E", "-S", str(WORKER_SCRIPT), config]


@functools.cache
def namespaces_available() -> tuple[bool, bool, bool]:
    """(network, mount, pid namespace) can be created here; the pid namespace with its own /proc, so that
    a worker is init of it. The three probes run at once (each is an `unshare` of /bin/true)."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if unshare is None:
        return False, False, False
    probes = [_start_probe([unshare, *flags, "--", "/bin/true"])
              for flags in (["--net"], ["--net", "--mount"], ["--net", "--mount", *PID_NAMESPACE_FLAGS])]
    netns, mountns, pidns = (_probe_succeeded(probe) for probe in probes)
    return netns, netns and mountns, netns and mountns and pidns


def _start_probe(command: list[str]) -> subprocess.Popen | None:
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=worker_env())
    except OSError:
        return None


def _probe_succeeded(probe: subprocess.Popen | None) -> bool:
    if probe is None:
        return False
    try:
        return probe.wait(timeout=10) == 0
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.wait()
        return False


def worker_env() -> dict[str, str]:
    """The worker's environment, built from scratch (nothing of the caller's leaks into checks).
    LD_BIND_NOW: the dynamic linker resolves every symbol when the worker starts; otherwise each forked
    check resolves (and copies the pages of) the libc calls the worker itself never made, like setuid."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "LD_BIND_NOW": "1"}


def plan_slots(count: int, node: str = "/usr/bin/node", allowed_packages: list[str] | None = None) -> list[WorkerPlan]:
    """One plan per worker slot; each slot gets its own uid so RLIMIT_NPROC and kill(-1) stay per slot.
    `allowed_packages`: what the checks may import beyond the standard library (default: nothing)."""
    bad = [name for name in allowed_packages or [] if not name.isidentifier() or importlib.util.find_spec(name) is None]
    if bad:  # said here, not by a worker that fails to start (a dotted name would import its parent: refused first)
        raise ValueError(f"allowed packages that are not installed top-level import names: {bad}")
    netns, mountns, pidns = namespaces_available()
    root = os.geteuid() == 0
    base = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0] if root else None
    return [WorkerPlan(uid=None if base is None else base + slot, netns=netns, mountns=mountns, pidns=pidns,
                       node=node, allowed_packages=allowed_packages or [], site_dirs=site_dirs())
            for slot in range(count)]


def site_dirs() -> list[str]:
    """This interpreter's site directories, for a worker started without `site` (`-S`): only the
    allow-listed packages in them are shown to checks, and no `.pth` file of theirs runs in the worker."""
    return [path for path in sys.path if os.path.basename(path) in ("site-packages", "dist-packages")]
