"""Delivery tracking: ESP webhooks (through django-anymail) and bad addresses.

Events arrive late, twice and out of order (a "delivered" retried by the ESP
after the "bounced" that followed it). One table ranks the statuses; an event
only moves a Delivery up the ranking, with a conditional UPDATE, so a
duplicate or an older event changes nothing and two webhook requests racing
cannot undo each other.
"""

from __future__ import annotations

import logging
from datetime import datetime

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from employees.models import EmailStatus, Employee
from employees.signals import AddressChange, addresses_changed
from events.outbox import emit, personal_data_allowed, subscribed_types
from notifications.models import Delivery, DeliveryStatus, Recipient

logger = logging.getLogger(__name__)

# anymail's normalised event -> our status. Opens and clicks are not
# tracked (privacy: reading is proven by the acknowledgement, not pixels).
EVENT_STATUS: dict[str, str] = {
    EventType.DELIVERED: DeliveryStatus.DELIVERED,
    EventType.DEFERRED: DeliveryStatus.DEFERRED,
    EventType.BOUNCED: DeliveryStatus.BOUNCED,
    EventType.COMPLAINED: DeliveryStatus.COMPLAINED,
    EventType.REJECTED: DeliveryStatus.REJECTED,
    EventType.FAILED: DeliveryStatus.FAILED,
}

# The precedence of statuses: a Delivery only ever moves to a higher rank.
# "delivered" outranks "deferred" (the retry worked) but not "bounced" (a
# late duplicate of the delivery report must not hide the bounce); a
# complaint comes after a delivery and outranks everything.
STATUS_RANK: dict[str, int] = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DEFERRED: 4,
    DeliveryStatus.DELIVERED: 5,
    DeliveryStatus.REJECTED: 6,
    DeliveryStatus.BOUNCED: 6,
    DeliveryStatus.COMPLAINED: 7,
}

# The statuses that send a delivery.failed webhook.
_FAILED = (
    DeliveryStatus.BOUNCED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.FAILED,
    DeliveryStatus.REJECTED,
)
# What a tracking event says about the address itself.
_ADDRESS_STATUS: dict[str, str] = {
    DeliveryStatus.BOUNCED: EmailStatus.BOUNCED,
    DeliveryStatus.COMPLAINED: EmailStatus.COMPLAINED,
}
# Delivery statuses worth showing next to a bad address.
ADDRESS_PROBLEMS = (
    DeliveryStatus.BOUNCED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.REJECTED,
)
# Bounces that say nothing about the address (mailbox full, greylisting).
_SOFT_BOUNCE_TYPES = {"SoftBounce", "Transient"}

# Backends that hand the message to a local outbox: no ESP will ever report
# a delivery, and the message is where it will be read, so it counts as
# delivered (the demo's figures).
LOCAL_BACKENDS = (
    "notifications.outbox.EmailBackend",
    "notifications.delivery.outbox.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.console.EmailBackend",
)


def status_after_send(backend: str | None = None) -> str:
    """The status of a message the backend accepted: sent, or delivered
    when the backend is a local outbox."""
    backend = backend or settings.EMAIL_BACKEND
    return (
        DeliveryStatus.DELIVERED if backend in LOCAL_BACKENDS else DeliveryStatus.SENT
    )


def _lower_ranks(status: str) -> list[str]:
    rank = STATUS_RANK[status]
    return [s for s, r in STATUS_RANK.items() if r < rank]


def _id_variants(message_id: str) -> list[str]:
    # SMTP Message-IDs are stored with angle brackets; some ESPs report them
    # without (and anymail adds them for Mailgun).
    bare = message_id.strip().strip("<>")
    return list({message_id, bare, f"<{bare}>"})


def _is_hard(event: AnymailTrackingEvent, status: str) -> bool:
    if status == DeliveryStatus.COMPLAINED:
        return True
    if status != DeliveryStatus.BOUNCED:
        return False
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    return esp_event.get("Type") not in _SOFT_BOUNCE_TYPES


def _describe(event: AnymailTrackingEvent) -> str:
    parts = [
        event.event_type,
        event.reject_reason,
        event.description,
        event.mta_response,
    ]
    return " — ".join(str(p) for p in parts if p)[:2000]


