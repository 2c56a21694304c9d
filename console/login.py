"""Admin login hardening: failed-attempt limits and the optional second factor.

Failures are counted in Django's cache (Redis in production when CACHES is
set, per process otherwise) per user name and per client address, for
LOGIN_LOCKOUT_SECONDS. The address is REMOTE_ADDR: X-Forwarded-For can be
forged by the client, so behind a proxy the proxy must set REMOTE_ADDR.
"""

from __future__ import annotations

import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp import device_classes, devices_for_user
from django_otp.forms import OTPAuthenticationFormMixin

from console.break_glass import password_login_allowed


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.lower().encode()).hexdigest()[:32]
    return f"login-fail:{kind}:{digest}"


def _keys(request: HttpRequest) -> list[tuple[str, int]]:
    username = request.POST.get("username", "")
    address = request.META.get("REMOTE_ADDR", "")
    return [
        (_key("user", username), settings.LOGIN_MAX_FAILURES),
        (_key("ip", address), settings.LOGIN_MAX_FAILURES_PER_IP),
    ]


def login_blocked(request: HttpRequest) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(request))


def login_failed(request: HttpRequest) -> None:
    for key, _limit in _keys(request):
        # add() starts the window; incr() never extends it.
        if not cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)


def login_succeeded(request: HttpRequest) -> None:
    cache.delete(_keys(request)[0][0])


def otp_in_use() -> bool:
    """Whether the login page asks for a one-time code: required for all,
    or some account has a confirmed device (who has one is not revealed:
    the field shows for everyone then). One EXISTS query per device type."""
    if settings.OTP_REQUIRED:
        return True
    return any(
        model.objects.filter(confirmed=True).exists() for model in device_classes()
    )


class LoginForm(AdminAuthenticationForm, OTPAuthenticationFormMixin):
    """Password, then a one-time code for users who registered a device
    (every user when OTP_REQUIRED is on)."""

    otp_device = forms.CharField(required=False, widget=forms.Select)
    otp_token = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    otp_challenge = forms.CharField(required=False)

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            # One device: no need to make the user pick it.
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = devices[0]
        return device

    def clean(self) -> dict:
        if not password_login_allowed(self.data.get("username", "")):
            raise forms.ValidationError(
                _("Password login is turned off. Sign in with your company account."),
                code="password_login_off",
            )
        self.cleaned_data = super().clean()
        user = self.get_user()
        if user is None:
            return self.cleaned_data
        has_device = any(devices_for_user(user, confirmed=True))
        if settings.OTP_REQUIRED and not has_device:
            raise forms.ValidationError(
                _(
                    "Two-factor authentication is required and your account has "
                    "no authentication device. Ask an administrator to register one."
                ),
                code="otp_missing",
            )
        if has_device:
            self.clean_otp(user)
        return self.cleaned_data
