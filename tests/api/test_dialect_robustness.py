"""Robustness of the IdP quirks (docs/compatibility.md, scim/dialects/): every quirky
form has malformed variants, and each is refused with a clear SCIM error (RFC 7644 §3.12),
written to the system log with its reason, and changes nothing — atomically, when the
malformed operation follows a valid one. The profile boundary: a quirky-but-valid form is
refused where the connection's profile does not enable its quirk. And a member remove
meant for some members never empties a group, in any form, on any profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from roster.directory.admin import connection_settings, tenancy
from roster.storage.tables import log_entries
from tests.conftest import ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, Scim, new_connection

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
MISSPELT_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
MANAGER = f"{ENTERPRISE}:manager"
OKTA_EXAMPLE_ID = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"  # [OKTA-REF]'s rename: not ours

Op = dict[str, Any]


# ---- the world each case runs against ----------------------------------------------


@dataclass
class World:
    scim: Scim
    user: str  # the PATCH/PUT target user
    boss: str  # the user's manager
    group: str  # a group with three members
    members: list[str]
    outsider: str  # a user in no group

    def user_path(self) -> str:
        return f"/Users/{self.user}"

    def group_path(self) -> str:
        return f"/Groups/{self.group}"


def configure(engine: Engine, scim: Scim, *sets: str) -> None:
    with engine.begin() as conn:
        row = tenancy.get_connection(conn, scim.connection_id)
        connection_settings.configure(conn, row, list(sets), [])


def make_world(engine: Engine, client: TestClient, idp: str, sets: tuple[str, ...] = ()) -> World:
    scim = new_connection(engine, client, idp)
    if sets:
        configure(engine, scim, *sets)
    boss = scim.create_user("boss@x.org", displayName="Boss")["id"]
    user = scim.create_user(
        "pat@x.org",
        schemas=[USER_SCHEMA, ENTERPRISE],
        displayName="Pat",
        title="Engineer",
        active=True,
        name={"givenName": "Pat", "familyName": "Doe"},
        emails=[{"type": "work", "value": "pat@work.org", "primary": True}],
        **{ENTERPRISE: {"department": "Ops", "manager": {"value": boss}}},
    )["id"]
    members = [scim.create_user(f"m{i}@x.org")["id"] for i in range(3)]
    group = scim.create_group("Team", members)["id"]
    outsider = scim.create_user("out@x.org")["id"]
    return World(scim, user, boss, group, members, outsider)


@dataclass(frozen=True)
class State:
    user: tuple[Any, str]
    group: tuple[Any, str]
    members: list[str]
    totals: tuple[int, int]


def state(w: World) -> State:
    def read(path: str) -> tuple[Any, str]:
        r = w.scim.get(path)
        assert r.status_code == 200, r.text
        return r.json(), r.headers["ETag"]

    group = read(w.group_path())
    users = w.scim.get("/Users", params={"count": 0}).json()["totalResults"]
    groups = w.scim.get("/Groups", params={"count": 0}).json()["totalResults"]
    return State(
        read(w.user_path()),
        group,
        sorted(m["value"] for m in group[0].get("members", [])),
        (users, groups),
    )


def assert_unchanged(w: World, before: State) -> None:
    after = state(w)
    assert after.user == before.user, "the user changed (body or meta.version/ETag)"
    assert after.members == before.members, "the group's members changed"
    assert after.group == before.group, "the group changed (body or meta.version/ETag)"
    assert after.totals == before.totals, "a resource was created or deleted"
    assert after.user[0]["meta"]["version"] == after.user[1]


def assert_rejected(
    engine: Engine,
    w: World,
    response: Any,
    scim_type: str,
    mentions: tuple[str, ...] = (),
    status: int = 400,
) -> None:
    """RFC 7644 §3.12 error shape, a detail a person can act on, and the same in the log."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status) and isinstance(body["status"], str)
    assert body.get("scimType") == scim_type, body
    detail = body.get("detail")
    assert isinstance(detail, str) and len(detail.strip()) >= 10, body
    assert "Traceback" not in detail and "Exception" not in detail
    for word in filter(None, mentions):
        assert word.lower() in detail.lower(), f"detail {detail!r} does not mention {word!r}"
    with engine.connect() as conn:
        rows = conn.execute(
            select(log_entries).where(log_entries.c.request_id == response.headers["X-Request-Id"])
        ).all()
    assert len(rows) == 1, "exactly one log entry per request"
    entry = rows[0]
    assert entry.tenant_id == w.scim.tenant_id
    assert entry.connection_uid == w.scim.connection_id
    assert (entry.status, entry.scim_type, entry.detail) == (status, scim_type, detail)


# ---- malformed PATCH operations -----------------------------------------------------


@dataclass(frozen=True)
class BadPatch:
    """A malformed variant of a quirky PATCH, sent where its quirk is on."""

    idp: str
    target: str  # "user" | "group"
    ops: Callable[[World], list[Op]]
    scim_type: str
    mentions: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()


