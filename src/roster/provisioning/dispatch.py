"""Routing of one SCIM operation (method + path under a connection's base URL) to actions.

Shared by ordinary requests and the operations of a Bulk request, so both behave alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from roster.directory.journal.system_log import Outcome
from roster.directory.settings.context import ConnectionContext
from roster.errors import InvalidSyntax, MethodNotAllowed, NotFound, NotSupported, RosterError
from roster.provisioning import resources as actions
from roster.scim import dialects, discovery, document, limits
from roster.scim.messages import list_response
from roster.scim.schema import RESOURCE_TYPES, ResourceType
from roster.scim.search import SearchQuery, check_search_body, parse_search, split_list
from roster.settings import Settings


@dataclass(frozen=True)
class Operation:
    method: str
    segments: list[str]
    query: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Any = None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=lambda: Outcome(200))


_ENDPOINTS = {rt.endpoint.lower(): rt for rt in RESOURCE_TYPES.values()}
ALLOWED = {
    "collection": ("GET", "POST"),
    "search": ("POST",),
    "item": ("GET", "PUT", "PATCH", "DELETE"),
    "discovery": ("GET",),
    "bulk": ("POST",),
}


# /serviceConfiguration: the alias Microsoft's SCIM reference server (AzureAD/SCIMReferenceCode)
# serves, which its Postman test collection for Entra ID reads; answered alike.
_CONFIG_PATHS = (["serviceproviderconfig"], ["serviceconfiguration"])


def route_kind(segments: list[str]) -> tuple[str, ResourceType | None]:
    """Classify a path under the base URL; raises 404 for paths we do not serve."""
    lowered = [s.lower() for s in segments]
    if len(lowered) in (1, 2) and lowered[0] in _ENDPOINTS:
        rt = _ENDPOINTS[lowered[0]]
        if len(lowered) == 1:
            return "collection", rt
        return ("search", rt) if lowered[1] == ".search" else ("item", rt)
    discovery_path = lowered[:1] in (["resourcetypes"], ["schemas"], *_CONFIG_PATHS)
    if discovery_path and (
        len(lowered) == 1 or (len(lowered) == 2 and lowered[:1] not in _CONFIG_PATHS)
    ):
        return "discovery", None
    if lowered[:1] == ["me"]:
        # RFC 7644 §3.11: a server that does not support /Me answers 501.
        raise NotSupported("/Me is not supported: Roster's clients are IdP connections, not users")
    if lowered == ["bulk"]:
        return "bulk", None
    if lowered == [".search"]:
        return "search", None
    raise NotFound(f"no such endpoint: /{'/'.join(segments)}")


def check_method(kind: str, method: str) -> None:
    if method not in ALLOWED[kind]:
        raise MethodNotAllowed(f"{method} is not allowed here; use {', '.join(ALLOWED[kind])}")


def _params(op: Operation) -> tuple[list[str], list[str]]:
    q = {k.lower(): v for k, v in op.query.items()}
    return split_list(q.get("attributes")), split_list(q.get("excludedattributes"))


def _dialect_params(ctx: ConnectionContext, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Search parameters with the filter text in RFC form (dialects.normalise_filter)."""
    email = ctx.settings.unique_identifier == "email"
    profile = ctx.profile
    if not (email or profile.on("bare_filter_values") or profile.on("manager_shapes")):
        return params
    return {
        k: dialects.normalise_filter(profile, v, email_identifier=email)
        if k.lower() == "filter" and isinstance(v, str)
        else v
        for k, v in params.items()
    }


def _one(result: actions.Result, rt: ResourceType, op: Operation, status: int) -> Reply:
    attributes, excluded = _params(op)
    body = document.project(rt, result.body, attributes, excluded)
    headers = {"ETag": result.etag, "Location": result.body["meta"]["location"]}
    return Reply(status, body, headers, _outcome(status, rt, result))


def _outcome(status: int, rt: ResourceType, result: actions.Result) -> Outcome:
    """A write's log entry; it carries the write's warnings (group members skipped, a
    user kept out of the directory)."""
    detail = "; ".join(result.warnings) or None
    return Outcome(status, rt.name, result.stored.id, None, detail)


def _list(
    conn: Connection,
    ctx: ConnectionContext,
    rt: ResourceType,
    params: Mapping[str, Any],
    settings: Settings,
) -> Reply:
    query = parse_search(
        rt, params, default_count=settings.default_page_size, max_count=settings.max_page_size
    )
    total, results = actions.search(conn, ctx, rt, query, max_sorted=settings.max_sorted_results)
    page = [document.project(rt, r.body, query.attributes, query.excluded) for r in results]
    body = list_response(page, total=total, start_index=query.start_index)
    return Reply(200, body, {}, Outcome(200, rt.name))


def _root_search(
    conn: Connection, ctx: ConnectionContext, params: Mapping[str, Any], settings: Settings
) -> Reply:
    """POST /.search (RFC 7644 §3.4.3): Users, then Groups, paged as one list.

    A filter naming an attribute one type lacks simply matches none of that type; it is
    an error only when it fits no type at all.
    """
    queries: list[tuple[ResourceType, SearchQuery]] = []
    first_error: RosterError | None = None
    for rt in RESOURCE_TYPES.values():
        try:
            queries.append(
                (
                    rt,
                    parse_search(
                        rt,
                        params,
                        default_count=settings.default_page_size,
                        max_count=settings.max_page_size,
                    ),
                )
            )
        except RosterError as err:
            first_error = first_error or err
    if not queries:
        assert first_error is not None
        raise first_error
    offset = queries[0][1].start_index - 1
    remaining = queries[0][1].count
    total = 0
    page: list[dict[str, Any]] = []
    for rt, query in queries:
        count_only = replace(query, count=0)
        type_total, _ = actions.search(conn, ctx, rt, count_only)
        total += type_total
        if remaining <= 0 or offset >= type_total:
            offset = max(0, offset - type_total)
            continue
        window = replace(query, start_index=offset + 1, count=min(remaining, type_total - offset))
        _, results = actions.search(conn, ctx, rt, window, max_sorted=settings.max_sorted_results)
        page.extend(document.project(rt, r.body, query.attributes, query.excluded) for r in results)
        remaining -= len(results)
        offset = 0
    body = list_response(page, total=total, start_index=queries[0][1].start_index)
    return Reply(200, body, {}, Outcome(200))


