"""Command inputs and outputs checked before any work starts, and JSONL records read with one message a
bad line: every mistake of kind (missing, unreadable, binary, a pipe or device, a directory where a file is
expected, an output that is a file or cannot be created) is one clear line, raised before anything is
written."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tools.errors import ConfigError, validation_problems

if TYPE_CHECKING:  # pydantic is imported by `read_records`: the input checks run before any heavy import
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")
SNIFF_BYTES = 8192
BINARY_FORMATS = frozenset({".parquet"})  # binary inputs the seeds stage reads (datasets exports)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _mode(path: Path, *, missing: str, unreadable: str) -> int:
    """The file's mode, or one line: `missing` when it does not exist, `unreadable` and the reason otherwise."""
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except OSError as error:
        raise ConfigError(f"{unreadable}: {error.strerror or error}") from None


def check_readable_file(path: Path, what: str) -> None:
    """A regular, readable text file (no NUL byte in its first 8 KiB)."""
    mode = _mode(path, missing=f"{what} {path} does not exist", unreadable=f"cannot read {what} {path}")
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{what} {path} is a directory; a file is expected")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{what} {path} is {_kind(mode)}; a file is expected")
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if b"\0" in head and path.suffix.lower() not in BINARY_FORMATS:
        raise ConfigError(f"{what} {path} is a binary file; a text file is expected")


def check_seed_inputs(paths: list[Path]) -> None:
    """`synth` inputs: seed JSONL or source files (text), or directories of source files (readable)."""
    for path in paths:
        mode = _mode(path, missing=f"no such seed file or directory: {path}", unreadable=f"cannot read {path}")
        if stat.S_ISDIR(mode):
            try:
                next(os.scandir(path), None)
            except OSError as error:
                raise ConfigError(f"cannot read the directory {path}: {error.strerror or error}") from None
        else:
            check_readable_file(path, "seed file")


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """An output directory: an existing writable directory, or a path whose nearest existing parent is one."""
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{flag} {path} exists and is not a directory; give a directory (new or existing)")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag} {path} is not writable")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path} cannot be created: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path} cannot be created: {parent} is not writable")


def text_file(path: Path, what: str) -> Path:
    """`path` if it is a readable UTF-8 text file; ConfigError naming `what` otherwise."""
    if not path.exists():
        raise ConfigError(f"{what} not found: {path}")
    check_readable_file(path, what)
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # (a character cut by the sniff window is fine)
            raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    return path


def output_file(path: Path, what: str = "--out") -> Path:
    """`path` if a file can be written (or appended) there; ConfigError otherwise. Creates nothing."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory; a file is expected")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{what} {path} is not writable")
        if path.stat().st_size:
            text_file(path, what)  # appended to: it must be ours, not some binary file
        return path
    check_output_dir(path, what)  # the same rule for what may be created
    return path


def validation_message(error: ValidationError) -> str:
    """The first problem of a pydantic error as `field.path: message` (one line; the whole line: `line`)."""
    return validation_problems(error, first_only=True).replace("(root)", "line", 1)


def read_records(path: Path, model: type[M], errors: list[str]) -> Iterator[tuple[int, M]]:
    """(line number, record) for every valid line of a JSONL file; each bad line adds one message."""
    from pydantic import ValidationError

    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, model.model_validate_json(line)
            except ValidationError as error:
                errors.append(f"{path}:{number}: skipped: {validation_message(error)}")
            except (RecursionError, MemoryError) as error:  # absurdly nested or huge: the line, not the run
                errors.append(f"{path}:{number}: skipped: {type(error).__name__}")
