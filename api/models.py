"""API keys and the answers kept for ``Idempotency-Key``."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The admin's three roles (audit/migrations/0002_roles.py): a key acts
    with the permissions of the group of that name."""

    DPO = "DPO", "DPO"
    HR = "HR", "HR"
    VIEWER = "Viewer", "Viewer"


class ApiKey(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    # The first characters of the key, to recognise it in a list; the key
    # itself is never stored, only its SHA-256 (a random 256-bit key needs
    # no slow hash: there is nothing to guess).
    prefix = models.CharField(_("starts with"), max_length=16, editable=False)
    key_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def actor(self) -> str:
        """Who the audit log says made a change through this key."""
        return f"api:{self.name}"[:150]


class IdempotentAnswer(models.Model):
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, verbose_name=_("API key")
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    # What was asked: method, path and the body's SHA-256.
    request_sha256 = models.CharField(_("request SHA-256"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"))
    body = models.JSONField(_("body"), null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotent answer")
        verbose_name_plural = _("idempotent answers")
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_once")
        ]

    def __str__(self) -> str:
        return self.key
