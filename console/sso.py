"""Admin sign-in through the company's identity provider (OpenID Connect).

The protocol is mozilla-django-oidc's (5.0.2), not ours: it builds the
authorization request with a state, a nonce and a PKCE S256 challenge,
exchanges the code, fetches the provider's JWKS and checks the ID token's
signature and nonce. Chosen over django-allauth because it is one small,
long-kept package that does exactly the authorization code flow for one
provider, with no accounts, e-mail or sign-up machinery of its own to turn
off beside our admin site. What it leaves to its users, done here:

- configuration from the provider's discovery document (the library reads
  endpoints from settings: ``lib_setting`` answers its questions);
- the ID token's issuer, audience and expiry (the library decodes with
  ``verify_aud`` off and does not require ``exp``): ``get_payload_data``;
- finding the account by the provider's ``sub`` and the roles from its
  groups (``console/sso_services.py``) instead of its e-mail match.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

# Asymmetric only: "none" and HS* (keyed with the client secret) never sign
# an ID token we accept.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
DISCOVERY_TTL = 3600
TIMEOUT = 10
LEEWAY = 60  # seconds of clock difference with the provider
SESSION_KEY = "sso_issuer"
ID_TOKEN_KEY = "sso_id_token"  # noqa: S105 (a session key name)
CALLBACK_URL = "sso_callback"

_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
# config/settings.py reads these from the environment; the defaults keep a
# settings module without that block (an older deployment's, a test's) on
# password login only.
DEFAULTS: dict[str, Any] = {
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    "OIDC_SCOPES": "openid email profile",
    "OIDC_ROLE_CLAIM": "groups",
    "OIDC_ROLE_MAP": "",
    "OIDC_PROVIDER_NAME": "SSO",
    "OIDC_REQUIRE_ACR": [],
    "ADMIN_PASSWORD_LOGIN": True,
}


def conf(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


class SsoRefused(Exception):
    """A sign-in refused: ``reason`` goes to the audit log, never to the page."""

    def __init__(
        self, reason: str, *, no_role: bool = False, claims: dict | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.no_role = no_role
        self.claims = claims or {}


def enabled() -> bool:
    return bool(conf("OIDC_ISSUER"))


def role_map() -> dict[str, str]:
    """OIDC_ROLE_MAP "dpo-team=DPO,auditors=Viewer" as {provider group: role}."""
    mapping: dict[str, str] = {}
    for item in conf("OIDC_ROLE_MAP").split(","):
        if not item.strip():
            continue
        group, sep, role = item.partition("=")
        if not sep or not group.strip() or not role.strip():
            raise ImproperlyConfigured(
                f"OIDC_ROLE_MAP: {item!r} is not provider-group=Role"
            )
        mapping[group.strip()] = role.strip()
    return mapping


def discovery() -> dict[str, Any]:
    """The provider's discovery document, kept for an hour per process."""
    issuer = conf("OIDC_ISSUER")
    fetched = _discovered.get(issuer)
    if fetched and time.monotonic() - fetched[0] < DISCOVERY_TTL:
        return fetched[1]
    response = requests.get(
        f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT
    )
    response.raise_for_status()
    document = response.json()
    # OpenID Connect Discovery 1.0, 4.3: the document names its own issuer.
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise SsoRefused(f"discovery names issuer {document.get('issuer')!r}")
    _discovered[issuer] = (time.monotonic(), document)
    return document


def discovery_forget() -> None:
    _discovered.clear()


def lib_setting(attr: str, *default: Any) -> Any:
    """What mozilla-django-oidc asks for, from our settings and discovery."""
    endpoints = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
        "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
        "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
        "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    }
    if attr in endpoints:
        return discovery().get(endpoints[attr])
    fixed = {
        "OIDC_RP_CLIENT_ID": conf("OIDC_CLIENT_ID"),
        "OIDC_RP_CLIENT_SECRET": conf("OIDC_CLIENT_SECRET"),
        "OIDC_RP_SCOPES": conf("OIDC_SCOPES"),
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_USE_NONCE": True,
        "OIDC_TIMEOUT": TIMEOUT,
        "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_URL,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_AUTH_REQUEST_EXTRA_PARAMS": (
            {"acr_values": " ".join(conf("OIDC_REQUIRE_ACR"))}
            if conf("OIDC_REQUIRE_ACR")
            else {}
        ),
    }
    if attr in fixed:
        return fixed[attr]
    return import_from_settings(attr, *default)


def end_session_url(request: HttpRequest) -> str | None:
    """Where to send a signing-out SSO user so the provider's session ends
    too, when the provider offers it (RP-Initiated Logout 1.0)."""
    if not enabled() or not request.session.get(SESSION_KEY):
        return None
    try:
        endpoint = discovery().get("end_session_endpoint")
    except (requests.RequestException, ValueError, SsoRefused):
        return None
    if not endpoint:
        return None
    params = {
        "client_id": conf("OIDC_CLIENT_ID"),
        "post_logout_redirect_uri": request.build_absolute_uri("/admin/login/"),
    }
    if request.session.get(ID_TOKEN_KEY):
        params["id_token_hint"] = request.session[ID_TOKEN_KEY]
    return f"{endpoint}?{urlencode(params)}"


class SsoBackend(OIDCAuthenticationBackend):
    """Called by ``sso_views.callback`` only, never listed in
    AUTHENTICATION_BACKENDS: a password login never reaches it, and the
    signed-in user is then an ordinary ModelBackend user."""

    get_settings = staticmethod(lib_setting)
    id_token: str = ""

    def get_payload_data(self, token: str, key: Any) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALGORITHMS:
                raise SuspiciousOperation(f"ID token signed with {header.get('alg')}")
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=conf("OIDC_CLIENT_ID"),
                issuer=conf("OIDC_ISSUER"),
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else []
        if len(audiences) > 1 and claims.get("azp") != conf("OIDC_CLIENT_ID"):
            raise SuspiciousOperation("ID token for several audiences, azp not ours")
        return claims

    def store_tokens(self, access_token: str, id_token: str) -> None:
        # Kept on the backend: the view stores it once the session is the
        # signed-in user's (login may flush an older session).
        self.id_token = id_token

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ):
        from console.sso_services import sso_sign_in

        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = self.get_userinfo(access_token, id_token, payload)
            # OpenID Connect Core 5.3.2: userinfo must be about the same sub.
            if userinfo.get("sub") != payload["sub"]:
                raise SsoRefused("userinfo sub differs from the ID token's")
            claims = {**userinfo, **payload}
        return sso_sign_in(issuer=conf("OIDC_ISSUER"), claims=claims)
