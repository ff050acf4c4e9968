"""Local model servers that `run.py serve` keeps running, recorded in small state files so that other commands
(and a second `serve`) find and reuse one instead of starting another.

    record_server(cache_dir, RunningServer(url=url, pid=pid, model="demo", served_model_name="demo"))
    found = running_server(cache_dir, "demo")   # None unless its pid is alive AND its /v1/models lists the name
    forget_server(cache_dir, found)             # only while the file still describes that process

One JSON file per model under `cache_dir/servers/`, written atomically (a reader never sees half a record). A
record whose process is gone is stale and removed by the next lookup; one whose process is alive but whose
server does not answer (a reused PID, a server shutting down) is ignored, and a new server overwrites it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

SERVERS_DIR = "servers"


class RunningServer(BaseModel):
    """What a client needs to reuse a server, and what proves it is still that server."""

    model_config = ConfigDict(frozen=True)

    url: str  # the OpenAI base URL, ending in /v1
    pid: int  # the server's own process
    model: str  # model_key() of what it serves
    served_model_name: str


def model_key(model: str) -> str:
    """One name per model: a local directory by its resolved path (however it was spelt), anything else as is."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_dir() else model


def record_path(cache_dir: Path, model: str) -> Path:
    digest = hashlib.sha256(model_key(model).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / SERVERS_DIR / f"{digest}.json"


def record_server(cache_dir: Path, server: RunningServer) -> Path:
    """Write (or replace) the record of the server for `server.model`."""
    path = record_path(cache_dir, server.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".record-", suffix=".tmp", delete=False) as out:
        out.write(server.model_dump_json() + "\n")
    os.replace(out.name, path)
    return path


def forget_server(cache_dir: Path, server: RunningServer) -> None:
    """Remove the record of `server`, unless another server has replaced it since."""
    path = record_path(cache_dir, server.model)
    if _read(path) == server:
        path.unlink(missing_ok=True)


def running_server(cache_dir: Path, model: str, *, timeout_s: float = 5.0) -> RunningServer | None:
    """The recorded server for `model` if its process is alive and it lists the served name; else None."""
    path = record_path(cache_dir, model)
    record = _read(path)
    if record is None or record.model != model_key(model):
        return None
    if not pid_alive(record.pid):
        path.unlink(missing_ok=True)  # stale: its server is gone
        return None
    return record if serves(record.url, record.served_model_name, timeout_s=timeout_s) else None


def serves(url: str, name: str, *, timeout_s: float = 5.0) -> bool:
    """Whether the OpenAI server at `url` answers /models with `name` among its models."""
    try:
        reply = httpx.get(f"{url.rstrip('/')}/models", timeout=timeout_s)
        models = reply.json().get("data", []) if reply.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return isinstance(models, list) and any(isinstance(entry, dict) and entry.get("id") == name for entry in models)


def pid_alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negative numbers name process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _read(path: Path) -> RunningServer | None:
    with contextlib.suppress(OSError, ValidationError, ValueError):
        return RunningServer.model_validate_json(path.read_text())
    return None
