"""Session, login, two-factor and messages middleware, off on public pages.

The personal acknowledgement link and /verify/ are read by people without an
account: they use no session, no user and no messages. Each of these four
middleware costs a little on every request (a lazy session store, a lazy
user wrapped twice, a message store with its cookie signer), which together
was about a tenth of the link page's time; on the public pages they hand the
request straight on. Everywhere else (the admin) they run unchanged, and the
admin's system checks still find them (they are subclasses).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import BadRequest
from django.middleware import locale
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header
from django_otp import middleware as otp

from notifications.acknowledgements.urls import PUBLIC_PATHS

# SCIM clients authenticate with a bearer token on every request (directory/
# scim/auth.py): no session, user or messages there either.
_SKIPPED = (*PUBLIC_PATHS, "/scim/")


class _NotOnPublicPages:
    get_response: object

    def __call__(self, request):  # type: ignore[no-untyped-def]
        if request.path_info.startswith(_SKIPPED):
            return self.get_response(request)  # type: ignore[operator]
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(_NotOnPublicPages, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_NotOnPublicPages, auth.AuthenticationMiddleware):
    pass


class OTPMiddleware(_NotOnPublicPages, otp.OTPMiddleware):
    pass


class MessageMiddleware(_NotOnPublicPages, messages.MessageMiddleware):
    pass


# The admin and its sign-in pages.
_ADMIN = ("/admin/", "/sso/")


class LocaleMiddleware(locale.LocaleMiddleware):
    """Django's, with the admin kept to ADMIN_LANGUAGES: the languages this
    project's own admin strings are written in (French and English). The
    public pages speak every configured language; a German browser in the
    admin would otherwise get Django's strings in German and ours in
    LANGUAGE_CODE's language, mixed on one page."""

    def process_request(self, request):  # type: ignore[no-untyped-def]
        super().process_request(request)
        if not request.path_info.startswith(_ADMIN):
            return  # the public pages, 404s included: every language
        if translation.get_language() in settings.ADMIN_LANGUAGES:
            return
        language = _admin_language(request.headers.get("accept-language", ""))
        translation.activate(language)
        request.LANGUAGE_CODE = language


def _admin_language(accept: str) -> str:
    """The browser's first choice among ADMIN_LANGUAGES, else the first."""
    for tag, _quality in parse_accept_lang_header(accept):
        base = tag.split("-")[0].lower()
        if base in settings.ADMIN_LANGUAGES:
            return base
    return settings.ADMIN_LANGUAGES[0]


def nul_refused(get_response):  # type: ignore[no-untyped-def]
    """A NUL character in the query string (``%00``) is a 400 before any
    view: no stored value holds one, and PostgreSQL refuses it in a query,
    so the admin's filters and the dashboard's answered with a 500. The API
    refuses it in its own error format (api/views.py)."""

    def middleware(request):  # type: ignore[no-untyped-def]
        if "%00" in request.META.get(
            "QUERY_STRING", ""
        ) and not request.path.startswith("/api/"):
            raise BadRequest("NUL character in the query string")
        return get_response(request)

    return middleware
