"""Personal acknowledgement tokens.

A token must be random, URL-safe, at least 128 bits, never stored, and yet the
same link must go in every message of a campaign (and in `campaign_links`). So
each recipient gets a random 32-byte seed; the token is HMAC-SHA256(key, seed)
in URL-safe base64 (256 bits), and only its SHA-256 is stored to find the
recipient from a link. A database dump alone yields no working link; the key is
ACK_TOKEN_KEY when set, else SECRET_KEY (rotating it invalidates every link).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings


def _key() -> bytes:
    return (getattr(settings, "ACK_TOKEN_KEY", "") or settings.SECRET_KEY).encode()


def token_seed_new() -> str:
    return secrets.token_urlsafe(32)


def token_from_seed(seed: str) -> str:
    digest = hmac.new(_key(), seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_pair_new() -> tuple[str, str, str]:
    """A new (seed, clear token, token hash); store seed and hash only."""
    seed = token_seed_new()
    token = token_from_seed(seed)
    return seed, token, token_hash(token)
