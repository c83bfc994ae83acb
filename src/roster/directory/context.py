"""Who is asking: the authenticated connection a SCIM request runs under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roster.directory.sync_options import SyncOptions
from roster.scim.dialects import Profile
from roster.scim.schema import ResourceType
from roster.storage.filtering import Scope


@dataclass(frozen=True)
class ConnectionContext:
    tenant_id: int
    tenant_slug: str
    connection_id: int  # internal key: scopes every query
    connection_uid: str  # public id: the base URL and the system log
    idp: str
    base_url: str
    profile: Profile  # the IdP dialect this connection speaks (scim/dialects/)
    sync: SyncOptions = field(default_factory=SyncOptions)  # the directory's settings
    # Per request: SCIM users whose groups changed, evaluated once when the operation ends
    # (directory/evaluations.py), and what that evaluation read of the tenant.
    pending_access: set[int] = field(default_factory=set, compare=False)
    memo: dict[str, Any] = field(default_factory=dict, compare=False)

    def scope(self, rt: ResourceType) -> Scope:
        return Scope(self.tenant_id, self.connection_id, rt)
