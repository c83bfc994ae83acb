"""A small, timed SCIM client on top of httpx."""

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias
from urllib.parse import quote, urlencode, urlsplit

from bench.transport import TransportError, open_transport

SCIM_JSON: Final = "application/scim+json"
USER_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost"})

JsonObject: TypeAlias = dict[str, object]


class ScimError(RuntimeError):
    """A reply that breaks the contract the benchmark relies on."""


def check_loopback(base_url: str) -> None:
    """Refuse a base URL that does not point at this machine."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or parts.hostname not in LOOPBACK_HOSTS:
        raise ScimError(f"the benchmark only talks to 127.0.0.1, not to {base_url!r}")


@dataclass(frozen=True, slots=True)
class Reply:
    """One response and how long it took, from sending the request to reading the body."""

    method: str
    path: str
    status: int
    seconds: float
    content: bytes

    def json(self) -> JsonObject:
        """The body as a JSON object."""
        try:
            data: object = json.loads(self.content)
        except ValueError as error:
            raise ScimError(f"{self.describe()}: body is not JSON: {self.snippet()}") from error
        if not isinstance(data, dict):
            raise ScimError(f"{self.describe()}: body is not a JSON object: {self.snippet()}")
        return data

    def expect(self, *statuses: int) -> "Reply":
        """Return self when the status is one of ``statuses``, raise ScimError otherwise."""
        if self.status not in statuses:
            wanted = " or ".join(str(status) for status in statuses)
            raise ScimError(f"{self.describe()}: expected {wanted}, got {self.snippet()}")
        return self

    def describe(self) -> str:
        """The request, for error messages."""
        return f"{self.method} {self.path}"

    def snippet(self) -> str:
        """The status and the start of the body, for error messages."""
        body = self.content[:400].decode("utf-8", "replace")
        return f"HTTP {self.status} {body}"


class ScimClient:
    """One keep-alive connection to a SCIM service; not shared between threads."""

    def __init__(
        self, base_url: str, token: str | None, timeout: float, client: str = "httpx"
    ) -> None:
        check_loopback(base_url)
        headers = {"Accept": SCIM_JSON, "Content-Type": SCIM_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._transport = open_transport(client, base_url, headers, timeout)

    def close(self) -> None:
        """Close the connection."""
        self._transport.close()

    def __enter__(self) -> "ScimClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
    ) -> Reply:
        """Send one request and time it; the body is encoded before the clock starts."""
        content = json.dumps(body).encode() if body is not None else None
        target = f"{path}?{urlencode(params, quote_via=quote)}" if params else path
        started = time.perf_counter()
        try:
            status, data = self._transport.send(method, target, content)
        except TransportError as error:
            raise ScimError(f"{method} {target}: no response: {error}") from error
        seconds = time.perf_counter() - started
        return Reply(method, target, status, seconds, data)

    def create(self, endpoint: str, body: JsonObject) -> Reply:
        """POST a resource; expects 201."""
        return self.request("POST", endpoint, body=body).expect(201)

    def find_user(self, user_name: str) -> Reply:
        """GET /Users filtered on one userName; expects 200."""
        params = {"filter": f'userName eq "{user_name}"'}
        return self.request("GET", "Users", params=params).expect(200)

    def patch(
        self,
        path: str,
        operations: list[JsonObject],
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """PATCH a resource; expects 200 as the contract says, or 204 (RFC 7644 allows it)."""
        body: JsonObject = {"schemas": [PATCH_SCHEMA], "Operations": operations}
        return self.request("PATCH", path, params=params, body=body).expect(200, 204)

    def page(self, endpoint: str, start_index: int, count: int) -> Reply:
        """GET one page of a list; expects 200."""
        params = {"startIndex": start_index, "count": count}
        return self.request("GET", endpoint, params=params).expect(200)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to connect: every thread opens its own ScimClient from it."""

    base_url: str
    token: str | None
    timeout: float
    client: str = "httpx"

    def connect(self) -> ScimClient:
        """A new connection."""
        return ScimClient(self.base_url, self.token, self.timeout, self.client)


def get_str(data: JsonObject, key: str, reply: Reply) -> str:
    """``data[key]`` as a string, or ScimError naming the reply."""
    value = data.get(key)
    if not isinstance(value, str):
        raise ScimError(f"{reply.describe()}: {key!r} missing or not a string: {reply.snippet()}")
    return value


def get_int(data: JsonObject, key: str, reply: Reply) -> int:
    """``data[key]`` as an integer, or ScimError naming the reply."""
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScimError(f"{reply.describe()}: {key!r} missing or not an integer: {reply.snippet()}")
    return value


def get_resources(data: JsonObject, reply: Reply) -> list[JsonObject]:
    """The ``Resources`` of a ListResponse; an absent key means an empty page."""
    value = data.get("Resources", [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ScimError(f"{reply.describe()}: 'Resources' is not a list of objects")
    return [item for item in value if isinstance(item, dict)]


def total_results(client: ScimClient, endpoint: str) -> int:
    """How many resources ``endpoint`` holds, from a one-item page."""
    reply = client.page(endpoint, 1, 1)
    return get_int(reply.json(), "totalResults", reply)
