"""Domain errors: every error a caller can act on, in one place.

Each knows its HTTP status, for SCIM its ``scimType`` (RFC 7644 §3.12), and a stable,
machine-readable ``code`` that the surfaces render beside the human ``detail``: the SCIM
error body (status, scimType, detail: RFC 7644 allows nothing else), the read API's
``{"error": {"status", "code", "detail"}}``, the console, and the CLI (``--json`` prints
the code). ``attribute`` names the SCIM attribute or setting at fault, where one is.

    RosterError                      400  invalid_request
    ├── InvalidFilter                400  invalid_filter        scimType invalidFilter
    ├── TooMany                      400  too_many              scimType tooMany
    ├── MutabilityViolation          400  mutability            scimType mutability
    ├── InvalidSyntax                400  invalid_syntax        scimType invalidSyntax
    ├── InvalidPath                  400  invalid_path          scimType invalidPath
    ├── NoTarget                     400  no_target             scimType noTarget
    ├── InvalidValue                 400  invalid_value         scimType invalidValue
    │   ├── UnknownLocation          400  unknown_location      (a read-API filter)
    │   └── AmbiguousConnection      400  invalid_value         (a connection named by prefix)
    ├── InvalidVersion               400  invalid_version       scimType invalidVers
    ├── Unauthorized                 401  unauthorized
    │   └── AuthenticationFailed     401  authentication_failed (a SCIM bearer token)
    ├── NotFound                     404  not_found
    │   └── InvalidLink              404  invalid_link          (a console set-up link)
    ├── MethodNotAllowed             405  method_not_allowed
    ├── Conflict                     409  conflict
    │   └── UniquenessConflict       409  uniqueness            scimType uniqueness
    ├── CursorExpired                410  cursor_expired        (the events feed)
    ├── PreconditionFailed           412  precondition_failed   (If-Match)
    │   └── ConcurrentChange         412  precondition_failed   (another process won a write)
    ├── PayloadTooLarge              413  payload_too_large
    ├── UnsupportedMediaType         415  unsupported_media_type
    ├── TooManyRequests              429  too_many_requests     (console sign-in attempts)
    ├── MailNotConfigured            400  mail_not_configured   (SMTP settings)
    ├── NoDatabase                   400  no_database           (the CLI's database file)
    ├── InternalError                500  internal_error
    ├── NotSupported                 501  not_supported
    └── NotModified                  304  not_modified          (If-None-Match; carries the ETag)

Storage raises ``UniquenessConflict`` for a unique key taken by a concurrent transaction
(``storage.integrity``), so no layer above it catches a database driver's exception.
"""

from __future__ import annotations

from collections.abc import Sequence


class RosterError(Exception):
    """Base of every error a caller can act on."""

    status: int = 400
    scim_type: str | None = None
    code: str = "invalid_request"

    def __init__(self, detail: str, *, attribute: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attribute = attribute


class InvalidFilter(RosterError):
    scim_type = "invalidFilter"
    code = "invalid_filter"


class TooMany(RosterError):
    scim_type = "tooMany"
    code = "too_many"


class MutabilityViolation(RosterError):
    scim_type = "mutability"
    code = "mutability"


class InvalidSyntax(RosterError):
    scim_type = "invalidSyntax"
    code = "invalid_syntax"


class InvalidPath(RosterError):
    scim_type = "invalidPath"
    code = "invalid_path"


class NoTarget(RosterError):
    scim_type = "noTarget"
    code = "no_target"


class InvalidValue(RosterError):
    scim_type = "invalidValue"
    code = "invalid_value"


class UnknownLocation(InvalidValue):
    """A ``location`` filter that names no location of the tenant: bad input to a list (400),
    not a missing resource. Each surface says where the locations are listed."""

    code = "unknown_location"

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown location {name!r}", attribute="location")
        self.name = name


class AmbiguousConnection(InvalidValue):
    """Several connections answer to what a person typed (a name two tenants use, a short
    prefix of an id); ``candidates`` describes each, so the person can pick one."""

    def __init__(self, text: str, candidates: Sequence[str]) -> None:
        super().__init__(
            f"connection {text!r} is ambiguous: it matches {'; '.join(candidates)}. Give more "
            "of the id, or the tenant (--tenant) to look the name up in"
        )
        self.candidates = tuple(candidates)


class InvalidVersion(RosterError):
    scim_type = "invalidVers"
    code = "invalid_version"


class Unauthorized(RosterError):
    status = 401
    code = "unauthorized"


class AuthenticationFailed(Unauthorized):
    """A SCIM request's bearer token (or its connection) is not valid: a 401 that still
    knows which tenant's log it belongs in (when the URL named a connection)."""

    code = "authentication_failed"

    def __init__(
        self,
        detail: str,
        *,
        tenant_id: int | None = None,
        connection_uid: str | None = None,
        token_sent: bool = True,
    ) -> None:
        super().__init__(detail)
        self.tenant_id = tenant_id
        self.connection_uid = connection_uid
        self.token_sent = token_sent


class NotFound(RosterError):
    status = 404
    code = "not_found"


class InvalidLink(NotFound):
    """A console set-up or password link that is unknown, used or expired."""

    code = "invalid_link"


class MethodNotAllowed(RosterError):
    status = 405
    code = "method_not_allowed"


class Conflict(RosterError):
    status = 409
    code = "conflict"


class UniquenessConflict(Conflict):
    scim_type = "uniqueness"
    code = "uniqueness"


class CursorExpired(RosterError):
    """A cursor older than the retention: the events after it may be gone (410)."""

    status = 410
    code = "cursor_expired"


class PreconditionFailed(RosterError):
    status = 412
    code = "precondition_failed"


class ConcurrentChange(PreconditionFailed):
    """The row changed between our read and our write (another process won)."""


class PayloadTooLarge(RosterError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RosterError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(RosterError):
    status = 429
    code = "too_many_requests"


class MailNotConfigured(RosterError):
    """The SMTP settings cannot send mail (no host, no sender address, …)."""

    code = "mail_not_configured"


class NoDatabase(RosterError):
    """The CLI found no database where it looked (and will not create an empty one)."""

    code = "no_database"


class InternalError(RosterError):
    status = 500
    code = "internal_error"


class NotSupported(RosterError):
    status = 501
    code = "not_supported"


class NotModified(RosterError):
    status = 304
    code = "not_modified"

    def __init__(self, detail: str, etag: str) -> None:
        super().__init__(detail)
        self.etag = etag  # RFC 7232 §4.1: a 304 carries the ETag a 200 would have
