"""Ray for the `--ray` tests: an optional extra, so its tests skip where it is not installed — except where the
run says it must be there (`CODEMILL_TEST_RAY=1`, set by .ci/run): then a broken install fails instead of hiding."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REASON = "the `ray` extra is not installed (pip install -e '.[ray]')"


def require_ray() -> ModuleType:
    if os.environ.get("CODEMILL_TEST_RAY") == "1":
        return importlib.import_module("ray")
    return pytest.importorskip("ray", reason=REASON)
