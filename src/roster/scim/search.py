"""Query parameters of list and search requests (RFC 7644 §3.4.2, §3.4.3, §3.9)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roster.errors import InvalidSyntax, InvalidValue
from roster.scim.filter import Filter, parse_filter
from roster.scim.limits import MAX_START_INDEX
from roster.scim.paths import AttrRef, resolve
from roster.scim.schema import SEARCH_REQUEST, ResourceType


@dataclass(frozen=True)
class SearchQuery:
    filter: Filter | None = None
    sort_by: AttrRef | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    attributes: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _int(name: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidValue(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        shown = repr(value) if len(str(value)) <= 40 else f"{str(value)[:40]!r}…"
        raise InvalidValue(f"{name} must be an integer, got {shown}") from exc


def parse_search(
    rt: ResourceType, params: Mapping[str, Any], *, default_count: int, max_count: int
) -> SearchQuery:
    """Normalise GET query parameters or a POST /.search body (names case-insensitive)."""
    p = {k.lower(): v for k, v in params.items()}
    text = p.get("filter")
    node = None
    if text is not None:
        if not isinstance(text, str):
            raise InvalidSyntax("filter must be a string")
        node = parse_filter(rt, text)
    sort_by = None
    if p.get("sortby"):
        sort_by = resolve(rt, str(p["sortby"]), InvalidValue)
    order = str(p.get("sortorder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue("sortOrder must be ascending or descending")
    # §3.4.2.4: startIndex below 1 is read as 1; a negative count as 0; a count above the
    # advertised maximum is cut to it.
    start = max(1, _int("startIndex", p.get("startindex"), 1))
    if start > MAX_START_INDEX:
        # Past the end of any result, and past what either database takes as an offset.
        raise InvalidValue(f"startIndex must be at most {MAX_START_INDEX}")
    count = min(max(0, _int("count", p.get("count"), default_count)), max_count)
    return SearchQuery(
        node,
        sort_by,
        order == "descending",
        start,
        count,
        split_list(p.get("attributes")),
        split_list(p.get("excludedattributes")),
    )


def check_search_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidSyntax("a search body must be a JSON object")
    schemas = body.get("schemas")
    if schemas is not None and SEARCH_REQUEST not in schemas:
        raise InvalidSyntax(f"a search body must declare {SEARCH_REQUEST}")
    return body
