"""Filesystem set-up of a worker's private mount namespace (standard library only).

World-writable directories get a fresh tmpfs, so an unprivileged check can write nothing the host sees
outside its work dir. Runtimes that live under a directory others cannot enter (pyenv under a 0700
/root) are re-exposed read-only-by-permission: the closed directory is covered by a tmpfs holding only
bind mounts of those runtimes — which also hides the rest of it (root's home) from checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat

MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2
PRIVATE_MOUNTS = {"/tmp": "size=512m,mode=1777", "/var/tmp": "size=64m,mode=1777",
                  "/dev/shm": "size=64m,mode=1777", "/run/lock": "size=1m,mode=1777"}

_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str | None, target: str, fstype: str | None, flags: int, options: str | None = None) -> None:
    """mount(2); OSError (with the target's name) when the kernel refuses."""
    if _libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                   flags, options.encode() if options else None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {source} on {target}: {os.strerror(error)}", target)


def unmount(target: str, flags: int = 0) -> None:
    """umount2(2); OSError when the kernel refuses."""
    if _libc.umount2(target.encode(), flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"umount {target}: {os.strerror(error)}", target)


def _mount(source: str, target: str, fstype: str | None, flags: int, options: str | None) -> bool:
    try:
        mount(source, target, fstype, flags, options)
    except OSError:
        return False
    return True


def mount_private_tmpfs() -> list[str]:
    """Cover every world-writable directory with a fresh tmpfs; the ones that succeeded."""
    return [target for target, options in PRIVATE_MOUNTS.items()
            if os.path.isdir(target) and _mount("tmpfs", target, "tmpfs", 0, options)]


def entry_counts(mounted: list[str]) -> list[int] | None:
    """One number per mount that changes whenever an entry is added to (or removed from) its top level,
    for a cheap "did the check leave anything?" test: tmpfs sizes a directory by its entries (one stat,
    instead of listing four directories after every check). None if this tmpfs does not (checked once)."""
    if not mounted:
        return None
    probe = os.path.join(mounted[0], f".codemill-probe-{os.getpid()}")
    before = os.stat(mounted[0]).st_size
    os.mkdir(probe)
    try:
        if os.stat(mounted[0]).st_size == before:
            return None
    finally:
        os.rmdir(probe)
    return [os.stat(target).st_size for target in mounted]


def clean_private_tmpfs(mounted: list[str], keep: str) -> None:
    """Empty the private tmpfs mounts after a check (all but `keep`): no leftovers between checks, and
    nothing a check wrote there keeps holding memory."""
    for target in mounted:
        try:
            names = os.listdir(target)
        except OSError:
            continue
        for name in names:
            path = os.path.join(target, name)
            if path == keep:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil  # here: the worker's warm image stays without it (see worker.WARM_MODULES)

                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def closed_ancestor(path: str) -> str | None:
    """The top-most ancestor of `path` that other users cannot traverse, if any."""
    current = "/"
    for part in os.path.realpath(path).strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & stat.S_IXOTH:
            return current
    return None


def expose(paths: list[str], hold_dir: str) -> list[str]:
    """Make each path reachable for unprivileged uids; `hold_dir` must be on a private tmpfs."""
    wanted = {os.path.realpath(p) for p in paths if os.path.exists(p)}
    outermost = {p for p in wanted if not any(p.startswith(q + "/") for q in wanted)}
    blocked: dict[str, list[str]] = {}
    for path in outermost:
        ancestor = closed_ancestor(path)
        if ancestor is not None:
            blocked.setdefault(ancestor, []).append(path)
    exposed: list[str] = []
    for ancestor, inner in blocked.items():
        held = []
        for index, path in enumerate(sorted(inner)):
            hold = os.path.join(hold_dir, f"hold-{len(exposed)}-{index}")
            os.mkdir(hold)
            if _mount(path, hold, None, MS_BIND | MS_REC, None):
                held.append((path, hold))
        if not held or not _mount("tmpfs", ancestor, "tmpfs", 0, "size=1m,mode=0755"):
            continue
        for path, hold in held:
            os.makedirs(path, mode=0o755, exist_ok=True)
            if _mount(hold, path, None, MS_BIND | MS_REC, None):
                exposed.append(path)
            with contextlib.suppress(OSError):
                unmount(hold, MNT_DETACH)
    return exposed
