"""The transcript matcher itself: it must fail where a transcript says it should."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.idp.replay import Mismatch, Replay, resolve


@pytest.fixture
def replay() -> Replay:
    return Replay({"userId": "u-1", "baseUrl": "http://h/scim"})


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({"id": "{{userId}}", "active": True}, {"id": "u-1", "active": True, "x": 1}),
        ({"members": "{{empty}}"}, {}),
        ({"members": "{{empty}}"}, {"members": []}),
        ({"members": "{{absent}}"}, {"id": "g"}),
        ({"n": "{{int}}", "s": "{{string}}", "a": "{{any}}"}, {"n": 2, "s": "x", "a": False}),
        ({"ref": "{{baseUrl}}/Users/{{userId}}"}, {"ref": "http://h/scim/Users/u-1"}),
        ({"v": '{{re:W/".+"}}'}, {"v": 'W/"3"'}),
        ({"{{unordered}}": [{"value": "b"}, {"value": "a"}]}, [{"value": "a"}, {"value": "b"}]),
        ({"{{contains}}": ["x"]}, ["y", "x"]),
        ([{"value": "a"}], [{"value": "a", "display": "A"}]),
    ],
)
def test_matches(replay: Replay, expected: Any, actual: Any) -> None:
    replay.match(expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ({"id": "{{userId}}"}, {"id": "u-2"}),
        ({"active": False}, {"active": 0}),
        ({"status": "404"}, {"status": 404}),
        ({"n": "{{int}}"}, {"n": True}),
        ({"n": 1}, {"n": True}),
        ({"members": "{{empty}}"}, {"members": [{"value": "a"}]}),
        ({"members": "{{absent}}"}, {"members": []}),
        ({"id": "{{any}}"}, {}),
        ([{"value": "a"}], [{"value": "a"}, {"value": "b"}]),
        ([{"value": "a"}, {"value": "b"}], [{"value": "b"}, {"value": "a"}]),
        ({"{{unordered}}": [{"value": "a"}, {"value": "a"}]}, [{"value": "a"}, {"value": "b"}]),
        ({"{{contains}}": ["x", "x"]}, ["x"]),
    ],
)
def test_mismatches(replay: Replay, expected: Any, actual: Any) -> None:
    with pytest.raises(Mismatch):
        replay.match(expected, actual)


def test_absent_names_are_searched_at_every_depth(replay: Replay) -> None:
    replay.check_absent(["password", "/name.givenName"], {"name": {"givenName": "x"}})
    replay.check_absent(["Primary"], {"emails": [{"primary": True}]})
    with pytest.raises(Mismatch, match="password"):
        replay.check_absent(["password"], {"Resources": [{"id": "1", "password": "x"}]})
    with pytest.raises(Mismatch):
        replay.check_absent(["/name.givenName"], {"name.givenName": "x"})


def test_headers_compare_the_media_type(replay: Replay) -> None:
    headers = httpx.Headers({"content-type": "application/scim+json; charset=utf-8"})
    replay.match_headers({"Content-Type": "application/scim+json"}, headers)
    with pytest.raises(Mismatch):
        replay.match_headers({"Content-Type": "application/json"}, headers)
    with pytest.raises(Mismatch):
        replay.match_headers({"Content-Type": "{{absent}}"}, headers)


def test_placeholders_must_be_captured_first(replay: Replay) -> None:
    with pytest.raises(Mismatch, match="groupId"):
        replay.fill({"path": "/Groups/{{groupId}}"})


def test_pointers() -> None:
    doc = {"Resources": [{"id": "a"}], "urn:x:2.0:User": {"a/b": 1}}
    assert resolve(doc, "/Resources/0/id") == "a"
    assert resolve(doc, "/urn:x:2.0:User/a~1b") == 1
    assert resolve(doc, "Resources") == [{"id": "a"}]
    with pytest.raises(KeyError):
        resolve(doc, "/Resources/1/id")
