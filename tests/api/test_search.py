"""Filtering, sorting and paging compiled to SQL (RFC 7644 §3.4.2), on the configured DB."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.http.app import create_app
from roster.settings import Settings
from tests.conftest import (
    ENTERPRISE,
    USER_SCHEMA,
    Scim,
)


@pytest.fixture
def people(scim: Scim) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {
        "bjensen": dict(
            name={"givenName": "Barbara", "familyName": "Jensen"},
            title="Tour Guide",
            userType="Employee",
            active=True,
            externalId="EXT-1",
            emails=[
                {"value": "bjensen@example.com", "type": "work", "primary": True},
                {"value": "babs@jensen.org", "type": "home"},
            ],
            **{ENTERPRISE: {"department": "Tours", "manager": {"value": "m-1"}}},
        ),
        "jsmith": dict(
            name={"givenName": "John", "familyName": "Smith"},
            userType="Intern",
            active=False,
            externalId="ext-2",
            emails=[{"value": "js@example.org", "type": "work"}],
        ),
        "mo'malley": dict(
            name={"givenName": "Mary", "familyName": "O'Malley"},
            title="CEO",
            userType="Employee",
            emails=[{"value": "mary@example.com", "type": "home"}],
            **{ENTERPRISE: {"department": "Board"}},
        ),
    }
    return {name: scim.create_user(name, **attrs) for name, attrs in rows.items()}


def _names(scim: Scim, flt: str, **params: Any) -> list[str]:
    response = scim.get("/Users", params={"filter": flt, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totalResults"] == len(body["Resources"]) or "count" in params
    return sorted(r["userName"] for r in body["Resources"])


CASES = [
    ('userName eq "BJENSEN"', ["bjensen"]),
    ('userName ne "bjensen"', ["jsmith", "mo'malley"]),
    ('name.familyName co "O\'Malley"', ["mo'malley"]),
    ('userName sw "J"', ["jsmith"]),
    ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "j"', ["jsmith"]),
    ('userName ew "ley"', ["mo'malley"]),
    ("title pr", ["bjensen", "mo'malley"]),
    ('title pr and userType eq "Employee"', ["bjensen", "mo'malley"]),
    ('title pr or userType eq "Intern"', ["bjensen", "jsmith", "mo'malley"]),
    (
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        ["bjensen", "mo'malley"],
    ),
    (
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        [],
    ),
    ('userType eq "Employee" and (emails.type eq "work")', ["bjensen"]),
    ('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', ["bjensen"]),
    # type and value on different elements of mary's emails must not combine
    ('emails[type eq "work" and value eq "mary@example.com"]', []),
    ('emails[type eq "work"].value eq "JS@example.org"', ["jsmith"]),
    ('emails[not (type eq "work")]', ["bjensen", "mo'malley"]),
    ('externalId eq "EXT-1"', ["bjensen"]),
    ('externalId eq "ext-1"', []),  # caseExact
    ("active eq false", ["jsmith"]),
    ("active eq true", ["bjensen"]),
    ("not (active eq true)", ["jsmith", "mo'malley"]),
    (f'{ENTERPRISE}:department eq "tours"', ["bjensen"]),
    (f'{ENTERPRISE}:manager.value eq "m-1"', ["bjensen"]),
    ("title eq null", ["jsmith"]),
    ('NAME.GIVENNAME EQ "john"', ["jsmith"]),
    ('name.givenName gt "John"', ["mo'malley"]),
    ('name.givenName le "John"', ["bjensen", "jsmith"]),
    ('meta.created gt "2000-01-01T00:00:00Z"', ["bjensen", "jsmith", "mo'malley"]),
    ('meta.lastModified lt "2000-01-01T00:00:00+02:00"', []),
]


@pytest.mark.parametrize(("flt", "expected"), CASES)
def test_filters(scim: Scim, people: dict[str, Any], flt: str, expected: list[str]) -> None:
    assert _names(scim, flt) == expected


def test_filter_by_id(scim: Scim, people: dict[str, Any]) -> None:
    uid = people["jsmith"]["id"]
    assert _names(scim, f'id eq "{uid}"') == ["jsmith"]


@pytest.mark.parametrize(
    "flt",
    [
        'nosuch eq "x"',
        'name.nosuch eq "x"',
        'userName zz "x"',
        "userName eq",
        '(userName eq "x"',
        'userName eq "x" garbage',
        'active co "t"',
        'emails[type eq "work"',
        'meta.created gt "yesterday"',
        'urn:unknown:schema:attr eq "x"',
    ],
)
def test_invalid_filters(scim: Scim, flt: str) -> None:
    response = scim.get("/Users", params={"filter": flt})
    assert response.status_code == 400, flt
    assert response.json()["scimType"] == "invalidFilter"
    assert response.json()["detail"]


def test_dot_search_post(scim: Scim, people: dict[str, Any]) -> None:
    response = scim.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userType eq "Employee"',
            "attributes": ["userName"],
            "sortBy": "userName",
            "sortOrder": "descending",
            "startIndex": 1,
            "count": 10,
        },
    )
    assert response.status_code == 200
    assert [r["userName"] for r in response.json()["Resources"]] == ["mo'malley", "bjensen"]
    assert set(response.json()["Resources"][0]) == {"schemas", "id", "userName"}


def test_root_search_spans_types(scim: Scim, people: dict[str, Any]) -> None:
    scim.create_group("Tours")
    response = scim.post(
        "/.search",
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 10},
    )
    body = response.json()
    assert body["totalResults"] == 4
    assert sorted(r["meta"]["resourceType"] for r in body["Resources"]) == [
        "Group",
        "User",
        "User",
        "User",
    ]


def test_sorting(scim: Scim, people: dict[str, Any]) -> None:
    def order(**params: Any) -> list[str]:
        return [r["userName"] for r in scim.get("/Users", params=params).json()["Resources"]]

    assert order(sortBy="name.givenName") == ["bjensen", "jsmith", "mo'malley"]
    assert order(sortBy="name.givenName", sortOrder="descending") == [
        "mo'malley",
        "jsmith",
        "bjensen",
    ]
    assert order(sortBy="title")[:2] == ["mo'malley", "bjensen"]  # CEO < Tour Guide, absent last
    assert order(sortBy="emails") == ["bjensen", "jsmith", "mo'malley"]
    assert order(sortBy="userName", sortOrder="descending") == ["mo'malley", "jsmith", "bjensen"]


def test_paging_is_stable_and_counts_are_integers(scim: Scim) -> None:
    ids = [scim.create_user(f"p{i:02d}")["id"] for i in range(25)]
    seen: list[str] = []
    start = 1
    while True:
        body = scim.get("/Users", params={"startIndex": start, "count": 10}).json()
        assert body["totalResults"] == 25
        assert body["startIndex"] == start
        assert body["itemsPerPage"] == len(body["Resources"])
        if not body["Resources"]:
            break
        seen.extend(r["id"] for r in body["Resources"])
        start += 10
    assert seen == ids
    zero = scim.get("/Users", params={"count": 0}).json()
    assert (zero["totalResults"], zero["itemsPerPage"], zero["Resources"]) == (25, 0, [])
    low = scim.get("/Users", params={"startIndex": -5, "count": 1}).json()
    assert low["startIndex"] == 1


def test_page_size_is_capped_at_advertised_maximum(scim: Scim) -> None:
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["filter"]["maxResults"] == 1000
    for i in range(3):
        scim.create_user(f"cap{i}")
    body = scim.get("/Users", params={"count": 5000}).json()
    assert body["itemsPerPage"] == 3
    assert scim.get("/Users", params={"count": "many"}).status_code == 400


def test_filter_on_long_values(scim: Scim) -> None:
    long_title = "x" * 700
    scim.create_user("long", title=long_title)
    assert _names(scim, f'title eq "{long_title}"') == ["long"]
    assert _names(scim, f'title sw "{"x" * 600}"') == ["long"]
    assert scim.get("/Users", params={"filter": "title pr"}).json()["totalResults"] == 1
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "x" * 300,
        "emails": [{"value": "x300@example.test"}],
    }
    assert scim.post("/Users", body).status_code == 201


def test_sorting_too_many_by_an_unindexed_attribute_is_too_many(
    engine: Engine, client: TestClient, scim: Scim
) -> None:
    for i in range(4):
        scim.create_user(f"s{i}", title=f"T{i}")
    strict = Settings(
        database_url=str(engine.url), public_url="http://testserver", max_sorted_results=3
    )
    with TestClient(create_app(strict, engine)) as small:
        scim.http = small
        response = scim.get("/Users", params={"sortBy": "title"})
        assert response.status_code == 400
        assert response.json()["scimType"] == "tooMany"
        # Indexed sorts and narrower filters are still fine.
        assert scim.get("/Users", params={"sortBy": "userName"}).status_code == 200
        narrowed = scim.get("/Users", params={"sortBy": "title", "filter": 'userName sw "s1"'})
        assert narrowed.status_code == 200
        scim.http = client


def test_longest_accepted_filter_runs(scim: Scim) -> None:
    scim.create_user("u7")
    flt = " or ".join(f'userName eq "u{i}"' for i in range(100))
    assert _names(scim, flt) == ["u7"]
    response = scim.get("/Users", params={"filter": flt + ' or userName eq "x"'})
    assert (response.status_code, response.json()["scimType"]) == (400, "invalidFilter")


def test_every_window_of_the_default_order_is_the_right_slice(scim: Scim) -> None:
    """Pages in the back half are read from the end; any window must still be exact."""
    ids = [scim.create_user(f"w{i:02d}")["id"] for i in range(23)]
    for count in (1, 5, 7, 30):
        for start in range(1, 26):
            body = scim.get("/Users", params={"startIndex": start, "count": count}).json()
            got = [r["id"] for r in body["Resources"]]
            assert got == ids[start - 1 : start - 1 + count], (start, count)
            assert body["totalResults"] == 23


# ---- filters a review found wrong (each failed before its fix) ---------------------------


def _total(scim: Scim, flt: str) -> int:
    response = scim.get("/Users", params={"filter": flt})
    assert response.status_code == 200, response.text
    return int(response.json()["totalResults"])


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
