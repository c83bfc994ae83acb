"""Manual employees: added and removed by an admin, never changed by SCIM but by linking."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.errors import Conflict, InvalidValue, NotFound, UniquenessConflict
from tests.conftest import Scim
from tests.directory.conftest import Api, create, notes


def test_add_and_remove_a_manual_employee(engine: Engine, scim: Scim, api: Api) -> None:
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        row = employees.add_manual(
            conn,
            scim.tenant_id,
            ManualEmployee("Temp@Corp.test", {"givenName": "Tia", "locale": "en-GB"}, ["hq"]),
        )
    tia = api.employee(row.id)
    assert tia is not None
    assert (tia["givenName"], tia["locale"], tia["source"]["type"]) == ("Tia", "en_GB", "manual")
    assert [loc["name"] for loc in tia["locations"]] == ["HQ"]
    with engine.begin() as conn:
        employees.remove_manual(conn, scim.tenant_id, "temp@corp.test")
    assert api.employees() == []
    with engine.connect() as conn, pytest.raises(NotFound):
        employees.find(conn, scim.tenant_id, row.id)


@pytest.mark.parametrize(
    ("person", "error"),
    [
        (ManualEmployee("nope", {}), InvalidValue),
        (ManualEmployee("a@corp.test", {"shoeSize": "9"}), InvalidValue),
        (ManualEmployee("a@corp.test", {"locale": "klingon"}), InvalidValue),
        (ManualEmployee("a@corp.test", {}, ["Nowhere"]), NotFound),
        (ManualEmployee("SYNCED@corp.test", {}), UniquenessConflict),
    ],
)
def test_refused_manual_employees(
    engine: Engine, scim: Scim, person: ManualEmployee, error: type[Exception]
) -> None:
    create(scim, "synced", "synced@corp.test")
    with engine.begin() as conn, pytest.raises(error):
        employees.add_manual(conn, scim.tenant_id, person)


def test_a_synced_employee_is_removed_in_the_idp_not_by_hand(
    engine: Engine, scim: Scim, api: Api
) -> None:
    create(scim, "s", "s@corp.test")
    with engine.begin() as conn, pytest.raises(Conflict, match="in the IdP"):
        employees.remove_manual(conn, scim.tenant_id, "s@corp.test")
    assert len(api.employees()) == 1
    assert notes(engine, scim, "employee.remove") == []
