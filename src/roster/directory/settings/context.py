"""Who is asking: the authenticated connection a SCIM request runs under."""

from __future__ import annotations

from dataclasses import dataclass, field

from roster.directory.settings.model import DEFAULTS, ConnectionSettings
from roster.directory.settings.rate_limits import Override
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
    settings: ConnectionSettings = DEFAULTS  # its settings but the quirks (settings/model.py)
    # The tenant's configuration version: validates the process's cache of its rules,
    # mappings and locations (directory/settings/config_cache.py).
    config_version: int = 0
    rate_limit: Override = field(default_factory=Override)  # its own rate limit, if any

    def scope(self, rt: ResourceType) -> Scope:
        return Scope(self.tenant_id, self.connection_id, rt)
