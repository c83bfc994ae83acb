"""Which webhook URLs Roster will call (docs/events.md, "Endpoint URLs").

A webhook makes Roster send requests to an address a tenant admin chose, from inside the
deployment's network: without checks it would reach the database, the cloud metadata
service (169.254.169.254) or anything else on a private network (server-side request
forgery). So https is required and every address the host name resolves to must be
public — checked when the endpoint is added and again before every attempt, since a name
may resolve elsewhere later. Settings relax both for development and tests:
``ROSTER_WEBHOOK_ALLOW_HTTP``, ``ROSTER_WEBHOOK_ALLOW_PRIVATE``.

The check and the connection resolve the name separately: a name whose DNS answer flips
between the two (DNS rebinding) could still slip past; a deployment that must exclude
that routes webhooks through an egress proxy.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from roster.errors import InvalidValue

Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    infos: list[Any] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool = False
    allow_private: bool = False
    resolver: Resolver = resolve


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None


def check(url: str, policy: UrlPolicy) -> str:
    """The URL, checked; InvalidValue saying why it is refused."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidValue(f"webhook URL {url!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidValue(f"webhook URL {url!r} must be an absolute https:// URL")
    if parts.scheme == "http" and not policy.allow_http:
        raise InvalidValue(
            f"webhook URL {url!r} must use https (set ROSTER_WEBHOOK_ALLOW_HTTP=true to "
            "allow http, for development only)"
        )
    if parts.username or parts.password:
        raise InvalidValue("webhook URL must not carry credentials; the signature authenticates")
    host = parts.hostname
    try:
        addresses = policy.resolver(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as err:
        raise InvalidValue(f"webhook host {host!r} does not resolve: {err}") from None
    if not addresses:
        raise InvalidValue(f"webhook host {host!r} does not resolve")
    if not policy.allow_private:
        for address in addresses:
            why = _refused(ipaddress.ip_address(address.split("%")[0]))
            if why is not None:
                raise InvalidValue(
                    f"webhook host {host!r} resolves to {address}, a {why} address: refused "
                    "(set ROSTER_WEBHOOK_ALLOW_PRIVATE=true to allow private addresses)"
                )
    return url
