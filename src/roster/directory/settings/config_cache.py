"""Each process's cache of its tenants' configuration.

A SCIM write needs the tenant's rules, role mappings, locations and the connection's
custom field mappings; they change rarely and used to be read again on every request.
They are kept here, per (tenant, connection, what), with the tenant's configuration
version (``tenants.config_version``, bumped by every change of them in the change's own
transaction and read with authentication, so validating costs no statement).

Safe without coordination between processes: an entry is stored under the version read
*before* loading it, so what it holds is never older than its version says; a request
that reads a newer version misses and loads again. The entries are immutable values
shared by the threads of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_MAX_ENTRIES = 4096  # tenants x connections x kinds; cleared whole past it (rare)
_entries: dict[Hashable, tuple[int, Any]] = {}
_lock = threading.Lock()


def cached(key: Hashable, version: int, load: Callable[[], T]) -> T:
    """``load()`` once per ``version`` of ``key``."""
    hit = _entries.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]  # type: ignore[no-any-return]
    value = load()
    with _lock:
        if len(_entries) >= _MAX_ENTRIES:
            _entries.clear()
        current = _entries.get(key)
        if current is None or current[0] <= version:
            _entries[key] = (version, value)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
