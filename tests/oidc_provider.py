"""A small but real OpenID Connect provider for the SSO tests.

An http.server thread on 127.0.0.1 serving discovery, JWKS, /authorize (no
login screen: it consents at once for ``next_user`` and redirects back with
a code), /token (one use per code, PKCE S256 checked, the client secret
checked, an RS256 ID token signed with joserfc: another library than the
PyJWT our side verifies with), /userinfo and /logout (end_session).

Per test, ``forge`` makes /token misbehave the way an attacker or a broken
provider would: ``wrong_key`` (signed by a key not in the JWKS, same kid),
``wrong_aud``, ``expired``, ``wrong_issuer``, ``wrong_nonce``, ``alg_none``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "notify-test-client"
CLIENT_SECRET = "test-client-secret"
KID = "test-key-1"


@functools.cache
def _key(name: str) -> RSAKey:
    """Made once per test process: a 2048-bit key takes a while."""
    return RSAKey.generate_key(
        2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"}, private=True
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


class OidcProvider:
    def __init__(self) -> None:
        self.key = _key("published")
        self.other_key = _key("forger")  # for "wrong_key": same kid, not published
        self.forge: str | None = None
        self.next_user: dict[str, Any] = {}
        self.acr: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.used_codes: list[str] = []
        self.token_refusals: list[str] = []
        self.logouts: list[dict[str, str]] = []
        self.tokens: dict[str, dict[str, Any]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )

    def __enter__(self) -> OidcProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign_in_as(self, sub: str, groups: list[str], **claims: Any) -> None:
        self.next_user = {
            "sub": sub,
            "email": claims.pop("email", f"{sub}@example.com"),
            "preferred_username": claims.pop("preferred_username", sub),
            "groups": groups,
            **claims,
        }

    # -- endpoints -----------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        required = ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
        if (
            query.get("response_type") != "code"
            or query.get("client_id") != CLIENT_ID
            or query.get("code_challenge_method") != "S256"
            or any(not query.get(name) for name in required)
            or "openid" not in query.get("scope", "").split()
        ):
            return 400, {}
        code = secrets.token_urlsafe(24)
        self.codes[code] = {**query, "user": dict(self.next_user)}
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": target}

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        code = form.get("code", "")
        grant = self.codes.pop(code, None)
        if grant is None:
            self.token_refusals.append("code unknown or already used")
            return 400, {"error": "invalid_grant"}
        self.used_codes.append(code)
        challenge = _b64(
            hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        )
        if challenge != grant["code_challenge"]:
            self.token_refusals.append("PKCE verifier does not match")
            return 400, {"error": "invalid_grant"}
        if (
            form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            self.token_refusals.append("client or redirect_uri")
            return 400, {"error": "invalid_client"}
        access = secrets.token_urlsafe(24)
        self.tokens[access] = grant["user"]
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(grant),
        }

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            **grant["user"],
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
        }
        if self.acr:
            claims["acr"] = self.acr
        key = self.key
        if self.forge == "wrong_key":
            key = self.other_key
        elif self.forge == "wrong_aud":
            claims["aud"] = "another-client"
        elif self.forge == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 600
        elif self.forge == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:1/evil"
        elif self.forge == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.forge == "alg_none":
            return _unsigned(claims)
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key)

    def userinfo(self, authorization: str) -> tuple[int, dict[str, Any]]:
        user = self.tokens.get(authorization.removeprefix("Bearer "))
        return (200, user) if user else (401, {"error": "invalid_token"})

    def _handler(self):  # type: ignore[no-untyped-def]
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, status: int, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif url.path == "/jwks":
                    self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                elif url.path == "/authorize":
                    self._redirect(*provider.authorize(query))
                elif url.path == "/userinfo":
                    self._json(
                        *provider.userinfo(self.headers.get("Authorization", ""))
                    )
                elif url.path == "/logout":
                    provider.logouts.append(query)
                    back = query.get("post_logout_redirect_uri", provider.issuer)
                    self._redirect(302, {"Location": back})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {
                    k: v[0]
                    for k, v in parse_qs(self.rfile.read(length).decode()).items()
                }
                if urlparse(self.path).path == "/token":
                    self._json(*provider.token(form))
                else:
                    self._json(404, {"error": "not_found"})

        return Handler


def sso_settings(settings, provider: OidcProvider, **extra: Any) -> None:
    """Point the project at ``provider`` (pytest-django's settings fixture)."""
    from console import sso

    sso.discovery_forget()
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_ROLE_MAP = "dpo-team=DPO,hr-team=HR,auditors=Viewer"
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    for name, value in extra.items():
        setattr(settings, name, value)
