"""A resource as clients read it (RFC 7643 §3.1): ``schemas``, ``id``, the stored
attributes, the references to its members or groups, and ``meta``.

The directory stores a document without ``id``, ``meta`` or ``schemas`` (scim/document.py);
they are rendered here, from the row's id, times and version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from roster.scim.document import schemas_of
from roster.scim.schema import ResourceType
from roster.scim.versioning import etag

Doc = dict[str, Any]


class Referenced(Protocol):
    """A user or group another resource names (a group's member, a user's group)."""

    @property
    def id(self) -> str: ...
    @property
    def resource_type(self) -> str: ...
    @property
    def display(self) -> str | None: ...


def timestamp(value: datetime) -> str:
    """RFC 7643 §2.3.5 xsd:dateTime, in UTC to the millisecond."""
    return f"{value.isoformat(timespec='milliseconds')}Z"


def location(base_url: str, rt: ResourceType, resource_id: str) -> str:
    """``meta.location`` and the ``Location`` header (RFC 7644 §3.1)."""
    return f"{base_url}/{rt.endpoint}/{resource_id}"


def meta(
    rt: ResourceType,
    base_url: str,
    resource_id: str,
    created: str,
    last_modified: str,
    version: int | None = None,
) -> Doc:
    """RFC 7643 §3.1 ``meta``; ``version`` only for a resource the directory keeps."""
    out: Doc = {
        "resourceType": rt.name,
        "created": created,
        "lastModified": last_modified,
        "location": location(base_url, rt, resource_id),
    }
    if version is not None:
        out["version"] = etag(version)
    return out


def reference(base_url: str, ref: Referenced, kind: str | None = None) -> Doc:
    """One element of ``members`` or ``groups`` (RFC 7643 §4.1.2, §4.2)."""
    endpoint = "Users" if ref.resource_type == "User" else "Groups"
    out: Doc = {"value": ref.id, "$ref": f"{base_url}/{endpoint}/{ref.id}"}
    if ref.display:
        # User.groups: the group's name; Group.members: the display the client sent.
        out["display"] = ref.display
    out["type"] = kind or ref.resource_type
    return out


def resource(
    rt: ResourceType,
    base_url: str,
    resource_id: str,
    doc: Doc,
    *,
    created: datetime,
    last_modified: datetime,
    version: int,
    related: Sequence[Referenced] | None,
) -> Doc:
    """The full resource: members (Group) or groups (User) when ``related`` was loaded."""
    body: Doc = {"schemas": schemas_of(rt, doc), "id": resource_id}
    # Core attributes first, then each extension: the order people expect to read.
    body.update((k, v) for k, v in doc.items() if not k.lower().startswith("urn:"))
    body.update((k, v) for k, v in doc.items() if k.lower().startswith("urn:"))
    if related is not None:
        if rt.name == "Group":
            body["members"] = [reference(base_url, m) for m in related]
        else:
            # RFC 7643 §4.1.2: a user's groups are "direct" (no nested groups here).
            body["groups"] = [reference(base_url, g, "direct") for g in related]
    body["meta"] = meta(
        rt, base_url, resource_id, timestamp(created), timestamp(last_modified), version
    )
    return body