def _user(idp: str, ops: Callable[[World], list[Op]], scim_type: str, *mentions: str) -> BadPatch:
    return BadPatch(idp, "user", ops, scim_type, mentions)


def _group(idp: str, ops: Callable[[World], list[Op]], scim_type: str, *mentions: str) -> BadPatch:
    return BadPatch(idp, "group", ops, scim_type, mentions)


def _op(op: str, path: str | None = None, **value: Any) -> Op:
    out: Op = {"op": op}
    if path is not None:
        out["path"] = path
    out.update(value)
    return out


def _fixed(ops: list[Op]) -> Callable[[World], list[Op]]:
    return lambda w: ops


def _members_remove(value: Any, op: str = "Remove") -> Callable[[World], list[Op]]:
    return lambda w: [{"op": op, "path": "members", "value": value}]


BAD_PATCHES: list[Any] = [
    # op_case: any letter case of add/replace/remove, never another word.
    *(
        pytest.param(
            _user(idp, _fixed([{"op": o, "path": "title", "value": "X"}]), "invalidSyntax"),
            id=f"op_case-{idp}-{o!r}",
        )
        for idp in ("entra", "okta", "generic")
        for o in ("Upsert", "REPLACEX", "", " replace", "Add ", "re-place")
    ),
    pytest.param(
        _user("entra", lambda w: [{"op": 5, "path": "title", "value": "X"}], "invalidSyntax"),
        id="op_case-op-a-number",
    ),
    pytest.param(
        _user("entra", lambda w: [{"path": "title", "value": "X"}], "invalidSyntax", "op"),
        id="op_case-op-missing",
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "Replace", "OP": "remove", "path": "title", "value": "X"}],
            "invalidSyntax",
            "op",
        ),
        id="op_case-op-keys-collide-in-case",
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "replace", "path": "title", "PATH": "displayName", "value": "X"}],
            "invalidSyntax",
            "path",
        ),
        id="op_case-path-keys-collide-in-case",
    ),
    # boolean_strings: "True"/"False" in any case, nothing else.
    *(
        pytest.param(
            _user(
                "entra",
                _fixed([{"op": "Replace", "path": "active", "value": v}]),
                "invalidValue",
                "active",
            ),
            id=f"boolean_strings-path-{v!r}",
        )
        for v in ("Flase", "yes", "", "1", "TRUE ", 1, ["True"], {"value": "True"})
    ),
    *(
        pytest.param(
            _user(
                "entra",
                _fixed([{"op": "Replace", "value": {"active": v}}]),
                "invalidValue",
                "active",
            ),
            id=f"boolean_strings-no-path-{v!r}",
        )
        for v in ("Flase", "no", "T")
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "Replace", "path": 'emails[type eq "work"].primary', "value": "Yes"}],
            "invalidValue",
            "primary",
        ),
        id="boolean_strings-sub-attribute-Yes",
    ),
    # no-path replace (Okta deactivate, [OKTA-REF]) malformed.
    *(
        pytest.param(
            _user(
                "okta",
                _fixed([{"op": "replace", "value": {"active": v}}]),
                "invalidValue",
                "active",
            ),
            id=f"okta-deactivate-{v!r}",
        )
        for v in ("Flase", "false ", 0)
    ),
    pytest.param(
        _user("okta", lambda w: [{"op": "replace", "value": [{"active": False}]}], "invalidValue"),
        id="okta-deactivate-value-a-list",
    ),
    pytest.param(
        _user("okta", lambda w: [{"op": "replace", "value": "active=false"}], "invalidValue"),
        id="okta-deactivate-value-a-string",
    ),
    pytest.param(
        _user("okta", lambda w: [{"op": "replace"}], "invalidSyntax", "value"),
        id="okta-deactivate-no-value",
    ),
    pytest.param(
        _user("okta", lambda w: [{"op": "remove", "value": {"active": False}}], "noTarget", "path"),
        id="okta-deactivate-as-pathless-remove",
    ),
    # echoed_read_only: only the resource's own id is ignored.
    pytest.param(
        _group(
            "okta",
            lambda w: [{"op": "replace", "value": {"id": OKTA_EXAMPLE_ID, "displayName": "New"}}],
            "mutability",
            "id",
        ),
        id="echoed_read_only-okta-rename-foreign-id",
    ),
    pytest.param(
        _group(
            "okta",
            lambda w: [{"op": "replace", "value": {"id": w.group.upper(), "displayName": "New"}}],
            "mutability",
            "id",
        ),
        id="echoed_read_only-okta-rename-id-in-other-case",
    ),
    pytest.param(
        _group(
            "okta",
            lambda w: [{"op": "replace", "value": {"id": 42, "displayName": "New"}}],
            "mutability",
            "id",
        ),
        id="echoed_read_only-okta-rename-id-a-number",
    ),
    pytest.param(
        _group(
            "okta",
            lambda w: [{"op": "replace", "value": {"id": w.members[0], "displayName": "New"}}],
            "mutability",
            "id",
        ),
        id="echoed_read_only-okta-rename-id-of-another-resource",
    ),
    pytest.param(
        _group(
            "okta",
            lambda w: [{"op": "replace", "value": {"id": w.group, "displayName": 42}}],
            "invalidValue",
            "displayName",
        ),
        id="echoed_read_only-okta-rename-name-a-number",
    ),
    pytest.param(
        _group(
            "okta",
            lambda w: [
                {"op": "replace", "value": {"id": w.group, "displayName": "N", "members": "x"}}
            ],
            "invalidValue",
            "members",
        ),
        id="echoed_read_only-okta-rename-members-a-string",
    ),
    pytest.param(
        _group(
            "okta",
            lambda w: [{"op": "replace", "path": "id", "value": w.group}],
            "mutability",
            "id",
        ),
        id="echoed_read_only-only-path-less-id-path-is-refused",
    ),
    pytest.param(
        _user(
            "okta",
            lambda w: [{"op": "replace", "value": {"id": OKTA_EXAMPLE_ID, "active": False}}],
            "mutability",
            "id",
        ),
        id="echoed_read_only-okta-deactivate-foreign-id",
    ),
    # member_remove_values: a value list that names members, and only that.
    *(
        pytest.param(
            _group(idp, _members_remove(v), "invalidValue", "value"),
            id=f"member_remove_values-{idp}-{name}",
        )
        for idp in ("entra", "okta")
        for name, v in (
            ("item-lacks-value", [{"display": "m0@x.org"}]),
            ("item-lacks-value-has-ref", [{"$ref": None}]),
            ("value-a-number", [{"value": 5}]),
            ("value-null", [{"value": None}]),
            ("value-empty-string", [{"value": ""}]),
            ("value-a-list", [{"value": ["x"]}]),
            ("item-null", [None]),
            ("item-a-list", [["x"]]),
            ("empty-list", []),
            ("object-lacks-value", {"display": "m0@x.org"}),
            ("a-number", 5),
        )
    ),
    pytest.param(
        _group(
            "entra",
            lambda w: [
                {
                    "op": "Remove",
                    "path": "members",
                    "value": [{"value": w.members[0]}, {"display": "x"}],
                }
            ],
            "invalidValue",
            "value[1]",
        ),
        id="member_remove_values-second-item-bad-removes-not-the-first",
    ),
    pytest.param(
        _group(
            "entra",
            lambda w: [
                {"op": "Remove", "path": "members.value", "value": [{"value": w.members[0]}]}
            ],
            "invalidPath",
            "members",
        ),
        id="member_remove_values-sub-attribute-path",
    ),
    pytest.param(
        _group("entra", lambda w: [{"op": "Remove", "path": "members[value eq]"}], "invalidPath"),
        id="member_remove_values-filter-garbage",
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "Remove", "path": "emails", "value": [{"type": "work"}]}],
            "invalidValue",
            "value",
        ),
        id="member_remove_values-emails-item-lacks-value",
    ),
    # manager_shapes: a bare id, or a one-element list of {"value", "$ref"}.
    *(
        pytest.param(
            _user(
                "entra",
                _fixed([{"op": "Add", "path": p, "value": v}]),
                "invalidValue",
                "manager",
            ),
            id=f"manager_shapes-{short}-{name}",
        )
        for p, short in ((MANAGER, "urn"), ("manager", "bare-path"))
        for name, v in (
            ("a-number", 42),
            ("true", True),
            ("empty-string", ""),
            ("blank-string", "   "),
            ("empty-list", []),
            ("two-element-list", [{"value": "a"}, {"value": "b"}]),
            ("list-of-a-string", ["boss-id"]),
            ("list-of-two-strings", ["a", "b"]),
            ("list-item-value-a-number", [{"value": 42}]),
            ("list-item-value-empty", [{"value": ""}]),
            ("list-item-without-value", [{"$ref": "http://elsewhere/Users/1"}]),
        )
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "Replace", "path": "manager.value", "value": ["x"]}],
            "invalidValue",
            "manager",
        ),
        id="manager_shapes-manager.value-a-list",
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "Replace", "value": {ENTERPRISE: {"manager": ["a", "b"]}}}],
            "invalidValue",
            "manager",
        ),
        id="manager_shapes-path-less-list-of-strings",
    ),
    # dotted_value_keys: sub-attribute paths and URN-qualified names, not anything.
    *(
        pytest.param(
            _user(
                "entra",
                _fixed([{"op": "replace", "value": {"displayName": "Changed", k: "x"}}]),
                scim_type,
                mention,
            ),
            id=f"dotted_value_keys-{k}",
        )
        for k, scim_type, mention in (
            ("name.nope", "invalidPath", "nope"),
            ("nope.givenName", "invalidPath", "nope"),
            ("name.givenName.extra", "invalidPath", "extra"),
            ("name.", "invalidPath", "name."),
            (f"{ENTERPRISE}:nope", "invalidPath", "nope"),
            (f"{USER_SCHEMA}:name.nope", "invalidPath", "nope"),
            ("emails[type eq].value", "invalidPath", ""),
            ("meta.created", "mutability", "meta.created"),
            ("meta.lastModified", "mutability", "meta.lastModified"),
            ("groups.value", "mutability", "groups"),
        )
    ),
    pytest.param(
        _user(
            "entra",
            lambda w: [{"op": "Add", "value": {"name.givenName": 5, "title": "Changed"}}],
            "invalidValue",
            "givenName",
        ),
        id="dotted_value_keys-value-a-number",
    ),
    # upsert_filtered_values: only a filter of eq tests describes an element.
    *(
        pytest.param(
            _user(
                "entra",
                _fixed([{"op": "Replace", "path": p, "value": "new@x.org"}]),
                scim_type,
            ),
            id=f"upsert_filtered_values-{p}",
        )
        for p, scim_type in (
            ('emails[type ne "work"].value', "noTarget"),
            ('emails[value co "x"].type', "noTarget"),
            ('emails[type eq "home" or type eq "other"].value', "noTarget"),
            ('emails[type eq "home" and type eq "other"].value', "noTarget"),
            ('emails[type sw "ho"].value', "noTarget"),
            ("phoneNumbers[type pr].display", "noTarget"),
            ('phoneNumbers[not (type eq "work")].value', "noTarget"),
            ("emails[type eq null].value", "noTarget"),
            ('phoneNumbers[type eq "mobile"].nope', "invalidPath"),
            ('phoneNumbers[typo eq "mobile"].value', "invalidPath"),
            ("phoneNumbers[type eq mobile].value", "invalidPath"),
            ('phoneNumbers[type eq "mobile"', "invalidPath"),
            ('name[givenName eq "Pat"].familyName', "invalidPath"),
        )
    ),
    *(
        pytest.param(
            _user(
                "entra",
                _fixed([{"op": "Add", "path": p, "value": v}]),
                "invalidValue",
                "phoneNumbers",
            ),
            id=f"upsert_filtered_values-{name}",
        )
        for name, p, v in (
            ("value-a-number", 'phoneNumbers[type eq "mobile"].value', 5),
            ("value-null", 'phoneNumbers[type eq "mobile"].value', None),
            ("value-a-list", 'phoneNumbers[type eq "mobile"].value', ["+1"]),
            ("element-path-string-value", 'phoneNumbers[type eq "mobile"]', "+1"),
        )
    ),
]


