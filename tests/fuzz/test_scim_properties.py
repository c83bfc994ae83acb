"""Property tests of the pure SCIM core (issue 15): whatever the input, the filter parser,
the PATCH engine and the document normaliser (each also behind every IdP dialect) give a
value or a SCIM error with a 4xx status — never another exception, which the server would
answer with a 500.

Bounded and repeatable: a fixed number of examples, derandomized (the same inputs on every
run, so CI does not flake), no deadline (a loaded CI machine is slow, not wrong)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roster.errors import RosterError
from roster.scim import dialects, limits
from roster.scim.document import normalise, project
from roster.scim.filter import matches, parse_filter
from roster.scim.patch import PatchOptions, apply_patch, parse_operations
from roster.scim.schema import GROUP, USER, ResourceType
from roster.scim.search import parse_search
from tests.fuzz.strategies import attr_path, filter_text, json_value, patch_body, resource_body

# The pure core touches no database: its properties run once, in the SQLite run of the
# suite, not again when the suite runs on PostgreSQL.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ROSTER_TEST_DATABASE_URL")), reason="pure code: run in the SQLite run"
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILES = [dialects.profile_for(idp) for idp in ("okta", "entra", "onelogin", "generic")]
resource_type = st.sampled_from([USER, GROUP])
profile = st.sampled_from(PROFILES)

USER_DOC: dict[str, Any] = {
    "userName": "bjensen@example.com",
    "name": {"familyName": "Jensen", "givenName": "Barbara"},
    "active": True,
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "addresses": [{"type": "work", "locality": "Hollywood", "primary": True}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "701984",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"},
    },
}
GROUP_DOC: dict[str, Any] = {"displayName": "Tour Guides", "members": [{"value": "a"}]}


def _doc(rt: ResourceType) -> dict[str, Any]:
    return USER_DOC if rt is USER else GROUP_DOC


def value_or_scim_error(fn: Callable[[], Any]) -> Any:
    """``fn()``'s value, or None when it refused with a SCIM client error."""
    try:
        return fn()
    except RosterError as err:
        assert 400 <= err.status < 500, f"{type(err).__name__} {err.status}: {err.detail}"
        return None


@FUZZ
@given(rt=resource_type, data=st.data(), prof=profile)
def test_any_filter_parses_or_is_a_scim_error(
    rt: ResourceType, data: st.DataObject, prof: Any
) -> None:
    text = data.draw(filter_text(rt))

    def run() -> None:
        rfc = dialects.normalise_filter(prof, text, email_identifier=rt is USER)
        node = parse_filter(rt, rfc)
        assert isinstance(matches(node, _doc(rt)), bool)

    value_or_scim_error(run)


@FUZZ
@given(rt=resource_type, data=st.data(), prof=profile)
def test_any_patch_applies_or_is_a_scim_error(
    rt: ResourceType, data: st.DataObject, prof: Any
) -> None:
    body = data.draw(patch_body(rt))

    def run() -> None:
        limits.check_json(body)
        normalised = dialects.normalise_patch(prof, rt, body, "2819c223")
        ops = parse_operations(normalised)
        options = PatchOptions(element_from_filter=dialects.element_from_filter)
        result = apply_patch(
            rt, _doc(rt), ops, options if prof.on("upsert_filtered_values") else None
        )
        assert isinstance(result.doc, dict)

    value_or_scim_error(run)


@FUZZ
@given(rt=resource_type, data=st.data(), prof=profile)
def test_any_resource_body_normalises_or_is_a_scim_error(
    rt: ResourceType, data: st.DataObject, prof: Any
) -> None:
    body = data.draw(resource_body(rt))

    def run() -> None:
        limits.check_json(body)
        doc = normalise(rt, dialects.normalise_resource(prof, rt, body))
        assert isinstance(doc, dict)
        assert isinstance(project(rt, doc, [], []), dict)

    value_or_scim_error(run)


@FUZZ
@given(rt=resource_type, data=st.data())
def test_any_search_parameters_parse_or_are_a_scim_error(
    rt: ResourceType, data: st.DataObject
) -> None:
    names = ["filter", "startIndex", "count", "sortBy", "sortOrder", "attributes", "x"]
    values = st.one_of(filter_text(rt), attr_path(rt), st.integers().map(str), json_value)
    query = data.draw(st.dictionaries(st.sampled_from(names), values, max_size=4))
    value_or_scim_error(lambda: parse_search(rt, query, default_count=100, max_count=1000))


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), json_value.map(lambda v: repr(v).encode())))
def test_any_body_bytes_parse_or_are_a_scim_error(raw: bytes) -> None:
    value_or_scim_error(lambda: limits.parse_json(raw))
