"""The OpenAPI 3.1 document of the read API (http/api.py), written by hand: it is the
contract the host app codes against, and tests check every route is in it and every
response conforms to it."""

from __future__ import annotations

from typing import Any

from roster import __version__
from roster.directory.journal.events import TYPES as EVENT_TYPES
from roster.directory.people.employees import MANUAL_FIELDS
from roster.rules.roles import COMPANY_ROLES, LOCATION_ROLES

Json = dict[str, Any]


def _nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


_STR = {"type": "string"}
_NSTR = _nullable(_STR)

# The employee's text fields: the ones an admin can set on a manual employee.
_TEXT_FIELDS = MANUAL_FIELDS

_TIME = {"type": "string", "format": "date-time"}
# What a rule's grant says: access groups, locations and the mobile key alike.
_GRANT: Json = {
    "status": {"enum": ["active", "revoked"]},
    "source": {"enum": ["rule"]},
    "rule": _nullable(_ref("RuleRef")),
    "reason": _NSTR,
    "grantedAt": _TIME,
    "revokedAt": _nullable(_TIME),
}

SCHEMAS: Json = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "detail"],
                "properties": {
                    "status": {"type": "integer"},
                    # Stable and machine-readable (src/roster/errors.py lists them all).
                    "code": _STR,
                    "detail": _STR,
                    "attribute": _STR,
                },
            }
        },
    },
    "PersonRef": {
        "type": "object",
        "required": ["id", "email", "displayName"],
        "properties": {"id": _STR, "email": _STR, "displayName": _NSTR},
    },
    "Reference": {
        "description": "A manager or assistant as the IdP sent it; `employee` once resolved "
        "to an employee synced by this tenant, null while it waits for that person.",
        "type": "object",
        "required": ["value", "resolved", "employee"],
        "properties": {
            "value": _STR,
            "resolved": {"type": "boolean"},
            "employee": _nullable(_ref("PersonRef")),
        },
    },
    "LocationRef": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": _STR, "name": _STR},
    },
    "RuleRef": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": _STR, "name": _STR},
    },
    "Role": {
        "description": "A role the employee holds: at most one company role and one location "
        "role per location. `source`: `manual` (an admin), `group` (a pushed group mapped to "
        "the role; `origin` is the group's current name, following renames) or `rule` (the "
        "rule that fired; `origin` is its name). `shadowed`: a synced role the manual one "
        "outranks (the manual role stays in force until a synced role ranks higher).",
        "type": "object",
        "required": ["role", "scope", "location", "source", "origin", "shadowed"],
        "properties": {
            "role": {"enum": [*LOCATION_ROLES, *COMPANY_ROLES]},
            "scope": {"enum": ["location", "company"]},
            "location": _nullable(_ref("LocationRef")),
            "source": {"enum": ["manual", "group", "rule"]},
            "origin": _NSTR,
            "shadowed": _nullable({"enum": [*LOCATION_ROLES, *COMPANY_ROLES]}),
        },
    },
    "NamedGrant": {
        "description": "An access group or location granted by a rule. A grant the "
        "employee no longer earns is revoked, not deleted: `status` is `revoked` and "
        "`reason` says why. `rule` is the rule that granted it (null once it is removed).",
        "type": "object",
        "required": ["id", "name", *_GRANT],
        "properties": {"id": _STR, "name": _STR, **_GRANT},
    },
    "MobileKey": {
        "description": "Whether a rule issued the employee a mobile key: `none` (never; "
        "every other field null), `active`, or `revoked` (with the reason).",
        "type": "object",
        "required": list(_GRANT),
        "properties": {
            **_GRANT,
            "status": {"enum": ["active", "revoked", "none"]},
            "source": _nullable({"enum": ["rule"]}),
            "grantedAt": _nullable(_TIME),
        },
    },
    "Employee": {
        "type": "object",
        "required": [
            "id",
            "email",
            "status",
            *_TEXT_FIELDS,
            "remoteStatus",
            "primaryLocation",
            "manager",
            "assistants",
            "locations",
            "groups",
            "roles",
            "accessGroups",
            "locationAccess",
            "mobileKey",
            "customFields",
            "source",
            "createdAt",
            "updatedAt",
        ],
        "properties": {
            "id": _STR,
            "email": {"type": "string", "description": "Primary email: the tenant-wide key"},
            "status": {"enum": ["active", "inactive"]},
            **{name: _NSTR for name in _TEXT_FIELDS},
            "remoteStatus": _nullable({"enum": ["Remote", "In person"]}),
            "primaryLocation": _nullable(
                {
                    "type": "object",
                    "description": "Envoy's defaultLocationName, for analytics only",
                    "required": ["value", "location"],
                    "properties": {"value": _STR, "location": _nullable(_ref("LocationRef"))},
                }
            ),
            "manager": _nullable(_ref("Reference")),
            "assistants": {"type": "array", "items": _ref("Reference")},
            "locations": {
                "description": "Directory placement: the locations the employee belongs to "
                "(by location sync or set by an admin). Access to a location granted by a "
                "rule is `locationAccess`.",
                "type": "array",
                "items": _ref("LocationRef"),
            },
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "displayName", "connection"],
                    "properties": {"id": _STR, "displayName": _STR, "connection": _STR},
                },
            },
            "roles": {
                "description": "Roles held: the company role first, then location roles "
                "by location name",
                "type": "array",
                "items": _ref("Role"),
            },
            "accessGroups": {
                "description": "Access groups granted by rules, active and revoked",
                "type": "array",
                "items": _ref("NamedGrant"),
            },
            "locationAccess": {
                "description": "Locations a rule grants access to, active and revoked (not "
                "the same as `locations`, the directory placement)",
                "type": "array",
                "items": _ref("NamedGrant"),
            },
            "mobileKey": _ref("MobileKey"),
            "customFields": {"type": "object"},
            "source": {
                "type": "object",
                "required": ["type", "connection"],
                "properties": {
                    "type": {"enum": ["synced", "manual"]},
                    "connection": _nullable(
                        {
                            "type": "object",
                            "required": ["id", "name", "idp", "status"],
                            "properties": {
                                "id": _STR,
                                "name": _STR,
                                "idp": _STR,
                                "status": _STR,
                            },
                        }
                    ),
                    "scimUserId": _NSTR,
                    "userName": {
                        **_NSTR,
                        "description": "The SCIM userName, as the IdP sent it",
                    },
                },
            },
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
        },
    },
    "EmployeePage": {
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Employee")},
            "nextCursor": _NSTR,
        },
    },
    "Group": {
        "type": "object",
        "required": ["id", "displayName", "connection", "members"],
        "properties": {
            "id": _STR,
            "displayName": _STR,
            "connection": _NSTR,
            "members": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "email", "status"],
                    "properties": {
                        "id": _STR,
                        "email": _STR,
                        "status": {"enum": ["active", "inactive"]},
                    },
                },
            },
        },
    },
    "GroupPage": {
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {"items": {"type": "array", "items": _ref("Group")}, "nextCursor": _NSTR},
    },
    "Location": {
        "type": "object",
        "required": ["id", "name", "cities", "locales", "employeeCount"],
        "properties": {
            "id": _STR,
            "name": _STR,
            "cities": {"type": "array", "items": _STR},
            "locales": {"type": "array", "items": _STR},
            "employeeCount": {"type": "integer"},
        },
    },
    "LocationList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Location")}},
    },
    "Event": {
        "type": "object",
        "description": "One change, recorded in the transaction that made it. The types and "
        "their `data` are documented in docs/events.md.",
        "required": [
            "id",
            "type",
            "connection",
            "resource",
            "actor",
            "correlationId",
            "at",
            "data",
        ],
        "properties": {
            "id": {**_STR, "description": "Stable public id of the event (deduplicate by it)"},
            "type": {"enum": list(EVENT_TYPES)},
            "connection": {**_NSTR, "description": "The SCIM connection it concerns, if any"},
            "resource": {
                "type": "object",
                "required": ["type", "id"],
                "properties": {"type": {"enum": ["Employee", "Group", "Connection"]}, "id": _STR},
            },
            "actor": {
                **_STR,
                "description": "`connection:<id>` (an IdP's SCIM request), `admin` (a command) or "
                "`rules` (what the rules granted or revoked)",
            },
            "correlationId": {
                **_STR,
                "description": "The request or command that caused it (`roster log --request`)",
            },
            "at": {**_TIME, "description": "When the change recorded it"},
            "data": {
                "type": "object",
                "description": "The resource's state after the change, or a tombstone",
            },
        },
    },
    "EventPage": {
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Event")},
            "nextCursor": {
                **_NSTR,
                "description": "Pass as `after` to get the events after this page; null "
                "only when the feed is empty and no `after` was given. An empty page "
                "returns the `after` it was given: poll again with it.",
            },
        },
    },
}


