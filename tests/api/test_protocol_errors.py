"""Errors over HTTP (RFC 7644 §3.12), media types and discovery (RFC 7644 §4)."""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import ENTERPRISE, Scim

ENVOY = "urn:scim:schemas:extension:envoy:core:1.0:User"


def test_malformed_json_is_invalid_syntax(scim: Scim) -> None:
    response = scim.http.post(
        scim.base + "/Users", content=b'{"userName": ', headers=scim.headers()
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_body_over_limit_is_413_and_writes_nothing(scim: Scim) -> None:
    big = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "big",
        "title": "x" * 1_100_000,
    }
    response = scim.post("/Users", big)
    assert response.status_code == 413
    assert response.json()["status"] == "413"
    assert scim.get("/Users").json()["totalResults"] == 0


def test_unknown_routes_and_ids_are_404_with_scim_body(scim: Scim) -> None:
    for path in (
        "/Nope",
        "/Users/missing",
        "/Groups/missing",
        "/Schemas/urn:nope",
        "/ResourceTypes/Nope",
    ):
        response = scim.get(path)
        assert response.status_code == 404, path
        assert response.json()["status"] == "404"
    response = scim.http.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["status"] == "404"


def test_wrong_method_is_405(scim: Scim) -> None:
    response = scim.http.delete(scim.base + "/Users", headers=scim.headers())
    assert response.status_code == 405
    assert response.json()["status"] == "405"
    assert "GET" in response.headers["Allow"]
    assert (
        scim.http.put(
            scim.base + "/ServiceProviderConfig", headers=scim.headers(), json={}
        ).status_code
        == 405
    )


def test_both_json_media_types_accepted_and_scim_json_returned(scim: Scim) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "plainjson",
        "emails": [{"value": "plainjson@example.test"}],
    }
    headers = {**scim.headers(), "Content-Type": "application/json; charset=utf-8"}
    response = scim.http.post(scim.base + "/Users", json=body, headers=headers)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/scim+json"
    headers["Content-Type"] = "text/plain"
    response = scim.http.post(
        scim.base + "/Users",
        json={**body, "userName": "p2", "emails": [{"value": "p2@example.test"}]},
        headers=headers,
    )
    assert response.status_code == 415


def test_service_provider_config(scim: Scim) -> None:
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["patch"]["supported"] and spc["filter"]["supported"] and spc["etag"]["supported"]
    assert spc["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_service_configuration_is_an_alias_of_service_provider_config(scim: Scim) -> None:
    # Microsoft's reference server serves /serviceConfiguration, and its Postman test
    # collection for Entra ID reads it; any letter case, like every SCIM endpoint name.
    expected = scim.get("/ServiceProviderConfig")
    for path in ("/serviceConfiguration", "/ServiceConfiguration"):
        response = scim.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/scim+json"
        assert response.json() == expected.json()
    assert scim.get("/serviceConfiguration/x").status_code == 404
    assert scim.post("/serviceConfiguration", {}).status_code == 405


def test_schemas_and_resource_types(scim: Scim) -> None:
    listing = scim.get("/Schemas").json()
    ids = {s["id"] for s in listing["Resources"]}
    assert {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        ENTERPRISE,
        ENVOY,
    } <= ids
    envoy = scim.get(f"/Schemas/{ENVOY}").json()
    names = {a["name"]: a for a in envoy["attributes"]}
    assert set(names) == {"defaultLocationName", "remoteStatus", "assistants"}
    assert names["assistants"]["multiValued"] is True
    user = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    password = next(a for a in user["attributes"] if a["name"] == "password")
    assert (password["returned"], password["mutability"]) == ("never", "writeOnly")
    rts = scim.get("/ResourceTypes").json()
    assert rts["totalResults"] == 2
    user_rt = scim.get("/ResourceTypes/User").json()
    assert {e["schema"] for e in user_rt["schemaExtensions"]} == {ENTERPRISE, ENVOY}
    assert user_rt["endpoint"] == "/Users"


def test_envoy_extension_round_trips(scim: Scim) -> None:
    user = scim.create_user(
        "envoy",
        **{
            ENVOY: {
                "defaultLocationName": "HQ",
                "remoteStatus": "Remote",
                "assistants": ["a@x.org", "b@x.org"],
            }
        },
    )
    assert user[ENVOY]["assistants"] == ["a@x.org", "b@x.org"]
    found = scim.get("/Users", params={"filter": f'{ENVOY}:assistants eq "B@x.org"'}).json()
    assert found["totalResults"] == 1


def test_other_protocol_versions_are_invalid_vers(scim: Scim) -> None:
    response = scim.http.get(scim.base.replace("/v2/", "/v1/") + "/Users", headers=scim.headers())
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidVers"


def test_chunked_body_over_limit_is_refused_without_buffering_it(scim: Scim) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"userName": "c", "title": "'
        for _ in range(1200):
            yield b"x" * 1024
        yield b'"}'

    response = scim.http.post(scim.base + "/Users", content=chunks(), headers=scim.headers())
    assert response.status_code == 413
    assert scim.get("/Users").json()["totalResults"] == 0


def test_me_is_not_supported(scim: Scim) -> None:
    response = scim.get("/Me")
    assert response.status_code == 501
    assert response.json()["status"] == "501"


def test_401_does_not_reveal_whether_the_base_url_exists(scim: Scim) -> None:
    unknown = scim.base.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    answers = [
        scim.http.get(unknown + "/Users", headers={"Authorization": "Bearer x"}),
        scim.http.get(scim.base + "/Users", headers={"Authorization": "Bearer x"}),
        scim.http.get(scim.base + "/Users"),
    ]
    assert {r.status_code for r in answers} == {401}
    assert len({r.json()["detail"] for r in answers}) == 1
    assert answers[2].headers["WWW-Authenticate"] == 'Bearer realm="roster"'
    assert 'error="invalid_token"' in answers[1].headers["WWW-Authenticate"]
