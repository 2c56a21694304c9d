"""An employee's rights over the tool's own data: access (art. 15) and
erasure (art. 17), and the anonymisation the retention task applies.

Erasure blanks personal fields but keeps the rows: recipients and deliveries
are the organisation's evidence, and their hashes stay verifiable because
personal fields only ever entered the chain as a salted digest (chain.py).
The salt is forgotten with the data, so the digest can no longer be matched
against a guessed address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import chain, services
from audit.models import AuditAction, AuditEntry, SealedRecord
from directory.scim.services import scim_user_data, scim_user_forget
from employees.models import Employee
from notifications.campaigns.sealing import RecordKind
from notifications.models import Delivery, Recipient

ERASED_DOMAIN = "erased.invalid"


def _iso(value: Any) -> Any:
    return chain._value(value)


def erased_email(employee_id: int) -> str:
    # Unique (the directory requires it) and undeliverable (.invalid, RFC 2606).
    return f"erased-{employee_id}@{ERASED_DOMAIN}"


def is_erased(employee: Employee) -> bool:
    return employee.email == erased_email(employee.pk)


def _deliveries(employee: Employee):
    return Delivery.objects.filter(
        Q(recipient__employee=employee) | Q(manager=employee)
    )


def person_data(employee: Employee) -> dict[str, Any]:
    """Everything the tool holds about one person, as JSON-ready data."""
    recipients = Recipient.objects.filter(employee=employee).select_related("campaign")
    deliveries = _deliveries(employee).select_related("step__campaign")
    entries = AuditEntry.objects.filter(subject_employee_id=employee.pk)
    return {
        "employee": {
            "id": employee.pk,
            "email": employee.email,
            "hr_id": employee.hr_id,
            "first_name": employee.first_name,
            "last_name": employee.last_name,
            "department": employee.department,
            "country": employee.country,
            "language": employee.language,
            "manager_id": employee.manager_id,
            "is_active": employee.is_active,
            "email_status": employee.email_status,
            "created_at": _iso(employee.created_at),
            "updated_at": _iso(employee.updated_at),
            "deactivated_at": _iso(employee.deactivated_at),
            "time_zone": employee.time_zone,
            "source": employee.source,
            "synced_at": _iso(employee.synced_at),
            # What the identity provider sent through SCIM, if it did.
            "scim": scim_user_data(employee.pk),
        },
        "campaigns": [
            {
                "campaign": r.campaign.name,
                "reference": r.campaign.reference,
                "email": r.email,
                "first_name": r.first_name,
                "last_name": r.last_name,
                "language": r.language,
                "enrolled_at": _iso(r.enrolled_at),
                "acknowledged_at": _iso(r.acknowledged_at),
                "answer": r.answer,
            }
            for r in recipients.order_by("enrolled_at")
        ],
        "messages": [
            {
                "campaign": d.step.campaign.name,
                "step": d.step.kind,
                "to": d.to_email,
                "status": d.status,
                "sent_at": _iso(d.sent_at),
                "content_sha256": d.content_sha256,
            }
            for d in deliveries.order_by("id")
        ],
        "audit_log": [
            {
                "when": _iso(e.created_at),
                "action": e.action,
                "who": e.username,
                "reason": e.reason,
            }
            for e in entries.order_by("seq")
        ],
    }


def person_export(*, employee: Employee, actor: Any) -> dict[str, Any]:
    data = person_data(employee)
    services.audit_record(
        actor=actor, action=AuditAction.ACCESS_EXPORT, target=employee
    )
    return data


def _seal_person(employee: Employee, actor: Any) -> None:
    recipients = dict(
        Recipient.objects.filter(employee=employee).values_list("id", "campaign_id")
    )
    deliveries = list(_deliveries(employee).values_list("id", "step__campaign_id"))
    campaigns = set(recipients.values()) | {c for _i, c in deliveries}
    for campaign_id in sorted(campaigns):
        services.records_seal(
            campaign_id=campaign_id,
            actor=actor,
            ids={
                RecordKind.RECIPIENT: [
                    i for i, c in recipients.items() if c == campaign_id
                ],
                RecordKind.DELIVERY: [i for i, c in deliveries if c == campaign_id],
            },
        )


def _forget_salts(kind: str, ids: Iterable[int]) -> None:
    SealedRecord.objects.filter(kind=kind, object_id__in=list(ids)).update(
        personal_salt=""
    )


def _redact_entries(employee_id: int, now) -> int:
    return AuditEntry.objects.filter(
        subject_employee_id=employee_id, redacted_at__isnull=True
    ).update(
        target_repr="",
        before=None,
        after=None,
        reason="",
        personal_salt="",
        redacted_at=now,
    )


def anonymise_records(*, recipient_ids: list[int], delivery_ids: list[int]) -> None:
    """Blank the personal snapshot of sealed recipients and deliveries."""
    Recipient.objects.filter(id__in=recipient_ids).update(
        email="", first_name="", last_name=""
    )
    Delivery.objects.filter(id__in=delivery_ids).update(to_email="", last_error="")
    _forget_salts(RecordKind.RECIPIENT, recipient_ids)
    _forget_salts(RecordKind.DELIVERY, delivery_ids)


def person_erase(
    *, employee: Employee, actor: Any, reason: str = "", action: str = ""
) -> AuditEntry:
    """Erase one person's personal fields everywhere; returns the audit entry."""
    now = timezone.now()
    with transaction.atomic():
        _seal_person(employee, actor)
        recipient_ids = list(
            Recipient.objects.filter(employee=employee).values_list("id", flat=True)
        )
        delivery_ids = list(_deliveries(employee).values_list("id", flat=True))
        anonymise_records(recipient_ids=recipient_ids, delivery_ids=delivery_ids)
        redacted = _redact_entries(employee.pk, now)
        scim_user_forget(employee_id=employee.pk)  # the provider's userName too
        Employee.objects.filter(pk=employee.pk).update(
            email=erased_email(employee.pk),
            hr_id="",
            first_name="",
            last_name="",
            is_active=False,
            deactivated_at=employee.deactivated_at or now,
            updated_at=now,
        )
        employee.refresh_from_db()
        return services.audit_record(
            actor=actor,
            action=action or AuditAction.ERASURE,
            target=employee,
            after={
                "recipients": len(recipient_ids),
                "deliveries": len(delivery_ids),
                "audit_entries_redacted": redacted,
            },
            reason=reason,
        )