def _valid_first_op(w: World, target: str) -> Op:
    if target == "group":  # a member row change: the hardest part to roll back
        return {"op": "Add", "path": "members", "value": [{"value": w.outsider}]}
    return {"op": "Replace", "path": "displayName", "value": "Changed First"}


@pytest.mark.parametrize("after_a_valid_op", [False, True], ids=["alone", "after-valid-op"])
@pytest.mark.parametrize("case", BAD_PATCHES)
def test_malformed_quirky_patch_is_refused_and_changes_nothing(
    engine: Engine, client: TestClient, case: BadPatch, after_a_valid_op: bool
) -> None:
    w = make_world(engine, client, case.idp, case.sets)
    before = state(w)
    ops = case.ops(w)
    if after_a_valid_op:
        ops = [_valid_first_op(w, case.target), *ops]
    path = w.user_path() if case.target == "user" else w.group_path()
    response = w.scim.patch(path, ops)
    assert_rejected(engine, w, response, case.scim_type, case.mentions)
    assert_unchanged(w, before)


# ---- malformed PatchOp envelopes ------------------------------------------------------


@pytest.mark.parametrize(
    ("idp", "body", "scim_type"),
    [
        pytest.param(
            "entra",
            {"schemas": [PATCH_OP], "Operation": [_op("Replace", "title", value="X")]},
            "invalidSyntax",
            id="op_case-Operation-singular",
        ),
        pytest.param(
            "entra",
            {"schemas": [PATCH_OP], "operations": {"op": "Replace", "path": "title", "value": "X"}},
            "invalidSyntax",
            id="op_case-operations-an-object",
        ),
        pytest.param(
            "entra",
            {"schemas": [PATCH_OP], "OPERATIONS": []},
            "invalidSyntax",
            id="op_case-OPERATIONS-empty",
        ),
        pytest.param(
            "entra",
            {
                "schemas": [PATCH_OP],
                "Operations": [_op("replace", "title", value="A")],
                "operations": [_op("remove", "title")],
            },
            "invalidSyntax",
            id="op_case-two-Operations-keys-collide-in-case",
        ),
        pytest.param(
            "entra",
            {"schemas": [MS_GROUP], "Operations": [_op("Replace", "title", value="X")]},
            "invalidSyntax",
            id="foreign_schema_uris-patch-without-PatchOp-schema",
        ),
        pytest.param(
            "entra",
            {"schemas": PATCH_OP, "Operations": [_op("Replace", "title", value="X")]},
            "invalidSyntax",
            id="foreign_schema_uris-patch-schemas-a-string",
        ),
    ],
)
def test_malformed_patch_envelope_is_refused_and_changes_nothing(
    engine: Engine, client: TestClient, idp: str, body: dict[str, Any], scim_type: str
) -> None:
    w = make_world(engine, client, idp)
    before = state(w)
    response = w.scim.http.patch(w.scim.base + w.user_path(), json=body, headers=w.scim.headers())
    assert_rejected(engine, w, response, scim_type)
    assert_unchanged(w, before)


