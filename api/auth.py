"""DRF's side of the keys: Bearer authentication, role permissions, throttling."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from api.keys import KeyUser, key_find


class BearerKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = authentication.get_authorization_header(request).decode(
            "latin-1", "replace"
        )
        if not header:
            return None
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise exceptions.AuthenticationFailed(
                _("Send Authorization: Bearer <key>.")
            )
        key = key_find(value.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(_("Unknown, revoked or expired key."))
        return KeyUser(key), key

    def authenticate_header(self, request) -> str:  # type: ignore[no-untyped-def]
        return 'Bearer realm="api"'


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "http", "scheme": "bearer"}


class RolePermission(permissions.BasePermission):
    """A view names the permission each of its actions needs
    (``required = {"list": "employees.view_employee", …}``): the same
    permissions the role's group has in the admin."""

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        user = request.user
        if not isinstance(user, KeyUser):
            return False
        action = getattr(view, "action", None)
        if action is None:
            return True  # a method the view does not have: 405, said by DRF
        needed = view.required.get(action)
        if needed is None:
            return False
        if callable(needed):
            return bool(needed(user))
        return user.has_perm(needed)


class KeyThrottle(throttling.SimpleRateThrottle):
    """Per key: API_THROTTLE_RATE (429 with Retry-After past it)."""

    scope = "api_key"

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        if request.auth is None:
            return self.cache_format % {
                "scope": self.scope,
                "ident": self.get_ident(request),
            }
        ident = request.auth.key_sha256[:24]  # the key itself, never a reused id
        return self.cache_format % {"scope": self.scope, "ident": ident}
