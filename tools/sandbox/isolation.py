"""How sandbox workers are started: inside `unshare --net --mount --pid` when the kernel allows it.

The probes run once per process; their answers decide whether the network is cut by a namespace or, as
a fallback, by disabling sockets in the child, whether the worker gets a mount namespace (where
`rootfs.seal` builds the checks' sealed root), and whether it is init of its own pid namespace (so /proc
lists no host process, and killing the worker kills everything its checks left).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel, field_validator

WORKER_SCRIPT = Path(__file__).with_name("start_worker.py")
UID_RANGE = (1_000_000, 2_000_000_000)  # far from real accounts; one fresh block per Sandbox


class WorkerPlan(BaseModel):
    """What a worker slot is started with; `uid` is None when we cannot drop privileges (not root)."""

    uid: int | None
    netns: bool
    mountns: bool
    pidns: bool = False
    node: str
    allowed_packages: list[str] = []  # top-level import names the checks may import from site-packages
    site_dirs: list[str] = []  # where those are installed (the worker runs without `site`: no .pth hooks)

    @field_validator("allowed_packages")
    @classmethod
    def _import_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not name.isidentifier()]
        if bad:
            raise ValueError(f"not top-level import names: {bad}")
        return sorted(set(names))

    def launcher(self) -> list[str]:
        """The namespace wrapper the worker runs under (empty when none can be created). With a pid
        namespace `unshare` forks: the worker is its child (pid 1 inside), killed when `unshare` dies."""
        if not self.netns:
            return []
        flags = ["--net"]
        if self.mountns:
            flags.append("--mount")
            if self.pidns:
                flags += ["--pid", "--fork", "--kill-child", "--mount-proc"]
        return ["unshare", *flags, "--"]

    def command(self) -> list[str]:
        return [*self.launcher(), sys.executable, "-E", "-S", str(WORKER_SCRIPT), self.model_dump_json()]


@functools.cache
def namespaces_available() -> tuple[bool, bool]:
    """(network namespace, mount namespace) can be created here."""
    netns = _unshare_works("--net")
    return netns, netns and _unshare_works("--net", "--mount")


@functools.cache
def pid_namespace_available() -> bool:
    """A worker can be started as init of its own pid namespace, with its own /proc."""
    return _unshare_works("--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")


def _unshare_works(*flags: str) -> bool:
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if unshare is None:
        return False
    try:
        return subprocess.run([unshare, *flags, "--", "/bin/true"], capture_output=True, timeout=10,
                              env=worker_env()).returncode == 0
    except (OSError, subprocess.SubprocessError):
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
    netns, mountns = namespaces_available()
    pidns = mountns and pid_namespace_available()
    root = os.geteuid() == 0
    base = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0] if root else None
    return [WorkerPlan(uid=None if base is None else base + slot, netns=netns, mountns=mountns, pidns=pidns,
                       node=node, allowed_packages=allowed_packages or [], site_dirs=site_dirs())
            for slot in range(count)]


def site_dirs() -> list[str]:
    """This interpreter's site directories, for a worker started without `site` (`-S`): only the
    allow-listed packages in them are shown to checks, and no `.pth` file of theirs runs in the worker."""
    return [path for path in sys.path if os.path.basename(path) in ("site-packages", "dist-packages")]
