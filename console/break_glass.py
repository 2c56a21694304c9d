"""Emergency password login while ADMIN_PASSWORD_LOGIN is off.

When the identity provider is down (or misconfigured), someone with shell
access on the server runs ``manage.py break_glass USER --minutes N``: that
one account may use its password (and its second factor, if it has one)
for N minutes. The grant and each use are in the audit log.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from console import sso
from console.models import PasswordLoginGrant

MAX_MINUTES = 240


def break_glass_grant(*, username: str, minutes: int, actor: str) -> PasswordLoginGrant:
    """Let ``username`` log in with a password for ``minutes``.
    Raises User.DoesNotExist, ValueError for minutes outside 1..240."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be between 1 and {MAX_MINUTES}")
    user = get_user_model().objects.get(username=username)
    grant = PasswordLoginGrant.objects.create(
        user=user, until=timezone.now() + timedelta(minutes=minutes), granted_by=actor
    )
    audit_record(
        actor=actor,
        action=AuditAction.BREAK_GLASS,
        target=user,
        after={"until": grant.until.isoformat(), "minutes": minutes},
        reason="password login granted while ADMIN_PASSWORD_LOGIN is off",
    )
    return grant


def password_login_allowed(username: str) -> bool:
    if sso.conf("ADMIN_PASSWORD_LOGIN"):
        return True
    return PasswordLoginGrant.objects.filter(
        user__username=username, until__gt=timezone.now()
    ).exists()


def break_glass_used(*, user) -> None:
    """A password login that only a grant allowed: one audit entry."""
    if sso.conf("ADMIN_PASSWORD_LOGIN"):
        return
    audit_record(
        actor=user,
        action=AuditAction.BREAK_GLASS,
        target=user,
        reason="password login used under a break-glass grant",
    )
