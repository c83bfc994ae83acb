"""SCIM filters (RFC 7644 §3.4.2.2): text -> AST, and in-memory evaluation.

Written here rather than taken from scim2-filter-parser because we need an AST bound to our
resolved schema (canonical names, caseExact, types) that storage compiles to indexed SQL and
that PATCH value filters evaluate in memory; the grammar is small.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, assert_never

from roster.errors import InvalidFilter, RosterError
from roster.scim.limits import MAX_FILTER_CHARS, check_number, check_text
from roster.scim.paths import AttrRef, resolve
from roster.scim.schema import Attribute, ResourceType

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_XSD_DATETIME = re.compile(
    r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[zZ]|[+-][0-9]{2}:[0-9]{2})?"
)
MAX_DEPTH = 16
MAX_COMPARISONS = 100
OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
ORDERING = frozenset({"gt", "ge", "lt", "le"})
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Compare:
    ref: AttrRef
    op: str
    value: Scalar


@dataclass(frozen=True)
class Present:
    ref: AttrRef


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


@dataclass(frozen=True)
class ValuePath:
    """``emails[type eq "work"]``: ``inner`` refers to sub-attributes of ``ref``."""

    ref: AttrRef
    inner: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class _Token:
    kind: str  # "punct" | "string" | "word"
    text: str
    value: Any = None


def _tokenize(text: str, error: type[RosterError]) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()[]":
            tokens.append(_Token("punct", c))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise error(f"unterminated string in filter at position {i}")
            try:
                value = json.loads(text[i : j + 1])
            except ValueError as exc:
                raise error(f"bad string literal in filter at position {i}") from exc
            tokens.append(_Token("string", text[i : j + 1], value))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()[]"':
                j += 1
            tokens.append(_Token("word", text[i:j]))
            i = j
    return tokens


class _Parser:
    def __init__(self, rt: ResourceType, text: str, error: type[RosterError]) -> None:
        self.rt = rt
        self.error = error
        if len(text) > MAX_FILTER_CHARS:
            raise error(f"filter of {len(text)} characters; the limit is {MAX_FILTER_CHARS}")
        check_text("the filter", text, error)
        self.tokens = _tokenize(text, error)
        self.pos = 0
        self.depth = 0
        self.comparisons = 0

    def peek(self, offset: int = 0) -> _Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> _Token:
        tok = self.peek()
        if tok is None:
            raise self.error("filter ends unexpectedly")
        self.pos += 1
        return tok

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok.kind != "punct" or tok.text != punct:
            raise self.error(f"expected {punct!r} in filter, found {tok.text!r}")

    def is_word(self, tok: _Token | None, *words: str) -> bool:
        return tok is not None and tok.kind == "word" and tok.text.lower() in words

    def parse(self) -> Filter:
        if not self.tokens:
            raise self.error("empty filter")
        node = self.parse_or(None)
        if self.peek() is not None:
            raise self.error(f"unexpected {self.take().text!r} in filter")
        return node

    def parse_or(self, parent: AttrRef | None) -> Filter:
        node = self.parse_and(parent)
        while self.is_word(self.peek(), "or"):
            self.take()
            node = Or(node, self.parse_and(parent))
        return node

    def parse_and(self, parent: AttrRef | None) -> Filter:
        node = self.parse_unary(parent)
        while self.is_word(self.peek(), "and"):
            self.take()
            node = And(node, self.parse_unary(parent))
        return node

    def parse_unary(self, parent: AttrRef | None) -> Filter:
        tok = self.peek()
        nxt = self.peek(1)
        negated = self.is_word(tok, "not") and nxt is not None and nxt.text == "("
        if negated or (tok is not None and tok.kind == "punct" and tok.text == "("):
            # Bounded, so that no filter can exhaust the stack of the parser or compiler.
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"filter nests deeper than {MAX_DEPTH} levels")
            if negated:
                self.take()
            self.expect("(")
            inner = self.parse_or(parent)
            self.expect(")")
            self.depth -= 1
            return Not(inner) if negated else inner
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(f"filter has more than {MAX_COMPARISONS} comparisons")
        return self.parse_attr_expr(parent)

    def resolve(self, parent: AttrRef | None, name: str) -> AttrRef:
        if parent is None:
            return resolve(self.rt, name, self.error)
        sub = parent.attribute.sub(name)
        if sub is None:
            raise self.error(f"unknown sub-attribute {name!r} of {parent.display()}")
        return parent.with_sub(sub)

    def parse_attr_expr(self, parent: AttrRef | None) -> Filter:
        tok = self.take()
        if tok.kind != "word" or tok.text.lower() in OPERATORS | {"and", "or", "not", "pr"}:
            raise self.error(f"expected an attribute name in filter, found {tok.text!r}")
        ref = self.resolve(parent, tok.text)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "punct" and nxt.text == "[":
            if parent is not None or ref.sub is not None or not ref.attribute.sub_attributes:
                raise self.error(f"{tok.text!r} cannot take a value filter")
            self.take()
            inner = self.parse_or(ref)
            self.expect("]")
            after = self.peek()
            # emails[type eq "work"].value eq "x" is not in the RFC grammar but is what
            # Entra ID sends (see docs/idp-behaviour.md); it means the conjunction.
            if after is not None and after.kind == "word" and after.text.startswith("."):
                self.take()
                sub_ref = self.resolve(ref, after.text[1:])
                return ValuePath(ref, And(inner, self.parse_comparison(sub_ref)))
            return ValuePath(ref, inner)
        return self.parse_comparison(ref)

    def parse_comparison(self, ref: AttrRef) -> Filter:
        op_tok = self.take()
        op = op_tok.text.lower()
        if op_tok.kind != "word" or (op not in OPERATORS and op != "pr"):
            raise self.error(f"unknown operator {op_tok.text!r} in filter")
        if op == "pr":
            return Present(ref)
        ref = _default_sub(ref, self.error)
        value = self.parse_value()
        return _checked(ref, op, value, self.error)

    def parse_value(self) -> Scalar:
        tok = self.take()
        if tok.kind == "string":
            return str(tok.value)
        if tok.kind == "word":
            low = tok.text.lower()
            if low in ("true", "false"):
                return low == "true"
            if low == "null":
                return None
            # RFC 7644 §3.4.2.2: compValue numbers are JSON numbers (RFC 7159 §6).
            if _JSON_NUMBER.fullmatch(tok.text):
                is_int = not any(c in tok.text for c in ".eE")
                if is_int and len(tok.text.lstrip("-")) > 19:  # past any 64-bit integer
                    raise self.error(f"the number {tok.text[:30]}… is out of range")
                number = int(tok.text) if is_int else float(tok.text)
                check_number(number, self.error)
                return number
        raise self.error(f"bad comparison value {tok.text!r} in filter")


def _default_sub(ref: AttrRef, error: type[RosterError]) -> AttrRef:
    """``emails co "x"`` means ``emails.value co "x"`` (RFC 7644 §3.4.2.2, multi-valued)."""
    if ref.sub is None and ref.attribute.type == "complex":
        value = ref.attribute.sub("value")
        if value is None:
            raise error(f"{ref.display()} is complex: name one of its sub-attributes")
        return ref.with_sub(value)
    return ref


def parse_datetime(text: str) -> datetime:
    """RFC 7643 §2.3.5 xsd:dateTime, normalised to naive UTC.

    Python's fromisoformat also takes bare dates and space separators; xsd:dateTime
    does not, so the shape is checked first.
    """
    if not _XSD_DATETIME.fullmatch(text):
        raise ValueError(f"not an xsd:dateTime: {text!r}")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _checked(ref: AttrRef, op: str, value: Scalar, error: type[RosterError]) -> Compare:  # noqa: C901 (one branch per RFC 7644 §3.4.2.2 operator and type pairing)
    attr = ref.leaf
    if value is None:
        if op not in ("eq", "ne"):
            raise error(f"null can only be compared with eq or ne ({ref.display()})")
        return Compare(ref, op, None)
    if attr.type == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise error(f"{ref.display()} is boolean: compare it with eq or ne to true or false")
    elif attr.type == "binary" and op in ORDERING:
        raise error(f"{ref.display()} is binary and has no order")
    elif attr.type == "dateTime":
        if not isinstance(value, str):
            raise error(f"{ref.display()} is a dateTime: compare it with a quoted timestamp")
        try:
            parse_datetime(value)
        except ValueError as exc:
            raise error(f"{value!r} is not a valid dateTime for {ref.display()}") from exc
    elif attr.type in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise error(f"{ref.display()} is a number: compare it with a number")
    elif isinstance(value, bool | int | float):
        # A string attribute compared with an unquoted literal: compare its text form.
        value = json.dumps(value)
    if op in ("co", "sw", "ew") and attr.type not in ("string", "reference", "binary"):
        raise error(f"operator {op} needs a string attribute, {ref.display()} is {attr.type}")
    return Compare(ref, op, value)


def parse_filter(rt: ResourceType, text: str, error: type[RosterError] = InvalidFilter) -> Filter:
    """Parse ``text`` for resource type ``rt``; failures raise ``error`` (400 invalidFilter)."""
    return _Parser(rt, text, error).parse()


def parse_value_filter(
    rt: ResourceType, parent: AttrRef, text: str, error: type[RosterError]
) -> Filter:
    """Parse the inside of ``attr[...]`` relative to ``parent`` (PATCH paths)."""
    parser = _Parser(rt, text, error)
    if not parser.tokens:
        raise error("empty value filter")
    node = parser.parse_or(parent)
    if parser.peek() is not None:
        raise error(f"unexpected {parser.take().text!r} in value filter")
    return node


# ---- in-memory evaluation (PATCH value filters, tests) ------------------------------


def _values_at(doc: dict[str, Any], ref: AttrRef) -> list[Any]:
    container: Any = doc if ref.core else doc.get(ref.schema.id, {})
    if not isinstance(container, dict):
        return []
    top = container.get(ref.attribute.name)
    if top is None:
        return []
    items = top if isinstance(top, list) else [top]
    if ref.sub is None:
        return [v for v in items if v is not None]
    out = []
    for item in items:
        if isinstance(item, dict) and item.get(ref.sub.name) is not None:
            out.append(item[ref.sub.name])
    return out


def _compare(attr: Attribute, op: str, actual: Any, expected: Scalar) -> bool:  # noqa: C901 (one branch per RFC 7644 §3.4.2.2 operator)
    if expected is None:
        return False
    if attr.type == "dateTime" and isinstance(actual, str) and isinstance(expected, str):
        try:
            a: Any = parse_datetime(actual)
            e: Any = parse_datetime(expected)
        except ValueError:
            return False
    elif attr.type == "boolean" or isinstance(expected, bool):
        return (actual is expected) if op == "eq" else (actual is not expected)
    elif isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        a, e = actual, expected
    else:
        if not isinstance(actual, str):
            actual = json.dumps(actual)
        a, e = (actual, expected) if attr.case_exact else (actual.lower(), expected.lower())
    match op:
        case "eq":
            return bool(a == e)
        case "ne":
            return bool(a != e)
        case "co":
            return bool(e in a)
        case "sw":
            return bool(a.startswith(e))
        case "ew":
            return bool(a.endswith(e))
        case "gt":
            return bool(a > e)
        case "ge":
            return bool(a >= e)
        case "lt":
            return bool(a < e)
        case "le":
            return bool(a <= e)
    return False


def matches(node: Filter, doc: dict[str, Any]) -> bool:
    """Evaluate ``node`` against a resource document with canonical attribute names."""
    match node:
        case And(left, right):
            return matches(left, doc) and matches(right, doc)
        case Or(left, right):
            return matches(left, doc) or matches(right, doc)
        case Not(inner):
            return not matches(inner, doc)
        case Present(ref):
            return any(v not in ("", [], {}) for v in _values_at(doc, ref))
        case Compare(ref, op, value):
            values = _values_at(doc, ref)
            if value is None:
                return (not values) if op == "eq" else bool(values)
            if op == "ne":
                return not any(_compare(ref.leaf, "eq", v, value) for v in values)
            return any(_compare(ref.leaf, op, v, value) for v in values)
        case ValuePath(ref, inner):
            return any(element_matches(inner, el) for el in _values_at(doc, ref))
    assert_never(node)


def element_matches(node: Filter, element: Any) -> bool:
    """Evaluate a value filter against one element of a multi-valued complex attribute."""
    if not isinstance(element, dict):
        return False
    match node:
        case And(left, right):
            return element_matches(left, element) and element_matches(right, element)
        case Or(left, right):
            return element_matches(left, element) or element_matches(right, element)
        case Not(inner):
            return not element_matches(inner, element)
        case Present(ref):
            assert ref.sub is not None
            return element.get(ref.sub.name) not in (None, "", [], {})
        case Compare(ref, op, value):
            assert ref.sub is not None
            actual = element.get(ref.sub.name)
            if value is None:
                return (actual is None) if op == "eq" else (actual is not None)
            if actual is None:
                return op == "ne"
            return _compare(ref.leaf, op, actual, value)
    return False
