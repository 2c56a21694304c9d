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


class EvidenceBundle(models.Model):
    """A signed evidence bundle asked for on a campaign's evidence page:
    built in the request when small, by the worker otherwise (with its
    progress), then downloaded from the page (console/bundle/jobs.py)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for the worker")
        RUNNING = "running", _("Being built")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(
        "notifications.Campaign",
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    rows_done = models.PositiveIntegerField(_("records written"), default=0)
    rows_total = models.PositiveIntegerField(_("records"), default=0)
    file_name = models.CharField(_("file"), max_length=255, blank=True, default="")
    size = models.PositiveBigIntegerField(_("size"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True, default="")
    key_fingerprint = models.CharField(
        _("key fingerprint"), max_length=64, blank=True, default=""
    )
    timestamped_at = models.DateTimeField(_("timestamped"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("evidence bundle")
        verbose_name_plural = _("evidence bundles")
        default_permissions = ()
        indexes = [models.Index(fields=["campaign", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.created_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)
