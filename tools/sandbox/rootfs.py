"""A sealed root filesystem for the checks (standard library only: the worker imports it).

`seal` runs once per worker, as root, before the first check. It builds a new root on a tmpfs from
read-only bind mounts of exactly the runtime a check needs (the interpreter, its standard library,
allow-listed packages, Node, and the shared libraries those load), a private /tmp and /dev/shm, five
device nodes and a /proc that shows no other user's processes; then it pivots into it and detaches the
old root, so no path leads to anything else of the host. Forked checks inherit the sealed root for free.

Shared libraries are found by reading ELF headers (DT_NEEDED, RPATH/RUNPATH, the ld.so.conf search
path), not by running ldd, and bound file by file: /usr/lib holds far more than the runtime (SDKs,
other interpreters' packages), so binding whole library directories would expose too much.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.machinery
import os
import struct
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING or __package__:  # (mypy checks the package import)
    from . import mounts
else:  # imported by the worker, which runs as a script
    import mounts

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
CLONE_NEWNS = 0x00020000
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
HOST_READABLE = "host readable"
DEVICES = ("null", "zero", "full", "random", "urandom")
DEVICE_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                "stderr": "/proc/self/fd/2"}
DLOPENED = ("libgcc_s.so.1",)  # glibc loads it on demand to unwind a thread (pthread_exit, cancellation)
LOADER_CACHE = "/etc/ld.so.cache"  # library names only; lets a check's own subprocess find libraries fast
SITE_DIRS = ("site-packages", "dist-packages")  # inside a runtime dir: covered, only allowed packages shown
STAGING = ("/mnt", "/media", "/srv", "/opt", "/tmp", "/run", "/home")  # where the new root is assembled
SKELETON = "size=4m,nr_inodes=16384,mode=0755"  # directories, symlinks and mount points only
WRITABLE = {"/tmp": "size=512m,mode=1777", "/dev/shm": "size=64m,mode=1777"}
RO_FILES = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
RO_DEVICES = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC

_libc = ctypes.CDLL(None, use_errno=True)


class SealError(Exception):
    """The root could not be sealed here (not root, no mount namespace, no pivot_root); nothing changed
    that the caller can see: it goes on with the host filesystem readable and says so."""


class Sealed(NamedTuple):
    """What `seal` made visible."""

    base_dir: str  # root-owned 0711 directory on the private /tmp, for the checks' work dirs
    writable: tuple[str, ...]  # private tmpfs mounts a check can write to (clean them between checks)
    visible: tuple[str, ...]  # every host path bound read-only into the new root
    packages: tuple[str, ...]  # allow-listed packages bound from the site directories
    node: bool  # Node is there
    hidepid: bool  # /proc hides other users' processes
    own_pid_namespace: bool  # the caller is init of its own pid namespace: /proc lists nothing else
    seconds: float  # what sealing cost (once per worker)

    @property
    def description(self) -> str:
        """One line for `isolation()["filesystem"]`."""
        runtime = f"python {sys.version_info[0]}.{sys.version_info[1]} stdlib" + (", node" if self.node else "")
        processes = ("own pid namespace" if self.own_pid_namespace else "host pid namespace") + (
            ", other users' processes hidden" if self.hidepid else ", other processes listed")
        return (f"sealed root: private work dir, {' and '.join(self.writable)}; read-only {runtime}, "
                f"{sum(p.endswith('.so') or '.so.' in p for p in self.visible)} shared libraries, packages: "
                f"{', '.join(self.packages) or 'none'}; /proc: {processes}")


def host_readable(reason: object) -> str:
    """The `filesystem` line when sealing was not possible."""
    return f"{HOST_READABLE} ({reason})"


class Runtime(NamedTuple):
    """What a check needs of the host: paths to show (symlinks along the way are recreated, their
    targets bound read-only) and site directories inside those to cover with an empty tmpfs."""

    paths: tuple[str, ...]
    covered: tuple[str, ...]
    packages: tuple[str, ...]
    node: bool


def seal(base_dir_name: str, python_paths: list[str], allowed_packages: Iterable[str], node: str) -> Sealed:
    """Move the calling process (root, single-threaded, before it serves a check) into a new root that
    holds only the runtime; `python_paths` is the checks' sys.path. Whatever else of the host the caller
    still needs afterwards (cgroup directories) it must hold open as fds before. Returns what it did;
    SealError if this machine does not allow it (nothing visible changed: the host stays readable),
    ValueError for a bad name or package, RuntimeError if it failed after the point of no return (the
    caller must exit rather than serve)."""
    started = time.perf_counter()
    if not base_dir_name or "/" in base_dir_name or base_dir_name in (".", ".."):
        raise ValueError(f"base_dir_name must be a plain file name, not {base_dir_name!r}")
    runtime = find_runtime(python_paths, allowed_packages, node)
    if os.geteuid() != 0:
        raise SealError("not root")
    pivot_root = SYS_PIVOT_ROOT.get(os.uname().machine)
    if pivot_root is None:
        raise SealError(f"pivot_root number unknown on {os.uname().machine}")
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError as error:
        raise SealError(f"cannot count this process's threads: {error}") from error
    if threads != 1:  # unshare and pivot_root move the calling thread only: the others would keep the host
        raise SealError(f"{threads} threads in the process, not 1")
    if _libc.unshare(CLONE_NEWNS) != 0:  # our own copy: nothing below can change the host's mounts
        raise SealError(f"no mount namespace: {os.strerror(ctypes.get_errno())}")
    try:
        mounts.mount(None, "/", None, MS_REC | MS_PRIVATE)
        needed = {*runtime.paths, *map(os.path.realpath, runtime.paths)}
        staging = next(d for d in STAGING if os.path.isdir(d) and not os.path.islink(d)
                       and not any(p == d or p.startswith(d + "/") for p in needed))
        mounts.mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, SKELETON)
    except (OSError, StopIteration) as error:
        raise SealError(f"cannot stage a new root: {error!r}") from error
    umask = os.umask(0o022)  # the skeleton's directories must be traversable by the checks
    try:
        visible, hidepid = _build(staging, runtime, base_dir_name)
        expected = sorted(os.listdir(staging))
        os.chdir(staging)
        if _libc.syscall(pivot_root, b".", b".") != 0:  # the old root now sits on top of the new one
            raise OSError(ctypes.get_errno(), f"pivot_root: {os.strerror(ctypes.get_errno())}")
    except OSError as error:
        os.chdir("/")
        with contextlib.suppress(OSError):
            mounts.unmount(staging, mounts.MNT_DETACH)
        raise SealError(f"cannot build the sealed root: {error}") from error
    finally:
        os.umask(umask)
    try:  # no way back from here: the old root must go, or the worker must not serve
        mounts.unmount(".", mounts.MNT_DETACH)
        os.chdir("/")
        if sorted(os.listdir("/")) != expected:
            raise OSError(f"the new root shows {sorted(os.listdir('/'))}, not {expected}")
    except OSError as error:
        raise RuntimeError(f"sealing failed after pivot_root: {error}") from error
    return Sealed(base_dir=os.path.join("/tmp", base_dir_name), writable=tuple(WRITABLE), visible=visible,
                  packages=runtime.packages, node=runtime.node, hidepid=hidepid, own_pid_namespace=os.getpid() == 1,
                  seconds=time.perf_counter() - started)


def find_runtime(python_paths: list[str], allowed_packages: Iterable[str], node: str) -> Runtime:
    """Everything the checks may see, found without changing anything. ValueError names a bad package."""
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    runtime_dirs, site_dirs = [stdlib], []
    for entry in python_paths:
        real = os.path.realpath(entry) if entry else ""
        if not real or not os.path.exists(real):
            continue
        in_runtime = any(real == p or real.startswith(p + "/") for p in prefixes)
        if in_runtime and not set(real.split("/")) & set(SITE_DIRS):
            runtime_dirs.append(real)
        elif os.path.isdir(real):
            site_dirs.append(real)
    runtime_dirs = list(dict.fromkeys(runtime_dirs))
    package_paths, packages = [], []
    for name in dict.fromkeys(allowed_packages):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"allowed package {name!r} is not a top-level import name")
        spec = importlib.machinery.PathFinder.find_spec(name, site_dirs)
        if spec is None:
            raise ValueError(f"allowed package {name!r} is not installed in {site_dirs}")
        locations = list(spec.submodule_search_locations or ([spec.origin] if spec.origin else []))
        if not locations:
            raise ValueError(f"allowed package {name!r} has no files to mount")
        package_paths += locations
        packages.append(name)
    executable = os.path.realpath(sys.executable)
    node_found = bool(node) and os.path.isfile(node)
    elf_objects = [executable, *([os.path.realpath(node)] if node_found else [])]
    for directory in runtime_dirs:  # extension modules sit at the top of lib-dynload
        if os.path.isdir(directory):
            elf_objects += [os.path.join(directory, n) for n in os.listdir(directory) if _is_shared(n)]
    for path in package_paths:
        for folder, _, names in os.walk(path):
            elf_objects += [os.path.join(folder, n) for n in names if _is_shared(n)]
    paths = [sys.executable, executable, *runtime_dirs, *package_paths, *library_closure(elf_objects),
             *([node] if node_found else [])]
    if sys.prefix != sys.base_prefix:  # a venv: its config tells a check's own `python` where the stdlib is
        paths.append(os.path.join(sys.prefix, "pyvenv.cfg"))
    if os.path.isfile(LOADER_CACHE):
        paths.append(LOADER_CACHE)
    covered = [os.path.join(d, s) for d in runtime_dirs for s in SITE_DIRS if os.path.isdir(os.path.join(d, s))]
    return Runtime(paths=tuple(dict.fromkeys(os.path.abspath(p) for p in paths if os.path.exists(p))),
                   covered=tuple(covered), packages=tuple(packages), node=node_found)


def _is_shared(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def _build(root: str, runtime: Runtime, base_dir_name: str) -> tuple[tuple[str, ...], bool]:
    """Assemble the new root under `root` (a fresh tmpfs); the host paths bound and whether /proc hides
    other users' processes."""
    targets = {_replicate(path, root) for path in runtime.paths}
    covered = set(runtime.covered)
    bound_dirs: list[str] = []
    visible = []
    skeletons = [root]
    for real in sorted(targets | covered):  # parents before children
        inside = next((d for d in reversed(bound_dirs) if real.startswith(d + "/")), None)
        shadowed = next((c for c in covered if real.startswith(c + "/")), None)
        if real in covered:
            mounts.mount("tmpfs", root + real, "tmpfs", MS_NOSUID | MS_NODEV, SKELETON)
            skeletons.append(root + real)
            continue
        if inside is not None and (shadowed is None or not shadowed.startswith(inside + "/")):
            continue  # already visible through its directory
        _bind(real, root + real, RO_FILES)
        visible.append(real)
        if os.path.isdir(real):
            bound_dirs.append(real)
    dev = _skeleton_dir(root, "dev")
    mounts.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    skeletons.append(dev)
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            _bind(f"/dev/{name}", f"{dev}/{name}", RO_DEVICES)  # read-only mount: still writable devices
            visible.append(f"/dev/{name}")
    for name, target in DEVICE_LINKS.items():
        os.symlink(target, f"{dev}/{name}")
    for target, options in WRITABLE.items():
        mounts.mount("tmpfs", _skeleton_dir(root, target.strip("/")), "tmpfs", MS_NOSUID | MS_NODEV, options)
    base = os.path.join(root, "tmp", base_dir_name)
    os.mkdir(base)
    os.chmod(base, 0o711)  # checks may traverse to their own work dir, not list the others
    proc = _skeleton_dir(root, "proc")
    proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    try:  # a per-mount option (Linux >= 5.8); older kernels refuse it rather than change the host's /proc
        mounts.mount("proc", proc, "proc", proc_flags, "hidepid=invisible")
        hidepid = True
    except OSError:
        mounts.mount("proc", proc, "proc", proc_flags)
        hidepid = False
    for skeleton in reversed(skeletons):  # nothing is created in the new root after this
        mounts.mount(None, skeleton, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
                     | (MS_NOEXEC if skeleton == dev else 0))
    return tuple(visible), hidepid


