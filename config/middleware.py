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

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django_otp import middleware as otp

from notifications.acknowledgements.urls import PUBLIC_PATHS


class _NotOnPublicPages:
    get_response: object

    def __call__(self, request):  # type: ignore[no-untyped-def]
        if request.path_info.startswith(PUBLIC_PATHS):
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
