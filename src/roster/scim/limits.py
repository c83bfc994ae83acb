"""Limits on what a request may carry, checked before anything else reads it.

Every limit here exists so that bad input gets a SCIM 400 and never reaches a 500, and so
that SQLite and PostgreSQL answer alike (README "Limits"):

- JSON bodies nest at most ``MAX_JSON_DEPTH`` levels. orjson parses 1,024 but serialises
  only 254, so a deeper document could be stored and then never rendered again.
- No string, object key, path segment or query value may contain NUL (U+0000):
  PostgreSQL text cannot hold it, and SQLite would store what PostgreSQL refuses.
- A string in a body is at most ``MAX_STRING_CHARS`` characters, a filter at most
  ``MAX_FILTER_CHARS`` (SQLite refuses LIKE patterns over 50,000 bytes; 10,000
  characters of UTF-8 stay under that even as ``co`` patterns).
- ``startIndex`` is at most ``MAX_START_INDEX``, and numbers in filters fit a signed
  64-bit integer or a finite double.

Pure: no I/O; the HTTP layer and the filter parser call these.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from roster.errors import InvalidSyntax, InvalidValue, RosterError

MAX_JSON_DEPTH = 64
MAX_STRING_CHARS = 16_384
MAX_FILTER_CHARS = 10_000
MAX_START_INDEX = 2_147_483_647  # xsd:int, what SCIM clients page with
MAX_INTEGER = 2**63 - 1
NUL = "\x00"


def _where(path: list[str]) -> str:
    return "".join(path).lstrip(".") or "the body"


def check_json(value: Any) -> None:
    """Refuse documents nested deeper than ``MAX_JSON_DEPTH``, strings or keys holding NUL,
    and strings longer than ``MAX_STRING_CHARS``; the error names where (``emails[0].value``).

    Iterative, so no document can exhaust the stack of the check itself.
    """
    stack: list[tuple[Any, int, list[str]]] = [(value, 1, [])]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidSyntax(
                    f"the request body nests deeper than {MAX_JSON_DEPTH} levels "
                    f"(at {_where(path)})"
                )
            if isinstance(node, dict):
                for key, item in node.items():
                    at = [*path, f".{key}"]
                    _check_string(key, at, "a key")
                    stack.append((item, depth + 1, at))
            else:
                stack.extend((item, depth + 1, [*path, f"[{i}]"]) for i, item in enumerate(node))
        elif isinstance(node, str):
            _check_string(node, path, "a value")


def _check_string(text: str, path: list[str], what: str) -> None:
    if NUL in text:
        raise InvalidValue(
            f"{_where(path)}: {what} contains a NUL character (\\u0000), which is not allowed"
        )
    if len(text) > MAX_STRING_CHARS:
        raise InvalidValue(
            f"{_where(path)}: {what} of {len(text)} characters; the limit is {MAX_STRING_CHARS}"
        )


def parse_json(raw: bytes) -> Any:
    """A request body: valid JSON (400 invalidSyntax otherwise) within the limits above."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidSyntax(f"the request body is not valid JSON: {exc}") from exc
    check_json(value)
    return value


def check_text(what: str, text: str, error: type[RosterError] = InvalidValue) -> None:
    """A path segment, query parameter name or value: no NUL."""
    if NUL in text:
        raise error(f"{what} contains a NUL character (%00), which is not allowed")


def check_number(value: int | float, error: type[RosterError]) -> None:
    """A number in a filter: a signed 64-bit integer or a finite double."""
    if isinstance(value, int) and not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
        raise error(f"the number {value} is out of range (a signed 64-bit integer)")
    if isinstance(value, float) and not math.isfinite(value):
        raise error("a number in the filter is out of range (not a finite double)")
