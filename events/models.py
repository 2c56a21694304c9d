"""The outbox of domain events and the webhook endpoints they go to.

- ``Event``: one row per domain event, written by ``outbox.emit`` in the
  transaction of the change it reports (a change that rolls back leaves no
  event; a committed one is never lost, whatever worker or broker dies).
- ``WebhookEndpoint``: where to send which event types, with its signing
  secret (and the previous one during a rotation's grace period).
- ``WebhookDelivery``: one event to one endpoint: the delivery log and the
  schedule of its retries (``next_attempt_at``), the idempotency key of
  sending (unique per event and endpoint).
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def message_id_new() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Event(models.Model):
    # The Standard Webhooks ``webhook-id``: the same on every attempt and
    # every endpoint, the receiver's idempotency key.
    message_id = models.CharField(
        _("message id"), max_length=40, unique=True, default=message_id_new
    )
    type = models.CharField(_("type"), max_length=64)
    data = models.JSONField(_("data"), default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # False until the worker has made its deliveries (one per endpoint).
    fanned_out = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-id"]
        indexes = [
            # The worker's scan of the outbox: only the rows not fanned out.
            models.Index(
                fields=["id"],
                name="event_not_fanned_out",
                condition=Q(fanned_out=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class WebhookEndpoint(models.Model):
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(
        _("description"), max_length=200, blank=True, default=""
    )
    events = models.JSONField(_("events"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    # "whsec_" + base64 of 32 random bytes; shown once, when made.
    secret = models.CharField(max_length=80, editable=False)
    previous_secret = models.CharField(
        max_length=80, blank=True, default="", editable=False
    )
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Since when every attempt failed (None: the last one succeeded).
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)
    disabled_reason = models.CharField(
        _("why disabled"), max_length=255, blank=True, default=""
    )

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")


class WebhookDelivery(models.Model):
    event = models.ForeignKey(
        Event, verbose_name=_("event"), on_delete=models.CASCADE, db_index=False
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveIntegerField(
        _("response code"), null=True, blank=True
    )
    last_duration_ms = models.PositiveIntegerField(
        _("response time (ms)"), null=True, blank=True
    )
    last_error = models.CharField(_("error"), max_length=255, blank=True, default="")
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"], name="webhook_delivery_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"
