"""API keys: made, found by their hash, revoked; the role's permissions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cached_property

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from api.models import ApiKey
from audit.models import AuditAction
from audit.services import audit_record

PREFIX = "nk_"
AUDIT_API_KEY = AuditAction.API_KEY_CHANGE
# last_used_at is written at most this often per key: not a write per request.
_TOUCH_EVERY = timedelta(seconds=60)


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_create(
    *, name: str, role: str, actor: object, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key; the clear key is returned once and never stored."""
    clear = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            role=role,
            prefix=clear[:10],
            key_sha256=_sha256(clear),
            expires_at=expires_at,
        )
        audit_record(
            actor=actor,
            action=AUDIT_API_KEY,
            target=key,
            after={"name": name, "role": role, "expires_at": expires_at},
        )
    return key, clear


def key_revoke(*, key: ApiKey, actor: object) -> bool:
    with transaction.atomic():
        changed = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            audit_record(
                actor=actor, action=AUDIT_API_KEY, target=key, after={"revoked": True}
            )
    return bool(changed)


def key_find(clear: str) -> ApiKey | None:
    """The valid key (not revoked, not expired), else None."""
    if not clear.startswith(PREFIX) or len(clear) > 200:
        return None
    key = ApiKey.objects.filter(key_sha256=_sha256(clear)).first()
    now = timezone.now()
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


class KeyUser:
    """What ``request.user`` is for a request made with a key: the role's
    group permissions, the key's name for the audit log."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, key: ApiKey) -> None:
        self.key = key

    def __str__(self) -> str:
        return self.key.actor

    def get_username(self) -> str:
        return self.key.actor

    @cached_property
    def _permissions(self) -> set[str]:
        group = Group.objects.filter(name=self.key.role).first()
        if group is None:
            return set()
        return {
            f"{app}.{codename}"
            for app, codename in group.permissions.values_list(
                "content_type__app_label", "codename"
            )
        }

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return perm in self._permissions

    def has_perms(self, perms: list[str]) -> bool:
        return all(self.has_perm(p) for p in perms)
