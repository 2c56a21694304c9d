"""The console's own tables: who signed in through the identity provider,
and the few minutes of password login a break-glass command grants."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SsoIdentity(models.Model):
    """An account created by a sign-in through the company's identity
    provider, found again by the provider's ``sub`` (stable, never reused),
    not by e-mail: an address can be renamed or handed to someone else."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="sso_identity",
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    sub = models.CharField(_("subject"), max_length=255)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_login_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("identity provider account")
        verbose_name_plural = _("identity provider accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "sub"], name="console_sso_identity_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.sub}"


class PasswordLoginGrant(models.Model):
    """With ADMIN_PASSWORD_LOGIN off, one account may use its password
    until ``until`` (``manage.py break_glass``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    until = models.DateTimeField(_("until"))
    granted_by = models.CharField(_("granted by"), max_length=150)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("emergency password login")
        verbose_name_plural = _("emergency password logins")
        indexes = [models.Index(fields=["user", "until"])]

    def __str__(self) -> str:
        return f"{self.user} until {self.until:%Y-%m-%d %H:%M}"