def _discovery(ctx: ConnectionContext, segments: list[str], settings: Settings) -> Reply:
    what = segments[0].lower()
    base = ctx.base_url
    if [what] in _CONFIG_PATHS:
        return Reply(
            200,
            discovery.service_provider_config(
                base,
                max_results=settings.max_page_size,
                bulk_max_operations=settings.bulk_max_operations,
                bulk_max_payload=settings.bulk_max_payload_bytes,
            ),
        )
    if len(segments) == 2:
        found = (
            discovery.resource_type(base, segments[1])
            if what == "resourcetypes"
            else discovery.schema(base, segments[1])
        )
        if found is None:
            raise NotFound(
                f"no such {'resource type' if what == 'resourcetypes' else 'schema'}: {segments[1]}"
            )
        return Reply(200, found)
    items = discovery.resource_types(base) if what == "resourcetypes" else discovery.schemas(base)
    return Reply(200, list_response(items))


def _groups_off(ctx: ConnectionContext, rt: ResourceType, op: Operation) -> Reply:
    """Group provisioning is off: writes are acknowledged and change nothing; the log
    entry of the request says so."""
    resource_id = op.segments[1] if len(op.segments) > 1 else None
    if op.method in ("POST", "PUT"):
        body = dialects.normalise_resource(ctx.profile, rt, op.body)
        doc = actions.acknowledged_group(ctx, body, resource_id)
        status = 201 if op.method == "POST" else 200
        headers = {"Location": doc["meta"]["location"]}
        return Reply(
            status, doc, headers, Outcome(status, rt.name, doc["id"], None, actions.GROUPS_OFF)
        )
    if op.method == "PATCH":
        body = dialects.normalise_patch(ctx.profile, rt, op.body, resource_id or "")
        actions.acknowledged_patch(rt, body)
    return Reply(204, None, {}, Outcome(204, rt.name, resource_id, None, actions.GROUPS_OFF))


def check_url(op: Operation) -> None:
    """No NUL in a path segment or query parameter (scim/limits.py): 400, not a 500 from
    PostgreSQL, which cannot compare text holding one."""
    for segment in op.segments:
        limits.check_text("the path", segment)
    for name, value in op.query.items():
        limits.check_text("a query parameter name", str(name))
        limits.check_text(f"query parameter {name!r}", str(value))


def execute(conn: Connection, ctx: ConnectionContext, op: Operation, settings: Settings) -> Reply:
    """Run one operation inside ``conn``'s transaction (Bulk is handled by the caller)."""
    check_url(op)
    kind, rt = route_kind(op.segments)
    check_method(kind, op.method)
    if kind == "discovery":
        return _discovery(ctx, op.segments, settings)
    if kind == "bulk":
        raise InvalidSyntax("Bulk operations cannot nest")
    headers = {k.lower(): v for k, v in op.headers.items()}
    attributes, excluded = _params(op)
    if kind == "search":
        params = _dialect_params(ctx, check_search_body(op.body))
        if rt is None:
            return _root_search(conn, ctx, params, settings)
        return _list(conn, ctx, rt, params, settings)
    assert rt is not None
    if rt.name == "Group" and op.method != "GET" and not ctx.settings.group_provisioning:
        return _groups_off(ctx, rt, op)
    if kind == "collection":
        if op.method == "GET":
            return _list(conn, ctx, rt, _dialect_params(ctx, op.query), settings)
        body = dialects.normalise_resource(ctx.profile, rt, op.body)
        return _one(actions.create(conn, ctx, rt, body), rt, op, 201)
    resource_id = op.segments[1]
    match op.method:
        case "GET":
            result = actions.read(
                conn, ctx, rt, resource_id, attributes, excluded, headers.get("if-none-match")
            )
            return _one(result, rt, op, 200)
        case "PUT":
            body = dialects.normalise_resource(ctx.profile, rt, op.body)
            return _one(
                actions.replace(conn, ctx, rt, resource_id, body, headers.get("if-match")),
                rt,
                op,
                200,
            )
        case "PATCH":
            body = dialects.normalise_patch(ctx.profile, rt, op.body, resource_id)
            if ctx.profile.patch_answer(rt) == dialects.NO_CONTENT:
                # RFC 7644 §3.5.2 allows 204; nothing is rendered, so a member change
                # costs the same in any group size.
                result = actions.patch(
                    conn,
                    ctx,
                    rt,
                    resource_id,
                    body,
                    headers.get("if-match"),
                    [],
                    ["members", "groups"],
                )
                headers = {"ETag": result.etag, "Location": result.body["meta"]["location"]}
                return Reply(204, None, headers, _outcome(204, rt, result))
            result = actions.patch(
                conn, ctx, rt, resource_id, body, headers.get("if-match"), attributes, excluded
            )
            return _one(result, rt, op, 200)
    stored = actions.delete(conn, ctx, rt, resource_id, headers.get("if-match"))
    return Reply(204, None, {}, Outcome(204, rt.name, stored.id))
