"""Changing a connection's settings: the admin action behind `roster connection configure`
and the console's settings form.

``settings/registry.py`` validates and stores the change and logs it; the consequences for
rows already there are called here, explicitly, in the same transaction: a new
``location_sync`` moves the connection's employees between locations now, a new
``group_role_prefix`` re-evaluates their roles now (not one by one at their next update).
"""

from __future__ import annotations

from sqlalchemy import Connection

from roster.directory.entitlements import evaluations, group_bindings
from roster.directory.places import locations
from roster.directory.settings import registry
from roster.storage import access as access_store
from roster.storage.tenancy import ConnectionRow


def configure(
    conn: Connection, row: ConnectionRow, sets: list[str], resets: list[str]
) -> list[str]:
    """Apply ``key=value`` overrides and resets (all checked before any is written) and
    their consequences. Returns one line per change, each also in the system log."""
    applied = registry.apply(conn, row, sets, resets)
    if "location_sync" in applied.changed:
        locations.location_sync_changed(conn, applied.row)
    if "group_role_prefix" in applied.changed:
        _prefix_changed(conn, applied.row)
    return applied.lines


def _prefix_changed(conn: Connection, row: ConnectionRow) -> None:
    prefix = registry.of(row).group_role_prefix
    mappings = access_store.mappings_of(conn, row.tenant_id, row.id)
    bound = group_bindings.of_mappings(conn, row.tenant_id, mappings)
    # The names the groups have now (a mapping follows its group's renames).
    names = [bound[m.pk].name if m.pk in bound else m.group_name for m in mappings]
    ignored = [n for n in names if not n.casefold().startswith(prefix.casefold())]
    why = f"group_role_prefix is now {prefix!r}"
    if ignored:
        # Said, not refused: the admin may be mid-way through renaming groups in the IdP.
        why += (
            f"; the mappings of {', '.join(map(repr, sorted(set(ignored))))} lack it and "
            "grant nothing until those groups are renamed or remapped"
        )
    evaluations.connection_changed(conn, row, why)
