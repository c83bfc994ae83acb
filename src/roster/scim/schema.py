"""The schemas and resource types Roster publishes (RFC 7643 §4, §8.7).

Attribute definitions drive everything else: name resolution (case-insensitive, §2.1),
type checking, mutability, ``returned`` and caseExact comparison in filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ENVOY_USER = "urn:scim:schemas:extension:envoy:core:1.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = "string"
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    description: str = ""
    sub_attributes: tuple[Attribute, ...] = ()
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    _index: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({a.name.lower(): a for a in self.sub_attributes})

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name``, matched case-insensitively."""
        return self._index.get(name.lower())

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description or self.name,
            "required": self.required,
            "mutability": self.mutability,
            "returned": self.returned,
        }
        if self.type in ("string", "reference", "binary"):
            doc["caseExact"] = self.case_exact
        if self.type not in ("complex", "boolean"):
            doc["uniqueness"] = self.uniqueness
        if self.canonical_values:
            doc["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            doc["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            doc["subAttributes"] = [a.to_json() for a in self.sub_attributes]
        return doc


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _index: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({a.name.lower(): a for a in self.attributes})

    def attribute(self, name: str) -> Attribute | None:
        return self._index.get(name.lower())

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "schemas": [SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_json() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{self.id}"},
        }


@dataclass(frozen=True)
class ResourceType:
    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[tuple[Schema, bool], ...] = ()

    def schemas(self) -> tuple[Schema, ...]:
        return (self.schema, *(s for s, _ in self.extensions))

    def extension(self, urn: str) -> Schema | None:
        for s, _ in self.extensions:
            if s.id.lower() == urn.lower():
                return s
        return None

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "schemas": [RESOURCE_TYPE],
            "id": self.name,
            "name": self.name,
            "endpoint": f"/{self.endpoint}",
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [{"schema": s.id, "required": r} for s, r in self.extensions],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{self.name}",
            },
        }


def _s(name: str, **kw: Any) -> Attribute:
    return Attribute(name, **kw)


def _multi(
    name: str, value_type: str = "string", types: tuple[str, ...] = (), **kw: Any
) -> Attribute:
    """A multi-valued complex attribute of the RFC 7643 §2.4 shape (value/display/type/primary)."""
    subs: list[Attribute] = [
        _s("value", type=value_type, **kw),
        _s("display"),
        _s("type", canonical_values=types),
        _s("primary", type="boolean"),
    ]
    return Attribute(name, type="complex", multi_valued=True, sub_attributes=tuple(subs))


ID = _s("id", case_exact=True, mutability="readOnly", returned="always", uniqueness="server")
EXTERNAL_ID = _s("externalId", case_exact=True)
META = Attribute(
    "meta",
    type="complex",
    mutability="readOnly",
    sub_attributes=(
        _s("resourceType", case_exact=True, mutability="readOnly"),
        _s("created", type="dateTime", mutability="readOnly"),
        _s("lastModified", type="dateTime", mutability="readOnly"),
        _s(
            "location",
            type="reference",
            case_exact=True,
            mutability="readOnly",
            reference_types=("uri",),
        ),
        _s("version", case_exact=True, mutability="readOnly"),
    ),
)
COMMON = (ID, EXTERNAL_ID, META)

