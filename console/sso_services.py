"""What a sign-in through the identity provider writes: the account found by
its ``sub``, its roles set from the provider's groups, the audit entries.

Roles are the groups DPO / HR / Viewer (audit/migrations/0002_roles.py).
For an account the provider signs in, the provider is the source of truth:
each sign-in sets its groups to exactly the mapped ones (adding and
removing), so someone moved out of the DPO team loses the role at their next
sign-in, and someone the provider gives no mapped group gets no staff
account at all. SSO never creates or grants superusers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from console.models import SsoIdentity
from console.sso import SsoRefused, conf, role_map


def _claimed_groups(claims: dict[str, Any]) -> list[str]:
    value = claims.get(conf("OIDC_ROLE_CLAIM"), [])
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [str(item) for item in value] if isinstance(value, list) else []


def roles_from_claims(claims: dict[str, Any]) -> list[str]:
    """Our role names for the provider's groups, sorted."""
    mapping = role_map()
    return sorted({mapping[g] for g in _claimed_groups(claims) if g in mapping})


def _username(issuer: str, claims: dict[str, Any]) -> str:
    base = str(
        claims.get("preferred_username") or claims.get("email") or claims["sub"]
    )[:120]
    if not get_user_model().objects.filter(username=base).exists():
        return base
    # Taken by a local account or another provider's: never merged with it.
    suffix = hashlib.sha256(f"{issuer} {claims['sub']}".encode()).hexdigest()[:10]
    return f"{base}-sso-{suffix}"


def _who(claims: dict[str, Any]) -> str:
    return str(claims.get("email") or claims.get("preferred_username") or "")[:100]


def _refuse(reason: str, claims: dict[str, Any], *, no_role: bool = False) -> None:
    raise SsoRefused(reason, no_role=no_role, claims=claims)


def _check_acr(claims: dict[str, Any]) -> None:
    if conf("OIDC_REQUIRE_ACR") and claims.get("acr") not in conf("OIDC_REQUIRE_ACR"):
        _refuse(f"acr {claims.get('acr')!r} not in OIDC_REQUIRE_ACR", claims)


def _user_update(user, claims: dict[str, Any], roles: list[str]) -> None:
    user.email = str(claims.get("email") or user.email)[:254]
    user.first_name = str(claims.get("given_name") or user.first_name)[:150]
    user.last_name = str(claims.get("family_name") or user.last_name)[:150]
    user.is_staff = bool(roles)
    user.save(update_fields=["email", "first_name", "last_name", "is_staff"])
    before = sorted(user.groups.values_list("name", flat=True))
    if before != roles:
        user.groups.set(Group.objects.filter(name__in=roles))
        audit_record(
            actor=user,
            action=AuditAction.ROLE_CHANGE,
            target=user,
            before={"roles": before},
            after={"roles": roles},
            reason=f"groups from {conf('OIDC_ISSUER')}",
        )


def _user_create(issuer: str, claims: dict[str, Any]):
    user = get_user_model().objects.create_user(
        _username(issuer, claims), email=str(claims.get("email") or "")[:254]
    )  # no password: unusable, this account signs in through the provider only
    SsoIdentity.objects.create(user=user, issuer=issuer, sub=str(claims["sub"]))
    return user


def sso_sign_in(*, issuer: str, claims: dict[str, Any]):
    """The user the verified ``claims`` sign in, roles set; SsoRefused when
    they may not (no mapped group, deactivated account, weak acr). A known
    account left with no role keeps that change: its roles are removed and
    it loses staff access before the refusal."""
    _check_acr(claims)
    roles = roles_from_claims(claims)
    with transaction.atomic():
        identity = (
            SsoIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, sub=str(claims["sub"]))
            .first()
        )
        if identity is None and not roles:
            _refuse("no mapped group", claims, no_role=True)
        user = identity.user if identity else _user_create(issuer, claims)
        if not user.is_active:
            _refuse("account deactivated in this tool", claims)
        _user_update(user, claims, roles)
        if roles:
            SsoIdentity.objects.filter(user=user).update(last_login_at=timezone.now())
            audit_record(
                actor=user,
                action=AuditAction.SSO_LOGIN,
                target=user,
                after={"roles": roles, "sub": str(claims["sub"])},
                reason=f"signed in through {issuer}",
            )
    if not roles:
        _refuse("no mapped group", claims, no_role=True)
    return user


def sso_refusal_record(*, reason: str, claims: dict[str, Any]) -> None:
    who = _who(claims)
    audit_record(
        actor=f"sso:{who}" if who else "sso:unknown",
        action=AuditAction.SSO_REFUSED,
        after={"sub": str(claims.get("sub", ""))} if claims else None,
        reason=reason[:500],
    )
