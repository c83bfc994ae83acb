"""/metrics: requests and latency by IdP kind, route template and status; SCIM rejections
by scimType. Labels carry templates, never ids."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from roster.http.access import route_template, scim_route
from tests.conftest import USER_SCHEMA, new_connection
from tests.scrape import samples, value

USERS = "/scim/v2/{tenant}/{connection}/Users"
USER = "/scim/v2/{tenant}/{connection}/Users/{id}"


def test_a_scrape_counts_requests_latency_and_rejections(
    engine: Engine, client: TestClient
) -> None:
    okta = new_connection(engine, client, "okta")
    before = client.get("/metrics").text

    user = okta.create_user("ann@example.test")
    assert okta.get(f"/Users/{user['id']}").status_code == 200
    assert okta.get("/Users", params={"filter": 'userName eq "unclosed'}).status_code == 400
    duplicate = okta.post("/Users", {"schemas": [USER_SCHEMA], "userName": "ann@example.test"})
    assert duplicate.status_code == 409
    assert okta.get("/Users/no-such-user").status_code == 404

    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    after = scrape.text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "roster_http_requests_total"
    assert delta(requests, idp="okta", route=USERS, method="POST", status="201") == 1
    assert delta(requests, idp="okta", route=USERS, method="POST", status="409") == 1
    assert delta(requests, idp="okta", route=USERS, method="GET", status="400") == 1
    assert delta(requests, idp="okta", route=USER, method="GET", status="200") == 1
    assert delta(requests, idp="okta", route=USER, method="GET", status="404") == 1
    latency = "roster_http_request_duration_seconds_count"
    assert delta(latency, idp="okta", route=USER, method="GET") == 2
    assert delta("roster_http_request_duration_seconds_sum", idp="okta", route=USERS) > 0
    rejections = "roster_scim_rejections_total"
    assert delta(rejections, idp="okta", scim_type="invalidFilter", status="400") == 1
    assert delta(rejections, idp="okta", scim_type="uniqueness", status="409") == 1
    assert delta(rejections, idp="okta", scim_type="none", status="404") == 1

    # No id, slug or raw path in any label: the series stay bounded.
    values = {v for name, labels, _ in samples(after) for v in labels.values()}
    for secret in (okta.connection_id, user["id"], okta.tenant, "no-such-user"):
        assert not any(secret in v for v in values), secret


def test_requests_outside_a_connection(client: TestClient) -> None:
    before = client.get("/metrics").text
    client.get("/scim/v2/nobody/nothing/Users")  # unknown base URL: 401, like a bad token
    client.get("/api/v1/employees")  # no API key: 401
    client.get("/no/such/path")
    after = client.get("/metrics").text
    requests = "roster_http_requests_total"

    def delta(**labels: str) -> float:
        return value(after, requests, **labels) - value(before, requests, **labels)

    assert delta(idp="unknown", route=USERS, status="401") == 1
    assert delta(idp="none", route="/api/v1/employees", status="401") == 1
    assert delta(idp="unknown", route="{unmatched}", status="404") == 1
    assert delta(idp="none", route="/metrics", status="200") == 1  # the first scrape


def test_route_templates_name_no_ids() -> None:
    assert scim_route("") == ""
    assert scim_route("users") == "/Users"
    assert scim_route("Users/2819c223") == "/Users/{id}"
    assert scim_route("Groups/.search") == "/Groups/.search"
    assert scim_route(".search") == "/.search"
    assert scim_route("Schemas/urn:ietf:params:scim:schemas:core:2.0:User") == "/Schemas/{id}"
    assert scim_route("ResourceTypes/User") == "/ResourceTypes/{name}"
    assert scim_route("Bulk") == "/Bulk"
    assert scim_route("ServiceProviderConfig/x") == "/ServiceProviderConfig/{unknown}"
    assert scim_route("Users/1/2") == "/Users/{unknown}"
    assert scim_route("anything-else/at/all") == "/{unknown}"
    assert route_template({}) == "{unmatched}"