def delivery_event_apply(
    *,
    message_id: str,
    status: str,
    at: datetime | None = None,
    description: str = "",
    hard: bool | None = None,
) -> int:
    """Move the matching Delivery rows to ``status`` if it outranks theirs.

    Returns the number of rows changed (0 for a duplicate, an older event or
    an unknown id). A hard bounce or a complaint marks the address bad.
    """
    if not message_id or status not in STATUS_RANK:
        return 0
    at = at or timezone.now()
    rows = Delivery.objects.filter(esp_message_id__in=_id_variants(message_id))
    with transaction.atomic():
        changed = rows.filter(status__in=_lower_ranks(status)).update(
            status=status, status_at=at, last_error=description
        )
        if changed and status in _FAILED:
            failed_emit(rows, status)
        if status in _ADDRESS_STATUS and (hard if hard is not None else True):
            for delivery in rows.only("id", "to_email", "recipient_id", "manager_id"):
                address_mark_bad(
                    delivery=delivery, email_status=_ADDRESS_STATUS[status]
                )
    return changed


def failed_emit(rows: object, status: str) -> None:
    """A delivery.failed webhook per message (ids; the address if allowed)."""
    if "delivery.failed" not in subscribed_types():
        return  # nobody listens: not even the query
    names = {"id": "delivery_id", "step_id": "step_id", "recipient_id": "recipient_id"}
    names |= {
        "step__campaign_id": "campaign_id",
        "step__campaign__reference": "reference",
    }
    if personal_data_allowed():
        names["to_email"] = "email"
    for row in rows.values(*names):  # type: ignore[attr-defined]
        data = {names[key]: value for key, value in row.items()}
        emit("delivery.failed", {**data, "status": status})


def address_mark_bad(*, delivery: Delivery, email_status: str) -> bool:
    """Mark the employee's address bounced/complained.

    Only if the employee still has the address the message went to (HR may
    have fixed it since: a late bounce of the old address must not mark the
    new one), and a complaint is never downgraded to a bounce.
    """
    if delivery.recipient_id:
        employee_id = (
            Recipient.objects.filter(pk=delivery.recipient_id)
            .values_list("employee_id", flat=True)
            .first()
        )
    else:
        employee_id = delivery.manager_id
    people = Employee.objects.filter(pk=employee_id, email__iexact=delivery.to_email)
    if email_status == EmailStatus.BOUNCED:
        people = people.filter(email_status=EmailStatus.OK)
    else:
        people = people.exclude(email_status=email_status)
    changed = people.update(email_status=email_status, updated_at=timezone.now())
    if changed:
        logger.info("employee %s address marked %s", employee_id, email_status)
    return bool(changed)


def address_fixed(*, employee: Employee, previous_email: str) -> bool:
    """HR changed a bad address: back to ok, so the next step includes them.

    Call after saving an Employee whose email changed (admin, import). The
    snapshot of the address in launched campaigns follows, so the DPO's lists
    show where the next message goes. Returns True when the status was reset.
    """
    if employee.email.strip().lower() == (previous_email or "").strip().lower():
        return False
    Recipient.objects.filter(employee=employee, acknowledged_at__isnull=True).update(
        email=employee.email
    )
    return bool(
        Employee.objects.filter(pk=employee.pk)
        .filter(~Q(email_status=EmailStatus.OK))
        .update(email_status=EmailStatus.OK, updated_at=timezone.now())
    )


@receiver(addresses_changed, dispatch_uid="notifications.addresses_changed")
def addresses_changed_received(
    sender: object, changes: list[AddressChange], **kwargs: object
) -> None:
    """The directory changed addresses (an import, an admin edit)."""
    for change in changes:
        employee = Employee(pk=change.employee_id, email=change.email)
        address_fixed(employee=employee, previous_email=change.previous_email)


@receiver(tracking, dispatch_uid="notifications.delivery.tracking")
def tracking_received(
    sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: object
) -> None:
    """anymail's signal, sent once per event of a verified webhook call."""
    status = EVENT_STATUS.get(event.event_type)
    if status is None or not event.message_id:
        return
    changed = delivery_event_apply(
        message_id=event.message_id,
        status=status,
        at=event.timestamp,
        description=_describe(event),
        hard=_is_hard(event, status),
    )
    logger.debug("%s %s event: %s deliveries updated", esp_name, status, changed)
