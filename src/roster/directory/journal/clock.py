"""Directory write times: one per change, fixed by its unit of work.

Kept as the name the directory's actions import; the time itself, and why it is safe
for ``updated_since`` polling without serialising a tenant's writes, is in
directory/journal/change.py and docs/design/write-path.md.
"""

from __future__ import annotations

from roster.directory.journal.change import now, write_time

__all__ = ["now", "write_time"]
