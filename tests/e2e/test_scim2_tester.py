"""python-scim's scim2-tester, run unmodified against a live ``roster serve`` on a generic
connection: every check passes but one, where the tester contradicts RFC 7644 (below).
Its users carry only what RFC 7643 requires (userName, no emails): they are stored and
kept out of the employee directory, as issue 11 asks."""

from __future__ import annotations

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.e2e.conftest import LiveConnection

ENVOY_ASSISTANTS = "urn:scim:schemas:extension:envoy:core:1.0:User:assistants"


def _is_rfc_append(result: object) -> bool:
    """scim2-tester 0.5.2 (the newest release) PATCH-adds a multi-valued attribute to a
    resource that already has values (the whole Envoy extension, assistants included, is
    added first) and expects only the new value back.
    RFC 7644 §3.5.2.1 says an add to a multi-valued attribute adds the new value to the
    existing ones, which is what Roster does: accept exactly that failure, and only when
    the returned list is the old values followed by the new one."""
    data = getattr(result, "data", None) or {}
    if data.get("urn") != ENVOY_ASSISTANTS:
        return False
    sent, returned = data.get("expected"), data.get("modify_actual")
    return (
        isinstance(sent, list)
        and isinstance(returned, list)
        and len(returned) > len(sent)
        and returned[-len(sent) :] == sent
    )


def test_scim2_tester_finds_nothing_wrong(live_connection: LiveConnection) -> None:
    http = httpx2.Client(
        base_url=live_connection.base_url,
        headers={"Authorization": f"Bearer {live_connection.token}"},
    )
    results = check_server(SyncSCIMClient(http))
    http.close()
    assert len(results) > 100
    failures = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    explained = [r for r in failures if _is_rfc_append(r)]
    unexplained = [f"{r.title}: {r.reason}" for r in failures if r not in explained]
    assert unexplained == []
    assert len(failures) <= 1
    assert sum(r.status == Status.SUCCESS for r in results) >= 140
