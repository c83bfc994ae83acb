"""Resource versions as ETags, and the preconditions that compare them (RFC 7644 §3.14).

A resource's version is a number the directory bumps on every change; clients see it as
a weak entity tag (``W/"3"``) in ``meta.version`` and the ``ETag`` header, and send it
back in ``If-Match`` (a write applies only to the version they read) or
``If-None-Match`` (a read answers 304 when nothing changed).
"""

from __future__ import annotations

from roster.errors import NotModified, PreconditionFailed


def etag(version: int) -> str:
    """RFC 7644 §3.14: weak, since equal versions promise equal meaning, not equal bytes."""
    return f'W/"{version}"'


def matches(header: str, version: int) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list names ``version`` (or is ``*``)."""
    tags = [t.strip() for t in header.split(",")]
    current = etag(version)
    # Weak comparison (RFC 7232 §2.3.2): W/"3" and "3" name the same version.
    return "*" in tags or any(t.removeprefix("W/") == current.removeprefix("W/") for t in tags)


def check_if_match(version: int, if_match: str | None) -> None:
    """A write's precondition (RFC 7232 §3.1): 412 when the client's version is stale."""
    if if_match is not None and not matches(if_match, version):
        raise PreconditionFailed(
            f"If-Match {if_match} does not match the current version {etag(version)}"
        )


def check_if_none_match(version: int, if_none_match: str | None) -> None:
    """A read's precondition (RFC 7232 §3.2): 304, carrying the ETag, when unchanged."""
    if if_none_match is not None and matches(if_none_match, version):
        raise NotModified("not modified", etag(version))
