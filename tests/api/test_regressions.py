"""Regressions for defects a review found (each failed before its fix).

Some only ever failed on one database: the concurrency and column-limit ones on
PostgreSQL, the LIKE case-sensitivity one on SQLite. The suite runs on both.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, func, select

from roster.directory.settings.context import ConnectionContext
from roster.provisioning import resources as actions
from roster.scim.dialects import profile_for
from roster.scim.schema import USER
from roster.storage.tables import log_entries
from tests.conftest import GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, Scim, wait_for_lock_waiter

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def _total(scim: Scim, flt: str) -> int:
    response = scim.get("/Users", params={"filter": flt})
    assert response.status_code == 200, response.text
    return int(response.json()["totalResults"])


# ---- filters -----------------------------------------------------------------------


def test_ne_and_not_on_external_id_include_users_without_one(scim: Scim) -> None:
    # storage/filtering.py docstring and scim/filter.py matches(): an absent attribute is
    # "not equal". For the column-backed externalId, SQL NULL makes NOT(x = 'X1') unknown.
    scim.create_user("has-ext", externalId="X1")
    scim.create_user("no-ext")
    assert _total(scim, 'externalId ne "X1"') == 1
    assert _total(scim, 'not (externalId eq "X1")') == 1


def test_case_exact_external_id_sw_is_case_sensitive(scim: Scim) -> None:
    # SQLite: LIKE is ASCII case-insensitive, so caseExact attributes (RFC 7643 §2.2) match
    # case-insensitively with co/sw/ew on SQLite but not on PostgreSQL.
    scim.create_user("exact", externalId="ABC-1")
    assert _total(scim, 'externalId sw "abc"') == 0
    assert _total(scim, 'externalId sw "ABC"') == 1


def test_meta_last_modified_filter_matches_the_rendered_value(scim: Scim) -> None:
    # Stored with microseconds, rendered with milliseconds: a client cannot find a resource
    # by the lastModified it was given, and "gt <last seen>" returns the last one seen again.
    user = scim.create_user("stamp")
    last_modified = user["meta"]["lastModified"]
    assert _total(scim, f'meta.lastModified eq "{last_modified}"') == 1
    assert _total(scim, f'meta.lastModified gt "{last_modified}"') == 0


def test_groups_display_filter_is_case_insensitive(scim: Scim) -> None:
    # User.groups.display is caseExact false (RFC 7643 §4.1.2, §2.2 default).
    user = scim.create_user("member")
    scim.create_group("Engineering", [user["id"]])
    assert _total(scim, 'groups.display eq "engineering"') == 1
    assert _total(scim, 'groups[display eq "engineering"]') == 1


# ---- ETags (RFC 7644 §3.14, RFC 7232) -----------------------------------------------


def test_group_version_changes_when_a_member_is_deleted(scim: Scim) -> None:
    user = scim.create_user("leaver")
    group = scim.create_group("Team", [user["id"]])
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    response = scim.get(
        f"/Groups/{group['id']}", headers={"If-None-Match": group["meta"]["version"]}
    )
    assert response.status_code == 200  # members changed, so the old ETag must not match
    assert response.json()["members"] == []


def test_user_version_changes_when_its_groups_change(scim: Scim) -> None:
    user = scim.create_user("joiner")
    group = scim.create_group("Team")
    response = scim.patch(
        f"/Groups/{group['id']}",
        [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
    )
    assert response.status_code == 200
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 200  # groups changed, so the old ETag must not match


def test_not_modified_response_carries_the_etag(scim: Scim) -> None:
    # RFC 7232 §4.1: a 304 MUST carry the ETag a 200 would have carried.
    user = scim.create_user("cached")
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 304
    assert response.headers.get("ETag") == user["meta"]["version"]


# ---- Bulk (RFC 7644 §3.7.1) --------------------------------------------------------


def test_bulk_circular_references_are_resolved_or_409(scim: Scim) -> None:
    # "The service provider MUST try to resolve circular cross-references between resources
    # in a single bulk job but MAY stop after a failed attempt and instead return 409."
    response = scim.post(
        "/Bulk",
        {
            "schemas": [BULK_REQUEST],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "a",
                    "data": {
                        "schemas": [GROUP_SCHEMA],
                        "displayName": "A",
                        "members": [{"value": "bulkId:b"}],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "b",
                    "data": {
                        "schemas": [GROUP_SCHEMA],
                        "displayName": "B",
                        "members": [{"value": "bulkId:a"}],
                    },
                },
            ],
        },
    )
    assert response.status_code == 200
    statuses = {op["status"] for op in response.json()["Operations"]}
    assert statuses <= {"201", "409"}, statuses


# ---- PostgreSQL: concurrency and column limits -------------------------------------


def _patch_body(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": path, "value": value}]}


def test_concurrent_patches_do_not_lose_updates(scim: Scim, engine: Engine) -> None:
    # PostgreSQL (READ COMMITTED): patch() reads the document without a row lock and
    # update_resource() writes version = read_version + 1 without checking it, so two
    # overlapping PATCHes (two server processes) lose one change and share one ETag.
    user = scim.create_user("racer")
    ctx = ConnectionContext(
        scim.tenant_id,
        "t",
        scim.connection_pk,
        scim.connection_id,
        "generic",
        "http://testserver",
        profile_for("generic"),
    )
    first = engine.connect()
    tx = first.begin()
    a = actions.patch(first, ctx, USER, user["id"], _patch_body("title", "A"), None, [], [])
    results: dict[str, actions.Result] = {}

    def second() -> None:
        with engine.begin() as conn:
            results["b"] = actions.patch(
                conn, ctx, USER, user["id"], _patch_body("nickName", "B"), None, [], []
            )

    thread = threading.Thread(target=second)
    thread.start()
    if engine.dialect.name == "postgresql":
        # Wait (bounded) until the second transaction is blocked on our row, so the race
        # really happens; SQLite's BEGIN IMMEDIATE serialises the two whatever the timing.
        wait_for_lock_waiter(engine)
    tx.commit()
    first.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    final = scim.get(f"/Users/{user['id']}").json()
    assert (final.get("title"), final.get("nickName")) == ("A", "B")
    assert a.etag != results["b"].etag


def test_overlong_user_name_is_not_a_500(scim: Scim) -> None:
    # PostgreSQL: unique_key/display/external_id are VARCHAR(512); a longer userName,
    # displayName or externalId raises DataError -> opaque 500 (SQLite stores it: 201).
    response = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "u" * 600})
    assert response.status_code in (201, 400), response.text


def test_request_for_an_overlong_id_is_still_logged(scim: Scim, engine: Engine) -> None:
    # PostgreSQL: log_entries.resource_id is VARCHAR(36); the failure entry for
    # GET /Users/<40 chars> cannot be written, so the request leaves no system-log entry.
    def count() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(log_entries)
                    .where(log_entries.c.tenant_id == scim.tenant_id)
                ).scalar_one()
            )

    before = count()
    assert scim.get("/Users/" + "x" * 40).status_code == 404
    assert count() == before + 1
