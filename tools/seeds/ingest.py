"""Read seed inputs into seed units: directory trees, single source files, JSONL/JSON/parquet records.

Records may have the CodeSearchNet shape (`code`/`func_code_string`, `docstring`, `language`, `path`,
`repo`), be plain `{"code": ...}` lines, or be rows exported by `datasets` (`to_json`/`to_parquet`).
Every problem (bad UTF-8, empty file, broken JSON line, syntax error, binary, vendored, huge) is counted
under its reason in `counts` and the rest goes on.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.seeds.extra import require
from tools.seeds.models import Seed, SeedsConfig
from tools.seeds.split import EXTENSIONS, SplitError, split_source

RECORD_SUFFIXES = {".jsonl", ".json", ".parquet"}
SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", "vendor", "vendored", "third_party", "third-party",
                "__pycache__", ".venv", "venv", "site-packages", "dist", "build", ".tox", ".mypy_cache"}
_CODE_KEYS = ("code", "func_code_string", "whole_func_string", "content", "original_string", "solution")
_DOC_KEYS = ("docstring", "func_documentation_string")
_PATH_KEYS = ("path", "func_path_in_repository", "max_stars_repo_path")
_REPO_KEYS = ("repo", "repository_name", "max_stars_repo_name")
_NAME_KEYS = ("func_name", "name")


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((record[key] for key in keys if record.get(key) not in (None, "")), None)


class _Ignore:
    """.gitignore-like patterns (no negation) collected per directory while walking."""

    def __init__(self, root: Path, extra: list[str]) -> None:
        self.root = root
        self.patterns: list[tuple[Path, str]] = [(root, pattern) for pattern in extra]

    def load(self, directory: Path) -> None:
        ignore_file = directory / ".gitignore"
        if ignore_file.is_file():
            for line in ignore_file.read_text(encoding="utf-8", errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "!")):
                    self.patterns.append((directory, line))

    def matches(self, path: Path, is_dir: bool) -> bool:
        for base, pattern in self.patterns:
            if pattern.endswith("/"):
                if not is_dir:
                    continue
                pattern = pattern.rstrip("/")
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
            target = relative if anchored else path.name
            if fnmatch.fnmatch(target, pattern.lstrip("/")):
                return True
        return False


def iter_files(root: Path, config: SeedsConfig, counts: Counter) -> Iterator[Path]:
    """Source and record files under `root`, skipping ignored, vendored and hidden directories."""
    if root.is_file():
        yield root
        return
    ignore = _Ignore(root, config.exclude)
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        ignore.load(here)
        kept = []
        for name in sorted(dirnames):
            if name in SKIPPED_DIRS or name.startswith(".") or ignore.matches(here / name, True):
                counts["skipped_dirs"] += 1
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            if path.suffix.lower() in EXTENSIONS or path.suffix.lower() in RECORD_SUFFIXES:
                if ignore.matches(path, False):
                    counts["ignored_files"] += 1
                else:
                    yield path


def _read_text(path: Path, config: SeedsConfig, counts: Counter) -> str | None:
    try:
        size = path.stat().st_size
        if size > config.max_file_bytes:
            counts["too_large_file"] += 1
            return None
        data = path.read_bytes()
    except OSError:
        counts["unreadable_file"] += 1
        return None
    if b"\0" in data[:8192]:
        counts["binary_file"] += 1
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        counts["bad_utf8"] += 1
        return None
    if not text.strip():
        counts["empty_file"] += 1
        return None
    return text


def read_source_file(path: Path, config: SeedsConfig, counts: Counter, repo: str | None = None) -> list[Seed]:
    language = EXTENSIONS.get(path.suffix.lower())
    text = _read_text(path, config, counts)
    if text is None or language is None:
        return []
    counts["files_read"] += 1
    try:
        return split_source(text, language, path=str(path), max_chars=config.max_chars, repo=repo)
    except SplitError:
        counts["syntax_error"] += 1
        return []


def _record_to_seed(record: Any, source: Path, counts: Counter) -> Seed | None:
    if not isinstance(record, dict):
        counts["bad_record"] += 1
        return None
    code = _first(record, _CODE_KEYS)
    if not isinstance(code, str) or not code.strip():
        counts["record_without_code"] += 1
        return None
    path = _first(record, _PATH_KEYS)
    language = record.get("language") or record.get("lang")
    if not language and isinstance(path, str):
        language = EXTENSIONS.get(Path(path).suffix.lower())
    name = _first(record, _NAME_KEYS)
    try:
        return Seed(code=code, language=str(language or "python").lower(), path=path or str(source),
                    repo=_first(record, _REPO_KEYS), name=name, kind="function" if name else "snippet",
                    docstring=_first(record, _DOC_KEYS), license=record.get("license"))
    except ValidationError:
        counts["bad_record"] += 1
        return None


def read_records(path: Path, config: SeedsConfig, counts: Counter) -> list[Seed]:
    records: list[Any] = []
    if path.suffix.lower() == ".parquet":
        parquet = require("pyarrow.parquet", "reading parquet files")
        try:
            records = parquet.read_table(path).to_pylist()
        except (OSError, ValueError):
            counts["bad_parquet"] += 1
            return []
    else:
        text = _read_text(path, config.model_copy(update={"max_file_bytes": 2**40}), counts)
        if text is None:
            return []
        stripped = text.lstrip()
        if path.suffix.lower() == ".json" and stripped.startswith("["):
            try:
                records = json.loads(text)
            except json.JSONDecodeError:
                counts["bad_json"] += 1
                return []
        else:
            for line in text.splitlines():
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    counts["bad_json_line"] += 1
    counts["files_read"] += 1
    seeds = [_record_to_seed(record, path, counts) for record in records]
    return [seed for seed in seeds if seed is not None]


def ingest(paths: list[Path], config: SeedsConfig, counts: Counter) -> list[Seed]:
    """All seed units from `paths`, in a deterministic order (sorted walk, file order within files)."""
    seeds: list[Seed] = []
    for root in paths:
        root = Path(root)
        if not root.exists():
            counts["missing_path"] += 1
            continue
        for path in iter_files(root, config, counts):
            if path.suffix.lower() in RECORD_SUFFIXES:
                seeds.extend(read_records(path, config, counts))
            elif path.suffix.lower() in EXTENSIONS:
                seeds.extend(read_source_file(path, config, counts))
            else:
                counts["unknown_file_type"] += 1
    counts["units"] = len(seeds)
    return seeds
