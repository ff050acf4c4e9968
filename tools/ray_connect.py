"""Joining a Ray cluster for `--ray [ADDRESS]` (fast to import: Ray itself is imported only when connecting)."""

from __future__ import annotations

from typing import Any

from tools.errors import ConfigError

LOCAL = "local"  # `--ray` with no address: a new local instance (Ray's own "local", never another cluster here)
RAY_MISSING = "--ray needs Ray: pip install 'codemill[ray]' (on the driver and on every node)"


def import_ray() -> Any:
    """The `ray` module, or one line naming the extra."""
    try:
        import ray
    except ImportError as error:
        raise ConfigError(RAY_MISSING) from error
    return ray


def connect(ray: Any, address: str) -> bool:
    """Connect to `address` (`LOCAL`: start an instance; `auto`; `ray://HOST:PORT`); True when this call started
    or joined Ray and must shut it down, False when the process was already connected."""
    if ray.is_initialized():
        return False
    ray.init(address=address, log_to_driver=False)
    return True
