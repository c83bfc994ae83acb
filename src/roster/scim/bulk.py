"""Bulk (RFC 7644 §3.7), the protocol half: operations run in order through a ``Runner``
(the server runs each in its own transaction, with its own system-log entry); ``bulkId:``
references are resolved as the referenced creates land, and an operation whose
reference is not yet known waits for it (§3.7.1). No I/O here."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from roster.errors import Conflict, InvalidSyntax, InvalidValue, PayloadTooLarge, RosterError
from roster.scim.messages import error_body
from roster.scim.schema import BULK_REQUEST, BULK_RESPONSE

_REF = re.compile(r"^bulkId:(.+)$")
_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class BulkCall:
    """One operation as the server runs it: bulkId references already substituted."""

    method: str
    segments: list[str]
    headers: Mapping[str, str]
    body: Any


class BulkAnswer(Protocol):
    """What the server answered one operation (its reply to a single request)."""

    status: int
    body: Any
    headers: dict[str, str]


Runner = Callable[[BulkCall], BulkAnswer | RosterError]


def _refs(value: Any) -> set[str]:
    if isinstance(value, str):
        m = _REF.match(value)
        return {m.group(1)} if m else set()
    if isinstance(value, dict):
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        m = _REF.match(value)
        return ids.get(m.group(1), value) if m else value
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


def _path_refs(path: str) -> set[str]:
    return set().union(*(_refs(part) for part in path.split("/"))) if path else set()


def _sub_path(path: str, ids: dict[str, str]) -> str:
    return "/".join(_substitute(part, ids) for part in path.split("/"))


def run_bulk(body: Any, *, max_operations: int, run: Runner) -> dict[str, Any]:
    if not isinstance(body, dict) or BULK_REQUEST not in (body.get("schemas") or []):
        raise InvalidSyntax(f"a Bulk body must be an object declaring {BULK_REQUEST}")
    ops = body.get("Operations")
    if not isinstance(ops, list):
        raise InvalidSyntax("a Bulk body needs an Operations array")
    if len(ops) > max_operations:
        raise PayloadTooLarge(f"{len(ops)} operations exceed maxOperations ({max_operations})")
    fail_on = body.get("failOnErrors")
    if fail_on is not None and (
        not isinstance(fail_on, int) or isinstance(fail_on, bool) or fail_on < 1
    ):
        raise InvalidSyntax("failOnErrors must be a positive integer")
    declared = {o.get("bulkId") for o in ops if isinstance(o, dict) and o.get("bulkId")}
    ids: dict[str, str] = {}
    results: dict[int, dict[str, Any]] = {}
    pending = list(range(len(ops)))
    errors = 0
    while pending and (fail_on is None or errors < fail_on):
        progressed = False
        waiting = []
        for index in pending:
            if fail_on is not None and errors >= fail_on:
                waiting.append(index)
                continue
            raw = ops[index]
            path = raw.get("path", "") if isinstance(raw, dict) else ""
            data = raw.get("data") if isinstance(raw, dict) else None
            unresolved = (_refs(data) | _path_refs(str(path))) - ids.keys()
            if unresolved & declared and not unresolved <= _failed_ids(results, ops):
                waiting.append(index)
                continue
            progressed = True
            results[index] = _run_one(raw, ids, run)
            if int(results[index]["status"]) >= 400:
                errors += 1
        if not progressed:
            for index in waiting:
                errors += 1
                # RFC 7644 §3.7.1: a server that cannot resolve circular references
                # MAY answer 409 for them.
                results[index] = _failure(
                    ops[index],
                    Conflict("bulkId references that never resolve (circular or failed)"),
                )
            break
        pending = waiting
    ordered = [results[i] for i in sorted(results)]
    return {"schemas": [BULK_RESPONSE], "Operations": ordered}


def _failed_ids(results: dict[int, dict[str, Any]], ops: list[Any]) -> set[str]:
    return {
        ops[i].get("bulkId")
        for i, r in results.items()
        if int(r["status"]) >= 400 and isinstance(ops[i], dict) and ops[i].get("bulkId")
    }


def _failure(raw: Any, err: RosterError) -> dict[str, Any]:
    out: dict[str, Any] = {
        "method": raw.get("method") if isinstance(raw, dict) else None,
        "status": str(err.status),
        "response": error_body(err.status, err.detail, err.scim_type),
    }
    if isinstance(raw, dict) and raw.get("bulkId"):
        out["bulkId"] = raw["bulkId"]
    return out


def _run_one(raw: Any, ids: dict[str, str], run: Runner) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return _failure(raw, InvalidSyntax("each bulk operation must be an object"))
    method = str(raw.get("method", "")).upper()
    path = raw.get("path")
    bulk_id = raw.get("bulkId")
    if method not in _METHODS:
        return _failure(raw, InvalidSyntax(f"bulk method must be one of {', '.join(_METHODS)}"))
    if not isinstance(path, str) or not path.startswith("/"):
        return _failure(raw, InvalidSyntax("bulk operation path must start with /"))
    if method == "POST" and not bulk_id:
        return _failure(raw, InvalidSyntax("a bulk POST needs a bulkId (RFC 7644 §3.7)"))
    unresolved = (_refs(raw.get("data")) | _path_refs(path)) - ids.keys()
    if unresolved:
        return _failure(
            raw, InvalidValue(f"unknown bulkId reference(s): {', '.join(sorted(unresolved))}")
        )
    headers = {"if-match": raw["version"]} if isinstance(raw.get("version"), str) else {}
    segments = [s for s in _sub_path(path, ids).split("/") if s]
    reply = run(BulkCall(method, segments, headers, _substitute(raw.get("data"), ids)))
    if isinstance(reply, RosterError):
        return _failure(raw, reply)
    out: dict[str, Any] = {"method": method, "status": str(reply.status)}
    if bulk_id:
        out["bulkId"] = bulk_id
    if "Location" in reply.headers:
        out["location"] = reply.headers["Location"]
    if "ETag" in reply.headers:
        out["version"] = reply.headers["ETag"]
    if method == "POST" and bulk_id and isinstance(reply.body, dict) and "id" in reply.body:
        ids[bulk_id] = reply.body["id"]
    return out
