"""How sandbox workers are started: inside `unshare --net --mount` when the kernel allows it.

The probe runs once per process; its answer decides whether the network is cut by a namespace or, as a
fallback, by disabling sockets in the child, and whether world-writable directories get a private tmpfs.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
UID_RANGE = (1_000_000, 2_000_000_000)  # far from real accounts; one fresh block per Sandbox


class WorkerPlan(BaseModel):
    """What a worker slot is started with; `uid` is None when we cannot drop privileges (not root)."""

    uid: int | None
    netns: bool
    mountns: bool
    node: str

    def command(self) -> list[str]:
        config = self.model_dump_json()
        python = [sys.executable, "-E", "-s", str(WORKER_SCRIPT), config]
        if self.netns:
            flags = ["--net", "--mount"] if self.mountns else ["--net"]
            return ["unshare", *flags, "--", *python]
        return python


@functools.cache
def namespaces_available() -> tuple[bool, bool]:
    """(network namespace, mount namespace) can be created here."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if unshare is None:
        return False, False

    def works(*flags: str) -> bool:
        try:
            return subprocess.run([unshare, *flags, "--", "/bin/true"], capture_output=True, timeout=10,
                                  env=worker_env()).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    netns = works("--net")
    return netns, netns and works("--net", "--mount")


def worker_env() -> dict[str, str]:
    """The worker's environment, built from scratch (nothing of the caller's leaks into checks).
    LD_BIND_NOW: the dynamic linker resolves every symbol when the worker starts; otherwise each forked
    check resolves (and copies the pages of) the libc calls the worker itself never made, like setuid."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "LD_BIND_NOW": "1"}


def plan_slots(count: int, node: str = "/usr/bin/node") -> list[WorkerPlan]:
    """One plan per worker slot; each slot gets its own uid so RLIMIT_NPROC and kill(-1) stay per slot."""
    netns, mountns = namespaces_available()
    root = os.geteuid() == 0
    base = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0] if root else None
    return [WorkerPlan(uid=None if base is None else base + slot, netns=netns, mountns=mountns, node=node)
            for slot in range(count)]
