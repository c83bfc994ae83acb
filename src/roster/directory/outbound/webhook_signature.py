"""Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"),
made by the specification's reference package, ``standardwebhooks`` (no dependencies).

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is
HMAC-SHA256 with the secret's bytes (the base64 after ``whsec_``), base64-encoded and
prefixed with its version, ``v1,``.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification allows 24 to 64


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header's value for one attempt."""
    at = datetime.fromtimestamp(timestamp, UTC)
    return Webhook(secret).sign(message_id, at, body)


def headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "Roster-Webhooks/1",
    }
