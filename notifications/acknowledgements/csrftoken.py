"""The link page's CSRF form token, as Django's ``get_token`` makes it.

Django's ``get_token`` draws each of the 64 characters of a new secret and
its mask with ``secrets.choice``: 64 reads of the OS random source, a third
of the link page's own CPU time when the visitor has no CSRF cookie yet (the
usual case: a person opens the link from a message once). This draws the
same characters from one read, with rejection sampling so every character
stays uniform over Django's alphabet, and otherwise does exactly what
``get_token`` does: the secret goes to ``request.META["CSRF_COOKIE"]`` (or
comes from it, when the browser sent the cookie), CsrfViewMiddleware sets
the cookie on the response, and the form token is the secret masked with a
fresh random mask per response (Django's defence against BREACH), so the
POST passes the middleware's unchanged check.
"""

from __future__ import annotations

import secrets

from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH

_CHARS = CSRF_ALLOWED_CHARS
_BASE = len(_CHARS)  # 62
# Bytes at or above the largest multiple of 62 below 256 are dropped:
# b % 62 over the rest is exactly uniform.
_UNBIASED = 256 - 256 % _BASE  # 248
_INDEX = {char: i for i, char in enumerate(_CHARS)}


def _random_indexes(count: int) -> list[int]:
    """``count`` independent uniform indexes into the alphabet."""
    found: list[int] = []
    while len(found) < count:
        # 248/256 of the bytes are kept: 8 spare bytes make a second read
        # rare (about one call in 15,000 for count = 64).
        found += [b % _BASE for b in secrets.token_bytes(count + 8) if b < _UNBIASED]
    return found[:count]


def get_token(request) -> str:  # type: ignore[no-untyped-def]
    """A masked CSRF token for a form; same contract as Django's get_token."""
    secret = request.META.get("CSRF_COOKIE")
    if secret is None:
        indexes = _random_indexes(2 * CSRF_SECRET_LENGTH)
        secret_idx, mask = indexes[:CSRF_SECRET_LENGTH], indexes[CSRF_SECRET_LENGTH:]
        request.META["CSRF_COOKIE"] = "".join(_CHARS[i] for i in secret_idx)
    else:
        # The middleware has checked the cookie's format (alphanumeric,
        # 32 characters once unmasked) before the view runs.
        secret_idx = [_INDEX[c] for c in secret]
        mask = _random_indexes(CSRF_SECRET_LENGTH)
    # Send the cookie (again: it renews its expiry), as get_token does.
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True
    cipher = "".join(
        _CHARS[(s + m) % _BASE] for s, m in zip(secret_idx, mask, strict=True)
    )
    return "".join(_CHARS[m] for m in mask) + cipher
