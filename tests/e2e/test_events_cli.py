"""`roster log --request ID` (one request's trail) and `roster events prune`, run as
subprocesses on the suite's database against a live server."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LiveConnection, cli_json, refused, run_cli

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_log_request_shows_a_request_and_everything_it_caused(
    db_url: str, live_connection: LiveConnection
) -> None:
    with live_connection.client() as c:
        user = c.post(
            "/Users",
            json={
                "schemas": [USER],
                "userName": "ann",
                "emails": [{"value": "ann@corp.test", "primary": True}],
            },
        )
        assert user.status_code == 201, user.text
        group = c.post(
            "/Groups",
            json={
                "schemas": [GROUP],
                "displayName": "Eng",
                "members": [{"value": user.json()["id"]}],
            },
        )
        assert group.status_code == 201, group.text
    connection = cli_json(db_url, "connection", "show", live_connection.id)
    entries = cli_json(db_url, "log", "--tenant", connection["tenant"])
    group_post = next(e for e in entries if e["path"] == "/Groups" and e["status"] == 201)
    trail = cli_json(db_url, "log", "--request", group_post["request_id"])
    assert trail["request"] == group_post["request_id"]
    kinds = [(i["kind"], i.get("type") or i.get("path")) for i in trail["items"]]
    assert ("log", "/Groups") in kinds
    assert [k for k in kinds if k[0] == "event"] == [
        ("event", "group.created"),
        ("event", "group.member_added"),
    ]
    # Only that request's: the user's creation is another request.
    assert not any(i.get("type") == "employee.created" for i in trail["items"])
    human = run_cli(db_url, "log", "--request", group_post["request_id"]).stdout
    assert "group.member_added" in human and "/Groups" in human
    assert "nothing recorded" in refused(db_url, "log", "--request", "no-such-request")


def test_events_prune_deletes_what_the_retention_no_longer_keeps(
    db_url: str, live_connection: LiveConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_connection.client() as c:
        made = c.post(
            "/Users",
            json={
                "schemas": [USER],
                "userName": "old",
                "emails": [{"value": "old@corp.test", "primary": True}],
            },
        )
        assert made.status_code == 201, made.text
    kept = cli_json(db_url, "events", "prune")
    assert kept["retention_days"] == 30 and kept["deleted"] == 0
    monkeypatch.setenv("ROSTER_EVENTS_RETENTION_DAYS", "0")  # everything before now goes
    pruned = cli_json(db_url, "events", "prune")
    assert pruned["retention_days"] == 0 and pruned["deleted"] >= 1
    assert cli_json(db_url, "events", "prune")["deleted"] == 0