def _skeleton_dir(root: str, relative: str) -> str:
    path = os.path.join(root, relative)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def _replicate(path: str, root: str) -> str:
    """Recreate `path`'s directories and symlinks under `root`, resolving it like the kernel does; the
    real path it leads to (which the caller binds)."""
    pending = path.strip("/").split("/")
    pending.reverse()
    current, hops = "/", 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        host = os.path.join(current, name)
        mirror = root + host
        if os.path.islink(host):
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks in {path}")
            target = os.readlink(host)
            if not os.path.lexists(mirror):
                os.symlink(target, mirror)
            pending += reversed(target.split("/"))
            if target.startswith("/"):
                current = "/"
            continue
        if pending and not os.path.isdir(mirror):
            os.mkdir(mirror)
            os.chmod(mirror, 0o755)  # pyenv under a 0700 /root: the checks must pass through
        current = host
    return current


def _bind(source: str, target: str, flags: int) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    mounts.mount(source, target, None, MS_BIND)  # not MS_REC: mounts below `source` stay out
    mounts.mount(None, target, None, flags)  # a bind ignores MS_RDONLY; the remount applies it


# --- shared libraries, from the ELF headers --------------------------------------------------------------

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RPATH, DT_RUNPATH = 1, 5, 10, 15, 29