USER_SCHEMA = Schema(
    CORE_USER,
    "User",
    "User Account",
    (
        _s("userName", required=True, uniqueness="server"),
        Attribute(
            "name",
            type="complex",
            sub_attributes=tuple(
                _s(n)
                for n in (
                    "formatted",
                    "familyName",
                    "givenName",
                    "middleName",
                    "honorificPrefix",
                    "honorificSuffix",
                )
            ),
        ),
        _s("displayName"),
        _s("nickName"),
        _s("profileUrl", type="reference", reference_types=("external",)),
        _s("title"),
        _s("userType"),
        _s("preferredLanguage"),
        _s("locale"),
        _s("timezone"),
        _s("active", type="boolean"),
        _s("password", mutability="writeOnly", returned="never"),
        _multi("emails", types=("work", "home", "other")),
        _multi("phoneNumbers", types=("work", "home", "mobile", "fax", "pager", "other")),
        _multi("ims", types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi("photos", value_type="reference", types=("photo", "thumbnail")),
        Attribute(
            "addresses",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                _s("formatted"),
                _s("streetAddress"),
                _s("locality"),
                _s("region"),
                _s("postalCode"),
                _s("country"),
                _s("type", canonical_values=("work", "home", "other")),
                _s("primary", type="boolean"),
            ),
        ),
        Attribute(
            "groups",
            type="complex",
            multi_valued=True,
            mutability="readOnly",
            sub_attributes=(
                _s("value", mutability="readOnly"),
                _s(
                    "$ref",
                    type="reference",
                    mutability="readOnly",
                    reference_types=("User", "Group"),
                ),
                _s("display", mutability="readOnly"),
                _s("type", mutability="readOnly", canonical_values=("direct", "indirect")),
            ),
        ),
        _multi("entitlements"),
        _multi("roles"),
        Attribute(
            "x509Certificates",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                _s("value", type="binary"),
                _s("display"),
                _s("type"),
                _s("primary", type="boolean"),
            ),
        ),
    ),
)

GROUP_SCHEMA = Schema(
    CORE_GROUP,
    "Group",
    "Group",
    (
        _s("displayName", required=True, uniqueness="server"),
        Attribute(
            "members",
            type="complex",
            multi_valued=True,
            sub_attributes=(
                # RFC 7643 §8.7.1 lists value, $ref and type; display is the default
                # sub-attribute of every multi-valued attribute (§2.4), immutable: kept as
                # the client sent it with the member (Okta, Microsoft's test collection).
                _s("value", mutability="immutable"),
                _s("display", mutability="immutable"),
                _s(
                    "$ref",
                    type="reference",
                    mutability="immutable",
                    reference_types=("User", "Group"),
                ),
                _s("type", mutability="immutable", canonical_values=("User", "Group")),
            ),
        ),
    ),
)

ENTERPRISE_SCHEMA = Schema(
    ENTERPRISE_USER,
    "EnterpriseUser",
    "Enterprise User",
    (
        _s("employeeNumber"),
        _s("costCenter"),
        _s("organization"),
        _s("division"),
        _s("department"),
        Attribute(
            "manager",
            type="complex",
            sub_attributes=(
                _s("value"),
                _s("$ref", type="reference", reference_types=("User",)),
                # RFC 7643 §4.3 makes this readOnly, but Okta sends the manager's email
                # here ("managerDisplayName") and Envoy resolves managers by it, so we
                # accept and keep it.
                _s("displayName"),
            ),
        ),
    ),
)

ENVOY_SCHEMA = Schema(
    ENVOY_USER,
    "EnvoyUser",
    "Envoy workplace attributes: primary location, remote status and assistants",
    (
        _s("defaultLocationName", description="Name of the employee's primary location"),
        _s(
            "remoteStatus",
            description="Remote or in person (see the accepted values in the docs)",
            # Envoy stores one of these two; the directory also accepts its synonyms
            # (directory/attributes/remote_status.py) and refuses anything else.
            canonical_values=("Remote", "In person"),
        ),
        _s("assistants", multi_valued=True, description="Emails of the employee's assistants"),
    ),
)

USER = ResourceType(
    "User",
    "Users",
    "User Account",
    USER_SCHEMA,
    ((ENTERPRISE_SCHEMA, False), (ENVOY_SCHEMA, False)),
)
GROUP = ResourceType("Group", "Groups", "Group", GROUP_SCHEMA)
RESOURCE_TYPES: dict[str, ResourceType] = {"User": USER, "Group": GROUP}
SCHEMAS: dict[str, Schema] = {
    s.id: s for s in (USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_SCHEMA, ENVOY_SCHEMA)
}


def common_attribute(name: str) -> Attribute | None:
    """id, externalId and meta belong to every resource (RFC 7643 §3.1)."""
    for a in COMMON:
        if a.name.lower() == name.lower():
            return a
    return None