def _param(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _STR,
    }


_PAGING = [
    _param(
        "cursor",
        "The nextCursor of the previous page (pages run oldest first: by creation time, then id)",
    ),
    _param("limit", "Page size (1-1000, default 100)", {"type": "integer"}),
]


# Every error under /api/v1 has the one Error shape, as application/json. Named once here
# and referenced by each operation, so the document lists every status a route can return.
RESPONSES: Json = {
    name: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
    for name, text in (
        (
            "BadRequest",
            "A query parameter is invalid, unknown to the route, or given twice; or the URL "
            "holds a NUL character (the detail names the parameter)",
        ),
        ("Unauthorized", "Missing, invalid or revoked API key"),
        ("NotFound", "No such employee in the API key's tenant, or no such endpoint"),
        (
            "Gone",
            "The cursor is older than the event retention (ROSTER_EVENTS_RETENTION_DAYS): "
            "resync from GET /employees and follow the feed from a new cursor",
        ),
        (
            "MethodNotAllowed",
            "Any method but GET (or HEAD) on any path of the API; the Allow header "
            "lists the methods allowed",
        ),
        ("InternalError", "An unexpected error; the detail is opaque, the server log has more"),
    )
}
_BY_STATUS = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    410: "Gone",
    405: "MethodNotAllowed",
    500: "InternalError",
}