class Elf(NamedTuple):
    """What the dynamic loader reads from one ELF file."""

    kind: tuple[int, int, int]  # (class, byte order, machine): a library must match the object loading it
    interpreter: str | None
    needed: tuple[str, ...]
    search: tuple[str, ...]  # RPATH (if no RUNPATH) then RUNPATH, $ORIGIN expanded


def read_elf(path: str) -> Elf | None:
    """The dynamic-linking facts of `path`; None if it is not an ELF file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
                return None
            wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
            kind = (head[4], head[5], struct.unpack_from(order + "H", head, 18)[0])
            phoff, phentsize, phnum = (struct.unpack_from(order + "Q", head, 32)[0], *struct.unpack_from(
                order + "HH", head, 54)) if wide else (struct.unpack_from(order + "I", head, 28)[0],
                                                        *struct.unpack_from(order + "HH", head, 42))
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
            segments = []  # (type, file offset, virtual address, size in file)
            for index in range(phnum):
                if wide:
                    kind_, _, offset, vaddr, _, size = struct.unpack_from(order + "IIQQQQ", table, index * phentsize)
                else:
                    kind_, offset, vaddr, _, size = struct.unpack_from(order + "IIIII", table, index * phentsize)
                segments.append((kind_, offset, vaddr, size))

            def read_at(offset: int, size: int) -> bytes:
                handle.seek(offset)
                return handle.read(size)

            interpreter = next((read_at(o, s).split(b"\0")[0].decode() for t, o, _, s in segments
                                if t == PT_INTERP), None)
            dynamic = next(((o, s) for t, o, _, s in segments if t == PT_DYNAMIC), None)
            if dynamic is None:
                return Elf(kind, interpreter, (), ())
            entry = "qQ" if wide else "iI"
            raw = read_at(*dynamic)
            tags: list[tuple[int, int]] = list(struct.iter_unpack(order + entry, raw[:len(raw) - len(raw)
                                                                                     % struct.calcsize(entry)]))
            values = dict(tags)
            strtab = next((o + values[DT_STRTAB] - v for t, o, v, s in segments
                           if t == PT_LOAD and v <= values.get(DT_STRTAB, -1) < v + s), None)
            if strtab is None:
                return Elf(kind, interpreter, (), ())
            strings = read_at(strtab, values.get(DT_STRSZ, 1 << 20))
    except OSError:
        return None

    def text(offset: int) -> str:
        end = strings.find(b"\0", offset)
        return strings[offset:end if end >= 0 else len(strings)].decode("utf-8", "replace")

    needed = tuple(text(v) for t, v in tags if t == DT_NEEDED)
    runpath = [text(v) for t, v in tags if t == DT_RUNPATH]
    paths = runpath or [text(v) for t, v in tags if t == DT_RPATH]
    origin = os.path.dirname(os.path.abspath(path))
    search = tuple(d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
                   for joined in paths for d in joined.split(":") if d)
    return Elf(kind, interpreter, needed, search)


def loader_search_path() -> list[str]:
    """The directories the dynamic loader searches: /etc/ld.so.conf (with its includes), then defaults."""
    found: list[str] = []

    def read(conf: str, depth: int) -> None:
        try:
            with open(conf, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if line.startswith("include") and depth < 8:
                pattern = line.split(None, 1)[1] if " " in line or "\t" in line else ""
                for included in sorted(glob.glob(os.path.join(os.path.dirname(conf), pattern))):
                    read(included, depth + 1)
            elif line.startswith("/"):
                found.append(line.split("=", 1)[0])

    read("/etc/ld.so.conf", 0)
    return list(dict.fromkeys([*found, "/lib64", "/usr/lib64", "/lib", "/usr/lib"]))


def library_closure(objects: Iterable[str]) -> list[str]:
    """Every shared library the given ELF files load, transitively (plus the dynamic loader and what glibc
    loads on demand), as the paths the loader opens; names nobody provides are skipped, as they would
    fail on the host too."""
    system = loader_search_path()
    found: dict[str, None] = {}
    pending = list(objects)
    seen: set[str] = set()
    kinds: set[tuple[int, int, int]] = set()
    resolved: dict[tuple[str, tuple[int, int, int], tuple[str, ...]], str | None] = {}  # most ask for libc, libm…
    while pending:
        path = pending.pop()
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        elf = read_elf(real)
        if elf is None:
            continue
        kinds.add(elf.kind)
        names = list(elf.needed)
        if elf.interpreter:
            found[elf.interpreter] = None
            pending.append(elf.interpreter)
        for name in names:
            key = (name, elf.kind, elf.search)
            if key not in resolved:
                resolved[key] = _resolve(name, elf, system)
            library = resolved[key]
            if library is not None and library not in found:
                found[library] = None
                pending.append(library)
        if not pending:  # the on-demand libraries last, in each ELF flavour seen
            for kind in kinds:
                for name in DLOPENED:
                    library = _resolve(name, Elf(kind, None, (), ()), system)
                    if library is not None and library not in found:
                        found[library] = None
                        pending.append(library)
    return list(found)


def _resolve(name: str, elf: Elf, system: list[str]) -> str | None:
    if "/" in name:
        return name if os.path.isfile(name) else None
    for directory in (*elf.search, *system):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and _kind(candidate) == elf.kind:
            return candidate
    return None


def _kind(path: str) -> tuple[int, int, int] | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return head[4], head[5], struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0]
