"""The identity provider's pages on our side: start a sign-in, its callback.

Thin: mozilla-django-oidc's views build the authorization request (state,
nonce, PKCE) and its backend exchanges and checks; here each refusal is
caught in one place, written to the audit log and answered with a neutral
page (the reason is in the log, never shown: it would help a forger).
"""

from __future__ import annotations

import logging

import requests
from django.contrib import auth
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from console import sso
from console.sso_services import sso_refusal_record

logger = logging.getLogger(__name__)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _refused(request: HttpRequest, refused: sso.SsoRefused) -> HttpResponse:
    logger.warning("SSO sign-in refused: %s", refused.reason)
    sso_refusal_record(reason=refused.reason, claims=refused.claims)
    if refused.no_role:
        title = _("You have no role in this tool")
        message = _(
            "Your company account signed in, but it is in none of the groups "
            "that give access to this tool. Ask your data protection officer "
            "or IT team to add you to the right group."
        )
    else:
        title = _("Sign-in failed")
        message = _(
            "The sign-in through your company account could not be completed. "
            "Go back to the login page and try again."
        )
    from django.contrib import admin

    context = {**admin.site.each_context(request), "title": title, "message": message}
    return TemplateResponse(request, "console/sso_refused.html", context, status=403)


class SsoStart(OIDCAuthenticationRequestView):
    get_settings = staticmethod(sso.lib_setting)

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not sso.enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = sso.lib_setting(
                "OIDC_OP_AUTHORIZATION_ENDPOINT"
            )
        except (requests.RequestException, ValueError, sso.SsoRefused) as exc:
            return _refused(request, sso.SsoRefused(f"discovery failed: {exc}"))
        return super().dispatch(request, *args, **kwargs)

    def __init__(self, *args, **kwargs) -> None:
        # The library reads the endpoint here; dispatch reads it instead,
        # where a provider that does not answer can be refused politely.
        self.OIDC_RP_CLIENT_ID = sso.lib_setting("OIDC_RP_CLIENT_ID")
        for key, value in kwargs.items():
            setattr(self, key, value)


def _authenticate(request: HttpRequest):
    if request.GET.get("error"):
        raise sso.SsoRefused(f"provider error: {request.GET['error'][:100]}")
    state, code = request.GET.get("state"), request.GET.get("code")
    if not state or not code:
        raise sso.SsoRefused("callback without code or state")
    states = request.session.get("oidc_states") or {}
    # One use per state: popped before the code is exchanged, so a replayed
    # callback finds nothing.
    pending = states.pop(state, None)
    request.session["oidc_states"] = states
    request.session.save()
    if pending is None:
        raise sso.SsoRefused("state mismatch (unknown or already used)")
    try:
        backend = sso.SsoBackend()
        user = backend.authenticate(
            request, nonce=pending["nonce"], code_verifier=pending["code_verifier"]
        )
    except SuspiciousOperation as exc:
        raise sso.SsoRefused(str(exc)) from exc
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise sso.SsoRefused(f"token exchange failed: {exc}") from exc
    if user is None:
        raise sso.SsoRefused("no user from the token exchange")
    return user, backend.id_token


def callback(request: HttpRequest) -> HttpResponse:
    """Replaces the library's callback view: the same state, nonce and PKCE
    bookkeeping, but every refusal audited, and the login made with
    ModelBackend so the SSO backend needs no AUTHENTICATION_BACKENDS entry."""
    if not sso.enabled():
        raise Http404
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    next_url = request.session.get("oidc_login_next") or "/admin/"
    try:
        user, id_token = _authenticate(request)
    except sso.SsoRefused as refused:
        return _refused(request, refused)
    auth.login(request, user, backend=MODEL_BACKEND)
    # The provider gave the second factor (and OIDC_REQUIRE_ACR may insist):
    # the admin site asks no local one-time code of this session.
    request.session[sso.SESSION_KEY] = sso.conf("OIDC_ISSUER")
    request.session[sso.ID_TOKEN_KEY] = id_token
    return HttpResponseRedirect(next_url)
