"""Domain errors. Each knows its HTTP status and, for SCIM, its scimType (RFC 7644 §3.12).

One translator per surface renders them: the SCIM error body (http), a CLI message (cli).
"""

from __future__ import annotations


class RosterError(Exception):
    """Base of every error a caller can act on."""

    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidFilter(RosterError):
    scim_type = "invalidFilter"


class TooMany(RosterError):
    scim_type = "tooMany"


class UniquenessConflict(RosterError):
    status = 409
    scim_type = "uniqueness"


class MutabilityViolation(RosterError):
    scim_type = "mutability"


class InvalidSyntax(RosterError):
    scim_type = "invalidSyntax"


class InvalidPath(RosterError):
    scim_type = "invalidPath"


class NoTarget(RosterError):
    scim_type = "noTarget"


class InvalidValue(RosterError):
    scim_type = "invalidValue"


class InvalidVersion(RosterError):
    scim_type = "invalidVers"


class NotFound(RosterError):
    status = 404


class PreconditionFailed(RosterError):
    status = 412


class NotModified(RosterError):
    status = 304

    def __init__(self, detail: str, etag: str) -> None:
        super().__init__(detail)
        self.etag = etag  # RFC 7232 §4.1: a 304 carries the ETag a 200 would have


class NotSupported(RosterError):
    status = 501


class Conflict(RosterError):
    status = 409


class Unauthorized(RosterError):
    status = 401


class PayloadTooLarge(RosterError):
    status = 413


class MethodNotAllowed(RosterError):
    status = 405