def _responses(schema: str, *errors: int) -> Json:
    """200 with ``schema``; the ``errors`` the operation has besides the 401 and 500 any
    authenticated read can answer."""
    out: Json = {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref(schema)}}}
    }
    for status in sorted({*errors, 401, 500}):
        out[str(status)] = {"$ref": f"#/components/responses/{_BY_STATUS[status]}"}
    return out


PATHS: Json = {
    "/employees": {
        "get": {
            "operationId": "listEmployees",
            "summary": "List employees (cursor pagination, oldest first)",
            "description": "400 for an invalid filter, limit or cursor, for a location "
            "filter that names no location of the tenant (see GET /locations), and for a "
            "query parameter this operation does not take (a misspelt filter is refused, "
            "never ignored).",
            "parameters": [
                _param("status", "active or inactive", {"enum": ["active", "inactive"]}),
                _param(
                    "email",
                    "The employee with this primary email (exact, case-insensitive): "
                    "a page of one employee, or of none",
                ),
                _param("location", "A location id or name: its members"),
                _param("source", "manual, synced, or a SCIM connection id"),
                _param("updated_since", "ISO 8601 time: employees changed at or after it"),
                *_PAGING,
            ],
            "responses": _responses("EmployeePage", 400),
        }
    },
    "/employees/{employee_id}": {
        "get": {
            "operationId": "getEmployee",
            "summary": "One employee, with manager, assistants, locations, groups, source, "
            "roles, access groups, location access and mobile key",
            "description": "400 for any query parameter (this operation takes none).",
            "parameters": [{"name": "employee_id", "in": "path", "required": True, "schema": _STR}],
            "responses": _responses("Employee", 400, 404),
        }
    },
    "/groups": {
        "get": {
            "operationId": "listGroups",
            "summary": "Groups pushed by the tenant's IdPs, with their employee members",
            "parameters": _PAGING,
            "responses": _responses("GroupPage", 400),
        }
    },
    "/locations": {
        "get": {
            "operationId": "listLocations",
            "summary": "The tenant's locations",
            "description": "400 for any query parameter (this operation takes none).",
            "responses": _responses("LocationList", 400),
        }
    },
    "/events": {
        "get": {
            "operationId": "listEvents",
            "summary": "The event feed: every change, in commit order per resource",
            "description": "Events run oldest first. Follow `nextCursor` (as `after`) for "
            "ever: a consumer that does never misses a committed event, and sees each "
            "resource's events in the order their changes committed (events of a change "
            "still in flight, and of any later one, wait until it commits). 400 for an "
            "invalid cursor, limit or type; 410 for a cursor older than the retention.",
            "parameters": [
                _param("after", "The nextCursor of the previous page (none: the oldest kept)"),
                _param("limit", "Page size (1-1000, default 100)", {"type": "integer"}),
                _param(
                    "types",
                    "Comma-separated event types to return (default: all)",
                ),
            ],
            "responses": _responses("EventPage", 400, 410),
        }
    },
}


def document(base_url: str) -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Roster directory API",
            "version": __version__,
            "description": "Read the employee directory of the tenant the API key belongs "
            "to. Create a key with `roster apikey create --tenant NAME`.\n\n"
            "Every error is an `Error` document (`application/json`). Besides the statuses "
            "each operation lists: any other path under the API answers 404 (`NotFound`), "
            "and any method but GET or HEAD on any path answers 405 (`MethodNotAllowed`, "
            "with an `Allow` header).",
        },
        "servers": [{"url": f"{base_url}/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "rk_<id>_<secret>"}
            },
        },
    }
