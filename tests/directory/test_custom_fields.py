"""Custom fields from attributes of any schema; the default mapping's fields."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from roster.directory.admin import custom_fields
from roster.errors import InvalidValue
from tests.conftest import USER_SCHEMA, Scim
from tests.directory.conftest import ENTERPRISE, ENVOY, Api, create

ACME = "urn:example:params:scim:schemas:extension:acme:1.0:User"


def test_the_default_mapping(scim: Scim, api: Api) -> None:
    create(
        scim,
        "full",
        "full@corp.test",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        displayName="Ada L.",
        title="Engineer",
        userType="Employee",
        timezone="Europe/London",
        phoneNumbers=[{"value": "+44 1", "type": "mobile"}, {"value": "+44 2", "primary": True}],
        addresses=[
            {"locality": "Paris", "type": "home"},
            {
                "locality": "London",
                "region": "England",
                "postalCode": "N1",
                "country": "GB",
                "primary": True,
            },
        ],
        **{
            ENTERPRISE: {
                "department": "R&D",
                "division": "Engines",
                "employeeNumber": "42",
                "costCenter": "CC1",
                "organization": "Corp",
            },
            ENVOY: {"remoteStatus": "hybrid"},
        },
    )
    [ada] = api.employees()
    assert {k: ada[k] for k in ada if k not in ("id", "createdAt", "updatedAt", "source")} == {
        "email": "full@corp.test",
        "status": "active",
        "givenName": "Ada",
        "familyName": "Lovelace",
        "displayName": "Ada L.",
        "phone": "+44 2",
        "title": "Engineer",
        "department": "R&D",
        "division": "Engines",
        "employeeNumber": "42",
        "costCenter": "CC1",
        "organization": "Corp",
        "city": "London",
        "state": "England",
        "postalCode": "N1",
        "country": "GB",
        "locale": None,
        "timezone": "Europe/London",
        "userType": "Employee",
        "remoteStatus": "In person",
        "primaryLocation": None,
        "manager": None,
        "assistants": [],
        "locations": [],
        "groups": [],
        "roles": [],
        "accessGroups": [],
        "locationAccess": [],
        "mobileKey": {
            "status": "none",
            "source": None,
            "rule": None,
            "reason": None,
            "grantedAt": None,
            "revokedAt": None,
        },
        "customFields": {},
    }


def test_custom_fields_of_any_schema(engine: Engine, scim: Scim, api: Api) -> None:
    with engine.begin() as conn:
        custom_fields.set_field(conn, scim.connection_id, "badge", f"{ACME}:badge.number")
        custom_fields.set_field(conn, scim.connection_id, "nick", "nickName")
        custom_fields.set_field(conn, scim.connection_id, "ims", "ims.value")
        with pytest.raises(InvalidValue):
            custom_fields.set_field(conn, scim.connection_id, "title", "title")
    create(
        scim,
        "c",
        "c@corp.test",
        schemas=[USER_SCHEMA, ACME],
        nickName="Cee",
        ims=[{"value": "cee@chat", "type": "xmpp"}],
        **{ACME: {"badge": {"number": 7}}},
    )
    [c] = api.employees()
    assert c["customFields"] == {"badge": "7", "nick": "Cee", "ims": "cee@chat"}
