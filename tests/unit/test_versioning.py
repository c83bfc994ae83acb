"""ETags and preconditions (scim/versioning.py), and meta (scim/rendering.py), without I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from roster.errors import NotModified, PreconditionFailed
from roster.scim import rendering, versioning
from roster.scim.schema import GROUP, USER


def test_etag_is_weak_and_compared_weakly() -> None:
    assert versioning.etag(3) == 'W/"3"'
    assert versioning.matches('W/"3"', 3) and versioning.matches('"3"', 3)
    assert versioning.matches('W/"1", W/"3"', 3) and versioning.matches("*", 9)
    assert not versioning.matches('W/"2"', 3)


def test_if_match_refuses_a_stale_version_and_if_none_match_answers_not_modified() -> None:
    versioning.check_if_match(3, None)
    versioning.check_if_match(3, 'W/"3"')
    with pytest.raises(PreconditionFailed, match='current version W/"3"'):
        versioning.check_if_match(3, 'W/"2"')
    versioning.check_if_none_match(3, 'W/"2"')
    with pytest.raises(NotModified) as caught:
        versioning.check_if_none_match(3, 'W/"3"')
    assert caught.value.etag == 'W/"3"'


def test_a_rendered_resource_carries_meta_and_its_references() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678000)
    body = rendering.resource(
        GROUP,
        "https://x/scim/v2/t/c",
        "g1",
        {"displayName": "Eng"},
        created=at,
        last_modified=at,
        version=4,
        related=[_Ref("u1", "User", "Ada")],
    )
    assert body["meta"] == {
        "resourceType": "Group",
        "created": "2026-01-02T03:04:05.678Z",
        "lastModified": "2026-01-02T03:04:05.678Z",
        "location": "https://x/scim/v2/t/c/Groups/g1",
        "version": 'W/"4"',
    }
    assert body["members"] == [
        {"value": "u1", "$ref": "https://x/scim/v2/t/c/Users/u1", "display": "Ada", "type": "User"}
    ]
    assert list(body)[:3] == ["schemas", "id", "displayName"]
    user = rendering.meta(USER, "https://x", "u2", "a", "b")
    assert "version" not in user and user["location"] == "https://x/Users/u2"


@dataclass(frozen=True)
class _Ref:
    id: str
    resource_type: str
    display: str | None
