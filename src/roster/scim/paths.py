"""Attribute paths (RFC 7644 §3.10): ``userName``, ``name.givenName``, URN-qualified names.

Names are resolved case-insensitively against the published schemas (RFC 7643 §2.1) to an
``AttrRef`` carrying the canonical spelling, so storage and output never depend on how a
client happened to capitalise a name.
"""

from __future__ import annotations

from dataclasses import dataclass

from roster.errors import InvalidPath, RosterError
from roster.scim.schema import Attribute, ResourceType, Schema, common_attribute


@dataclass(frozen=True)
class AttrRef:
    """A resolved attribute, optionally one of its sub-attributes."""

    schema: Schema
    attribute: Attribute
    sub: Attribute | None = None
    core: bool = True  # core attributes sit at the top of the document, others under the URN

    @property
    def key(self) -> str:
        """Lower-case canonical path; the storage key of indexed values."""
        head = self.attribute.name.lower()
        if not self.core:
            head = f"{self.schema.id.lower()}:{head}"
        return f"{head}.{self.sub.name.lower()}" if self.sub else head

    @property
    def leaf(self) -> Attribute:
        return self.sub or self.attribute

    def with_sub(self, sub: Attribute) -> AttrRef:
        return AttrRef(self.schema, self.attribute, sub, self.core)

    def __repr__(self) -> str:
        return f"AttrRef({self.display()!r})"

    def display(self) -> str:
        base = self.attribute.name if self.core else f"{self.schema.id}:{self.attribute.name}"
        return f"{base}.{self.sub.name}" if self.sub else base


def split_urn(rt: ResourceType, text: str) -> tuple[Schema, bool, str]:
    """Split an optional schema URN prefix: returns (schema, is_core, rest)."""
    lowered = text.lower()
    for schema in rt.schemas():
        prefix = schema.id.lower() + ":"
        if lowered.startswith(prefix):
            return schema, schema is rt.schema, text[len(prefix) :]
    if lowered.startswith("urn:"):
        raise InvalidPath(f"unknown schema in attribute path {text!r}")
    return rt.schema, True, text


def resolve(rt: ResourceType, text: str, error: type[RosterError] = InvalidPath) -> AttrRef:
    """Resolve ``[URN:]attr[.sub]`` for resource type ``rt``; ``error`` names the failure."""
    try:
        schema, core, rest = split_urn(rt, text.strip())
    except InvalidPath as exc:
        raise error(exc.detail) from exc
    name, dot, sub_name = rest.partition(".")
    if dot and not sub_name:
        raise error(f"attribute path {text!r} ends with a dot; name the sub-attribute after it")
    attr = schema.attribute(name)
    if attr is None and core:
        attr = common_attribute(name)
    if attr is None:
        raise error(f"unknown attribute {text!r} for resource type {rt.name}")
    ref = AttrRef(schema, attr, None, core)
    if sub_name:
        sub = attr.sub(sub_name)
        if sub is None:
            raise error(f"unknown sub-attribute {text!r} for resource type {rt.name}")
        ref = ref.with_sub(sub)
    return ref
