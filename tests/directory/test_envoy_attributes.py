"""Envoy's attributes: remote status, locale, manager and assistants."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from tests.conftest import Scim
from tests.directory.conftest import ENTERPRISE, ENVOY, Api, create, notes, user_body

REMOTE = [
    "remote",
    "Working From Home",
    "WFH",
    "telecommuting",
    "  remote  ",
    "working   from\thome",
]
IN_PERSON = [
    "in person",
    "In-Office",
    "in office",
    "on-site",
    "On Site",
    "onsite",
    "office-based",
    "Office Based",
    "hybrid",
    "FLEXIBLE",
    "blended",
    " In  Person ",
]


@pytest.mark.parametrize(
    ("sent", "stored"), [(v, "Remote") for v in REMOTE] + [(v, "In person") for v in IN_PERSON]
)
def test_every_accepted_remote_status(scim: Scim, api: Api, sent: str, stored: str) -> None:
    create(scim, "r", "r@corp.test", **{ENVOY: {"remoteStatus": sent}})
    [person] = api.employees()
    assert person["remoteStatus"] == stored


def test_an_unknown_remote_status_is_refused_with_the_accepted_values(scim: Scim, api: Api) -> None:
    response = scim.post(
        "/Users", user_body("r", "r@corp.test", **{ENVOY: {"remoteStatus": "sometimes"}})
    )
    assert response.status_code == 400
    body = response.json()
    assert body["scimType"] == "invalidValue"
    assert "'sometimes'" in body["detail"]
    assert "working from home" in body["detail"] and "office based" in body["detail"]
    assert scim.get("/Users").json()["totalResults"] == 0 and api.employees() == []
    # Also on update: the change is refused and the old value stays.
    user = create(scim, "s", "s@corp.test", **{ENVOY: {"remoteStatus": "wfh"}})
    path = f"{ENVOY}:remoteStatus"
    bad = scim.patch(f"/Users/{user['id']}", [{"op": "replace", "path": path, "value": "mars"}])
    assert bad.status_code == 400
    assert api.employees()[0]["remoteStatus"] == "Remote"
    assert scim.get(f"/Users/{user['id']}").json()[ENVOY]["remoteStatus"] == "wfh"


@pytest.mark.parametrize(
    ("sent", "stored"), [("en_US", "en_US"), ("en-US", "en_US"), ("FR-fr", "fr_FR")]
)
def test_locales_normalise(scim: Scim, api: Api, sent: str, stored: str) -> None:
    create(scim, "l", "l@corp.test", locale=sent)
    assert api.employees()[0]["locale"] == stored


@pytest.mark.parametrize("sent", ["english", "xx_US", "en_XX", "en", "en_USA"])
def test_an_invalid_locale_is_stored_as_sent_and_flagged(
    engine: Engine, scim: Scim, api: Api, sent: str
) -> None:
    create(scim, "l", "l@corp.test", locale=sent)
    assert api.employees()[0]["locale"] == sent
    [flag] = notes(engine, scim, "employee.locale")
    assert repr(sent) in (flag.detail or "") and "matches no location" in (flag.detail or "")


def _manager_of(scim: Scim, email: str, manager: dict[str, str]) -> dict[str, object]:
    return create(scim, email.partition("@")[0], email, **{ENTERPRISE: {"manager": manager}})


def test_a_manager_arriving_later_resolves_by_itself(engine: Engine, scim: Scim, api: Api) -> None:
    # Okta's managerDisplayName, the attribute Envoy reads: the manager's email.
    _manager_of(scim, "ana@corp.test", {"value": "00u1okta", "displayName": "Boss@corp.test"})
    ana = api.by_email("ana@corp.test")
    assert ana is not None
    assert ana["manager"] == {"value": "Boss@corp.test", "resolved": False, "employee": None}
    [waiting] = notes(engine, scim, "employee.manager")
    assert "waits for 'Boss@corp.test'" in (waiting.detail or "")
    create(scim, "boss", "boss@corp.test", displayName="The Boss")
    ana = api.by_email("ana@corp.test")
    assert ana is not None and ana["manager"]["resolved"] is True
    boss = api.by_email("boss@corp.test")
    assert boss is not None
    assert ana["manager"]["employee"] == {
        "id": boss["id"],
        "email": "boss@corp.test",
        "displayName": "The Boss",
    }
    assert "arrived" in (notes(engine, scim, "employee.manager")[-1].detail or "")


def test_a_manager_by_scim_id_resolves_at_once_and_waits_again_when_deleted(
    engine: Engine, scim: Scim, api: Api
) -> None:
    boss = create(scim, "boss", "boss@corp.test")
    _manager_of(scim, "bo@corp.test", {"value": boss["id"]})
    bo = api.by_email("bo@corp.test")
    assert bo is not None and bo["manager"]["employee"]["email"] == "boss@corp.test"
    assert "resolved to boss@corp.test" in (notes(engine, scim, "employee.manager")[0].detail or "")
    assert scim.delete(f"/Users/{boss['id']}").status_code == 204
    bo = api.by_email("bo@corp.test")
    assert bo is not None
    assert bo["manager"] == {"value": boss["id"], "resolved": False, "employee": None}
    waiting = notes(engine, scim, "employee.manager")[-1]
    assert waiting.resource_id == bo["id"]
    assert f"manager of bo@corp.test waits again for {boss['id']!r}" in (waiting.detail or "")
    assert "boss@corp.test left the directory" in (waiting.detail or "")


def test_a_reference_the_idp_removes_is_noted(engine: Engine, scim: Scim, api: Api) -> None:
    create(scim, "boss", "boss@corp.test")
    user = create(
        scim,
        "al",
        "al@corp.test",
        **{
            ENTERPRISE: {"manager": {"value": "00u1", "displayName": "boss@corp.test"}},
            ENVOY: {"assistants": ["boss@corp.test", "nobody@corp.test"]},
        },
    )
    removed = scim.patch(
        f"/Users/{user['id']}",
        [
            {"op": "remove", "path": f"{ENTERPRISE}:manager"},
            {"op": "replace", "path": f"{ENVOY}:assistants", "value": ["boss@corp.test"]},
        ],
    )
    assert removed.status_code == 200, removed.text
    al = api.by_email("al@corp.test")
    assert al is not None and al["manager"] is None and len(al["assistants"]) == 1
    details = [n.detail for n in notes(engine, scim, r"employee\.(manager|assistant)")]
    assert set(details[-2:]) == {
        "manager of al@corp.test removed (was 'boss@corp.test')",
        "assistant of al@corp.test removed (was 'nobody@corp.test')",
    }


def test_a_manager_is_never_a_manual_employee(engine: Engine, scim: Scim, api: Api) -> None:
    with engine.begin() as conn:
        employees.add_manual(conn, scim.tenant_id, ManualEmployee("temp@corp.test", {}))
    _manager_of(scim, "al@corp.test", {"value": "00u2okta", "displayName": "temp@corp.test"})
    al = api.by_email("al@corp.test")
    assert al is not None and al["manager"]["resolved"] is False
    # ... until that person is synced (linked): then it resolves.
    create(scim, "temp", "temp@corp.test")
    al = api.by_email("al@corp.test")
    assert al is not None and al["manager"]["employee"]["email"] == "temp@corp.test"


def test_assistants_resolve_to_provisioned_employees_and_wait_for_the_others(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "ann", "ann@corp.test")
    with engine.begin() as conn:
        employees.add_manual(conn, scim.tenant_id, ManualEmployee("man@corp.test", {}))
    create(
        scim,
        "exec",
        "exec@corp.test",
        **{ENVOY: {"assistants": ["ANN@corp.test", "later@corp.test", "man@corp.test"]}},
    )
    exec_ = api.by_email("exec@corp.test")
    assert exec_ is not None
    assert [(a["value"], a["resolved"]) for a in exec_["assistants"]] == [
        ("ANN@corp.test", True),
        ("later@corp.test", False),
        ("man@corp.test", False),
    ]
    assert exec_["assistants"][0]["employee"]["email"] == "ann@corp.test"
    create(scim, "later", "later@corp.test")
    exec_ = api.by_email("exec@corp.test")
    assert exec_ is not None
    assert [a["resolved"] for a in exec_["assistants"]] == [True, True, False]
    assert len(notes(engine, scim, "employee.assistant")) == 4  # 1 resolved, 2 wait, 1 arrival