# ---- malformed POST / PUT bodies and filters ---------------------------------------------


@dataclass(frozen=True)
class BadRequest:
    idp: str
    send: Callable[[World], Any]
    scim_type: str
    mentions: tuple[str, ...] = ()
    sets: tuple[str, ...] = field(default=())


def _post_user(**attrs: Any) -> Callable[[World], Any]:
    return lambda w: w.scim.post(
        "/Users", {"schemas": [USER_SCHEMA, ENTERPRISE], "userName": "new@x.org", **attrs}
    )


def _put_user(**attrs: Any) -> Callable[[World], Any]:
    def send(w: World) -> Any:
        current = w.scim.get(w.user_path()).json()
        return w.scim.put(w.user_path(), {**current, **attrs})

    return send


def _post_group(schemas: Any) -> Callable[[World], Any]:
    return lambda w: w.scim.post(
        "/Groups", {"schemas": schemas, "displayName": "New Group", "externalId": "ext-1"}
    )


def _search(resource: str, text: str, dot_search: bool = False) -> Callable[[World], Any]:
    if dot_search:
        return lambda w: w.scim.post(
            f"/{resource}/.search",
            {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": text},
        )
    return lambda w: w.scim.get(f"/{resource}", params={"filter": text})


BAD_REQUESTS: list[Any] = [
    # boolean_strings in bodies.
    *(
        pytest.param(
            BadRequest("entra", _post_user(active=v), "invalidValue", ("active",)),
            id=f"boolean_strings-post-{v!r}",
        )
        for v in ("Flase", "yes", "", "Truee")
    ),
    pytest.param(
        BadRequest("entra", _put_user(active="Flase"), "invalidValue", ("active",)),
        id="boolean_strings-put-Flase",
    ),
    pytest.param(
        BadRequest(
            "entra",
            _post_user(emails=[{"value": "n@x.org", "primary": "Yes"}]),
            "invalidValue",
            ("primary",),
        ),
        id="boolean_strings-post-sub-attribute-Yes",
    ),
    # manager_shapes in bodies.
    *(
        pytest.param(
            BadRequest(
                "entra", _post_user(**{ENTERPRISE: {"manager": v}}), "invalidValue", ("manager",)
            ),
            id=f"manager_shapes-post-{name}",
        )
        for name, v in (
            ("a-number", 42),
            ("empty-string", ""),
            ("two-element-list", [{"value": "a"}, {"value": "b"}]),
            ("list-of-a-string", ["a"]),
        )
    ),
    pytest.param(
        BadRequest(
            "entra",
            _put_user(**{ENTERPRISE: {"manager": ["a", "b"]}}),
            "invalidValue",
            ("manager",),
        ),
        id="manager_shapes-put-list-of-strings",
    ),
    # foreign_schema_uris: what is dropped is a URI; a schemas list must still be one.
    pytest.param(
        BadRequest("entra", _post_group(GROUP_SCHEMA), "invalidSyntax", ("schemas",)),
        id="foreign_schema_uris-schemas-a-string",
    ),
    pytest.param(
        BadRequest(
            "entra", _post_group([GROUP_SCHEMA, MS_GROUP, 42]), "invalidSyntax", ("schemas",)
        ),
        id="foreign_schema_uris-schemas-with-a-number",
    ),
    pytest.param(
        BadRequest("entra", _post_group({"uri": MS_GROUP}), "invalidSyntax", ("schemas",)),
        id="foreign_schema_uris-schemas-an-object",
    ),
    # bare_filter_values: a bare word is a string; garbage is still garbage.
    *(
        pytest.param(
            BadRequest("entra", _search(res, text, dot), "invalidFilter"),
            id=f"bare_filter_values-{res}{'-.search' if dot else ''}-{text}",
        )
        for res, text, dot in (
            ("Users", "userName eq", False),
            ("Users", "externalId eq a b", False),
            ("Users", "externalId eq a b", True),
            ("Users", "externalId eq jyoung)", False),
            ("Users", "externalId eq (jyoung)", False),
            ("Users", "externalId jyoung", False),
            ("Users", "externalId eq jyoung and", False),
            ("Users", "externalId zz jyoung", False),
            ("Users", 'externalId eq "jyoung', False),
            ("Users", 'userName eq ab"c', False),
            ("Users", "eq jyoung", False),
            ("Users", "nope eq jyoung", False),
            ("Groups", "displayName eq", False),
            ("Groups", "displayName eq Team Two", False),
        )
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_malformed_quirky_body_or_filter_is_refused_and_changes_nothing(
    engine: Engine, client: TestClient, case: BadRequest
) -> None:
    w = make_world(engine, client, case.idp, case.sets)
    before = state(w)
    response = case.send(w)
    assert_rejected(engine, w, response, case.scim_type, case.mentions)
    assert_unchanged(w, before)


# ---- the profile boundary -----------------------------------------------------------------


def _patch_user(*ops: Op) -> Callable[[World], Any]:
    return lambda w: w.scim.patch(w.user_path(), list(ops))


def _patch_group(ops: Callable[[World], list[Op]]) -> Callable[[World], Any]:
    return lambda w: w.scim.patch(w.group_path(), ops(w))


def _manager_is_boss(ops: str) -> Callable[[World], Any]:
    return lambda w: w.scim.patch(w.user_path(), [{"op": ops, "path": MANAGER, "value": w.boss}])


OFF = ("okta", "generic")
BOUNDARY: list[Any] = [
    *(
        pytest.param(
            BadRequest(
                idp,
                _patch_user(_op("Replace", "active", value="False")),
                "invalidValue",
                ("active",),
            ),
            id=f"boolean_strings-path-{idp}",
        )
        for idp in OFF
    ),
    *(
        pytest.param(
            BadRequest(
                idp,
                _patch_user(_op("replace", value={"active": "False"})),
                "invalidValue",
                ("active",),
            ),
            id=f"boolean_strings-no-path-{idp}",
        )
        for idp in OFF
    ),
    *(
        pytest.param(
            BadRequest(idp, _post_user(active="True"), "invalidValue", ("active",)),
            id=f"boolean_strings-post-{idp}",
        )
        for idp in OFF
    ),
    pytest.param(
        BadRequest(
            "entra",
            _patch_user(_op("Replace", "active", value="False")),
            "invalidValue",
            ("active",),
            ("boolean_strings=false",),
        ),
        id="boolean_strings-entra-overridden-off",
    ),
    *(
        pytest.param(
            BadRequest(idp, _manager_is_boss("add"), "invalidValue", ("manager",)),
            id=f"manager_shapes-bare-string-{idp}",
        )
        for idp in OFF
    ),
    pytest.param(
        BadRequest(
            "okta",
            lambda w: w.scim.patch(
                w.user_path(), [{"op": "add", "path": MANAGER, "value": [{"value": w.boss}]}]
            ),
            "invalidValue",
            ("manager",),
        ),
        id="manager_shapes-one-element-list-okta",
    ),
    pytest.param(
        BadRequest(
            "generic",
            lambda w: w.scim.patch(
                w.user_path(), [{"op": "add", "path": "manager", "value": {"value": w.boss}}]
            ),
            "invalidPath",
            ("manager",),
        ),
        id="manager_shapes-path-without-urn-generic",
    ),
    pytest.param(
        BadRequest(
            "generic",
            _post_user(**{ENTERPRISE: {"manager": "boss-id"}}),
            "invalidValue",
            ("manager",),
        ),
        id="manager_shapes-post-bare-string-generic",
    ),
    *(
        pytest.param(
            BadRequest(
                idp,
                _patch_user(_op("replace", value={"displayName": "C", key: "v"})),
                "invalidPath",
                (key,),
            ),
            id=f"dotted_value_keys-{idp}-{key}",
        )
        for idp in OFF
        for key in ("name.givenName", f"{ENTERPRISE}:employeeNumber")
    ),
    *(
        pytest.param(
            BadRequest(
                idp,
                _patch_user(_op("replace", 'phoneNumbers[type eq "mobile"].value', value="+1 555")),
                "noTarget",
            ),
            id=f"upsert_filtered_values-{idp}",
        )
        for idp in OFF
    ),
    *(
        pytest.param(
            BadRequest(idp, _search("Users", "externalId eq jyoung", dot), "invalidFilter"),
            id=f"bare_filter_values-{idp}{'-.search' if dot else ''}",
        )
        for idp in OFF
        for dot in (False, True)
    ),
    *(
        pytest.param(
            BadRequest(idp, _post_group([GROUP_SCHEMA, MS_GROUP]), "invalidValue", (MS_GROUP,)),
            id=f"foreign_schema_uris-ms-group-{idp}",
        )
        for idp in OFF
    ),
    pytest.param(
        BadRequest(
            "okta",
            _post_user(schemas=[USER_SCHEMA, MISSPELT_ENTERPRISE]),
            "invalidValue",
            (MISSPELT_ENTERPRISE,),
        ),
        id="foreign_schema_uris-misspelt-enterprise-okta",
    ),
    pytest.param(
        BadRequest(
            "generic",
            lambda w: w.scim.put(
                w.group_path(),
                {"schemas": [GROUP_SCHEMA, MS_GROUP], "displayName": "Renamed"},
            ),
            "invalidValue",
            (MS_GROUP,),
        ),
        id="foreign_schema_uris-put-generic",
    ),
    pytest.param(
        BadRequest(
            "entra",
            _post_group([GROUP_SCHEMA, MS_GROUP]),
            "invalidValue",
            (MS_GROUP,),
            ("foreign_schema_uris=false",),
        ),
        id="foreign_schema_uris-entra-overridden-off",
    ),
    pytest.param(
        BadRequest(
            "okta",
            _patch_group(
                lambda w: [{"op": "replace", "value": {"id": w.group, "displayName": "N"}}]
            ),
            "mutability",
            ("id",),
            ("echoed_read_only=false",),
        ),
        id="echoed_read_only-okta-rename-overridden-off",
    ),
    pytest.param(
        BadRequest(
            "entra",
            _patch_group(
                lambda w: [{"op": "Remove", "path": "members", "value": [{"value": w.members[0]}]}]
            ),
            "invalidValue",
            ("members",),
            ("member_remove_values=false",),
        ),
        id="member_remove_values-entra-overridden-off",
    ),
    pytest.param(
        BadRequest(
            "okta",
            _patch_user(_op("Replace", "title", value="X")),
            "invalidSyntax",
            ("op",),
            ("op_case=false",),
        ),
        id="op_case-okta-overridden-off",
    ),
    pytest.param(
        BadRequest(
            "entra",
            lambda w: w.scim.http.patch(
                w.scim.base + w.user_path(),
                json={"schemas": [PATCH_OP], "operations": [_op("replace", "title", value="X")]},
                headers=w.scim.headers(),
            ),
            "invalidSyntax",
            ("Operations",),
            ("op_case=false",),
        ),
        id="op_case-operations-key-overridden-off",
    ),
]


@pytest.mark.parametrize("case", BOUNDARY)
def test_quirky_form_is_refused_where_the_profile_does_not_enable_it(
    engine: Engine, client: TestClient, case: BadRequest
) -> None:
    w = make_world(engine, client, case.idp, case.sets)
    before = state(w)
    response = case.send(w)
    assert_rejected(engine, w, response, case.scim_type, case.mentions)
    assert_unchanged(w, before)


# ---- never, in any form, does a remove meant for some members empty the group --------


@dataclass(frozen=True)
class RemoveForm:
    build: Callable[[list[str]], Op]  # from the group's member ids (and "stranger")
    named: Callable[[list[str]], set[str]]  # the ids the request names
    value_list: bool  # the member_remove_values form (refused when the quirk is off)


def _filter(ids: list[str]) -> str:
    return " or ".join(f'value eq "{i}"' for i in ids)


REMOVE_FORMS: dict[str, RemoveForm] = {
    "value-list-of-1": RemoveForm(
        lambda m: {"op": "Remove", "path": "members", "value": [{"value": m[0]}]},
        lambda m: {m[0]},
        True,
    ),
    "value-list-of-several": RemoveForm(
        lambda m: {"op": "remove", "path": "members", "value": [{"value": m[0]}, {"value": m[1]}]},
        lambda m: {m[0], m[1]},
        True,
    ),
    "value-list-ref-null": RemoveForm(
        lambda m: {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": m[1]}]},
        lambda m: {m[1]},
        True,
    ),
    "value-list-with-display": RemoveForm(
        lambda m: {
            "op": "remove",
            "path": "members",
            "value": [{"value": m[2], "display": "m2@x.org"}],
        },
        lambda m: {m[2]},
        True,
    ),
    "value-object-not-list": RemoveForm(
        lambda m: {"op": "remove", "path": "members", "value": {"value": m[0]}},
        lambda m: {m[0]},
        True,
    ),
    "value-list-capitalised-path": RemoveForm(
        lambda m: {"Op": "Remove", "Path": "Members", "Value": [{"value": m[0]}]},
        lambda m: {m[0]},
        True,
    ),
    "value-list-stranger-only": RemoveForm(
        lambda m: {"op": "remove", "path": "members", "value": [{"value": "stranger"}]},
        lambda m: set(),
        True,
    ),
    "value-list-member-and-stranger": RemoveForm(
        lambda m: {
            "op": "remove",
            "path": "members",
            "value": [{"value": "stranger"}, {"value": m[1]}],
        },
        lambda m: {m[1]},
        True,
    ),
    "value-list-duplicate": RemoveForm(
        lambda m: {"op": "remove", "path": "members", "value": [{"value": m[0]}, {"value": m[0]}]},
        lambda m: {m[0]},
        True,
    ),
    "value-list-of-all": RemoveForm(
        lambda m: {"op": "remove", "path": "members", "value": [{"value": i} for i in m]}, set, True
    ),
    "filter": RemoveForm(
        lambda m: {"op": "remove", "path": f"members[{_filter(m[:1])}]"}, lambda m: {m[0]}, False
    ),
    "filter-or": RemoveForm(
        lambda m: {"op": "Remove", "path": f"members[{_filter(m[:2])}]"},
        lambda m: {m[0], m[1]},
        False,
    ),
    "filter-stranger": RemoveForm(
        lambda m: {"op": "remove", "path": 'members[value eq "stranger"]'}, lambda m: set(), False
    ),
    "filter-type": RemoveForm(
        lambda m: {"op": "remove", "path": 'members[type eq "Group"]'}, lambda m: set(), False
    ),
    "no-value-removes-all": RemoveForm(lambda m: {"op": "remove", "path": "members"}, set, False),
}
ALL_NAMED = {"value-list-of-all", "no-value-removes-all"}

CONNECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "entra": ("entra", ()),
    "okta": ("okta", ()),
    "generic": ("generic", ()),
    "generic-override-off": ("generic", ("member_remove_values=false",)),
    "entra-override-off": ("entra", ("member_remove_values=false",)),
}


@pytest.mark.parametrize("form", list(REMOVE_FORMS))
@pytest.mark.parametrize("connection", list(CONNECTIONS))
def test_a_member_remove_never_empties_the_group_unless_all_are_named(
    engine: Engine, client: TestClient, connection: str, form: str
) -> None:
    idp, sets = CONNECTIONS[connection]
    spec = REMOVE_FORMS[form]
    w = make_world(engine, client, idp, sets)
    before = state(w)
    named = set(w.members) if form in ALL_NAMED else spec.named(w.members)
    response = w.scim.patch(w.group_path(), [spec.build(w.members)])
    after = state(w)
    if spec.value_list and sets:
        # The quirk is off: refused, and the group keeps every member.
        assert_rejected(engine, w, response, "invalidValue", ("members",))
        assert_unchanged(w, before)
        return
    assert response.status_code in (200, 204), response.text
    assert after.members == sorted(set(before.members) - named)
    if not set(before.members) <= named:
        assert after.members, f"{form} on {connection} emptied the group"
    assert after.user == before.user and after.totals == before.totals


def test_a_value_list_remove_larger_than_one_filter_chunk_removes_only_those(
    engine: Engine, client: TestClient
) -> None:
    scim = new_connection(engine, client, "entra")
    ids = [scim.create_user(f"u{i}@x.org")["id"] for i in range(112)]
    gid = scim.create_group("Big", ids)["id"]
    named = ids[:110]  # three rewritten removes (50 per value filter)
    response = scim.patch(
        f"/Groups/{gid}",
        [{"op": "Remove", "path": "members", "value": [{"value": i} for i in named]}],
    )
    assert response.status_code == 204, response.text
    left = sorted(m["value"] for m in scim.get(f"/Groups/{gid}").json().get("members", []))
    assert left == sorted(ids[110:])


def test_a_refused_value_list_remove_after_a_valid_one_keeps_every_member(
    engine: Engine, client: TestClient
) -> None:
    """Atomicity across the rewrite: the first (valid) value-list remove becomes member-row
    deletes; the second is refused; none of the deletes may survive."""
    w = make_world(engine, client, "entra")
    before = state(w)
    response = w.scim.patch(
        w.group_path(),
        [
            {"op": "Remove", "path": "members", "value": [{"value": w.members[0]}]},
            {"op": "Remove", "path": "members", "value": [{"value": w.members[1]}]},
            {"op": "Remove", "path": "members", "value": []},
        ],
    )
    assert_rejected(engine, w, response, "invalidValue", ("empty",))
    assert_unchanged(w, before)
    assert len(state(w).members) == 3


def test_member_value_sub_attribute_is_case_insensitive_in_patch_values(
    engine: Engine, client: TestClient
) -> None:
    """docs/compatibility.md: sub-attribute names match case-insensitively in bodies (RFC
    7643 §2.1), as POST /Groups already does for {"Value": …}; a capitalised Entra member
    add or value-list remove must do what its lower-case twin does, no more."""
    w = make_world(engine, client, "entra")
    add = w.scim.patch(
        w.group_path(), [{"op": "Add", "path": "members", "value": [{"Value": w.outsider}]}]
    )
    assert add.status_code == 204, add.text
    assert state(w).members == sorted([*w.members, w.outsider])
    remove = w.scim.patch(
        w.group_path(), [{"op": "Remove", "path": "members", "value": [{"Value": w.members[0]}]}]
    )
    assert remove.status_code == 204, remove.text
    assert state(w).members == sorted([*w.members[1:], w.outsider])
