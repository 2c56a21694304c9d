"""Standard Webhooks 1.0 signatures: secrets and the ``webhook-*`` headers.

Written out rather than taken from the ``standardwebhooks`` package: signing
is one HMAC (below), while the package pulls in an HTTP client and its
dependencies for the receiving side. The tests verify every delivery with
the package itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def secret_new() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_: list[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers; during a rotation, one signature per valid secret
    (space-separated, as the specification allows)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(s, message_id, timestamp, body) for s in secrets_
        ),
        "content-type": "application/json",
    }
