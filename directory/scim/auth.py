"""Bearer tokens of SCIM clients, and the limit on failed attempts.

A token is 32 random bytes (``secrets``); only its SHA-256 is stored. Failed
attempts are counted per client address in Django's cache (shared by every
worker when CACHE_URL points at Redis): past SCIM_AUTH_FAILURES_MAX within
SCIM_AUTH_FAILURES_WINDOW seconds, a wrong token gets 429 instead of 401
until the window ends. A valid token always passes: 256 random bits are not
found by guessing, and a guesser behind the same proxy address as Entra ID
must not be able to lock provisioning out.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from directory.models import ScimToken
from directory.scim.errors import ScimError

PREFIX = "scim_"
# last_used_at is written at most this often per token: not one UPDATE per
# request of a 10,000-user provisioning cycle.
LAST_USED_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, name: str, created_by: str = "") -> tuple[ScimToken, str]:
    """A new token: the row, and the token itself (shown once, never kept)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ScimToken.objects.create(
        name=name, token_sha256=_digest(token), created_by=created_by[:150]
    )
    return row, token


def _failure_key(request: HttpRequest) -> str:
    # The client address as the acknowledgement page's limit reads it
    # (ACK_CLIENT_IP_HEADER behind a proxy; notifications/acknowledgements/
    # throttle.py, which this layer may not import).
    header = settings.ACK_CLIENT_IP_HEADER
    raw = request.META.get(header, "").split(",")[-1].strip() if header else ""
    return "scim-auth-fail:" + (raw or request.META.get("REMOTE_ADDR", ""))


def _failed(key: str) -> None:
    window = settings.SCIM_AUTH_FAILURES_WINDOW
    if cache.add(key, 1, timeout=window):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)


def authenticate(request: HttpRequest) -> ScimToken:
    """The token a request carries, or a ScimError (401; 429 when its
    address failed too often)."""
    scheme, _space, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = None
    if scheme.lower() == "bearer" and raw.strip():
        token = (
            ScimToken.objects.filter(
                token_sha256=_digest(raw.strip()), revoked_at__isnull=True
            )
            .only("pk", "name", "last_used_at")
            .first()
        )
    if token is None:
        key = _failure_key(request)
        if (cache.get(key) or 0) >= settings.SCIM_AUTH_FAILURES_MAX:
            raise ScimError(
                429, "Too many failed authentication attempts; retry later."
            )
        _failed(key)
        raise ScimError(401, "A valid bearer token is required.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def actor_name(token: ScimToken) -> str:
    """How the audit log names what a token did."""
    return f"SCIM: {token.name}"


def tokens_revoke(*, token_ids: list[int], user: object) -> list[str]:
    """Revoke tokens (their clients get 401 from the next request), audited.
    Returns the names of those that were still active."""
    with transaction.atomic():
        names = list(
            ScimToken.objects.select_for_update()
            .filter(pk__in=token_ids, revoked_at__isnull=True)
            .values_list("name", flat=True)
        )
        ScimToken.objects.filter(name__in=names).update(revoked_at=timezone.now())
        if names:
            audit_record(
                actor=user,
                action=AuditAction.SCIM_TOKEN_CHANGE,
                after={"scim_tokens_revoked": names},
                reason="SCIM token revoked",
            )
    return names
