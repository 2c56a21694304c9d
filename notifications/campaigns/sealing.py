"""Which campaign records the ledger seals into its chain, and how it reads them.

Registered with the ledger (audit/registry.py) from NotificationsConfig.ready():
the ledger hashes these rows without importing this app. The fields below are
what a record's hash covers: the clear ones as they are, the personal ones
only through a salted digest that an erasure can forget (audit/chain.py). The
evidence export writes exactly these fields, so a file can be checked alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from audit import registry
from notifications.models import Campaign, Delivery, Recipient

DELIVERY_FIELDS = (
    "id",
    "step_id",
    "recipient_id",
    "manager_id",
    "language",
    "status",
    "content_id",
    "content_sha256",
    "esp_message_id",
    "sent_at",
)
DELIVERY_PERSONAL = ("to_email",)
RECIPIENT_FIELDS = (
    "id",
    "campaign_id",
    "employee_id",
    "language",
    "enrolled_at",
    "acknowledged_at",
    "answer",
    "content_version_seen_id",
)
RECIPIENT_PERSONAL = ("email", "first_name", "last_name")


class RecordKind(models.TextChoices):
    DELIVERY = "delivery", _("Delivery")
    RECIPIENT = "recipient", _("Recipient")


def _values(
    queryset: models.QuerySet, ids: Iterable[int] | None, names: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    if ids is not None:
        queryset = queryset.filter(id__in=list(ids))
    names = tuple(dict.fromkeys(names))
    return queryset.order_by("id").values(*names).iterator(chunk_size=2000)


def _delivery_rows(campaign_id: int, ids: Iterable[int] | None) -> Iterator[dict]:
    extra = ("step__campaign_id", "recipient__employee_id")
    queryset = Delivery.objects.filter(step__campaign_id=campaign_id)
    for row in _values(queryset, ids, (*DELIVERY_FIELDS, *DELIVERY_PERSONAL, *extra)):
        # A manager digest is about the manager it went to.
        row["campaign_id"] = row.pop("step__campaign_id")
        row["employee_id"] = row.pop("recipient__employee_id") or row["manager_id"]
        yield row


def _recipient_rows(campaign_id: int, ids: Iterable[int] | None) -> Iterator[dict]:
    queryset = Recipient.objects.filter(campaign_id=campaign_id)
    return _values(queryset, ids, (*RECIPIENT_FIELDS, *RECIPIENT_PERSONAL))


def register() -> None:
    registry.kind_register(
        registry.SealedKind(
            RecordKind.DELIVERY, DELIVERY_FIELDS, DELIVERY_PERSONAL, _delivery_rows
        )
    )
    registry.kind_register(
        registry.SealedKind(
            RecordKind.RECIPIENT, RECIPIENT_FIELDS, RECIPIENT_PERSONAL, _recipient_rows
        )
    )
    registry.subject_register("notifications.recipient", lambda r: r.employee_id)
    registry.seal_target_register(
        lambda campaign_id: Campaign.objects.filter(pk=campaign_id).first()
    )
