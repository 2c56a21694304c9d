"""Retention: anonymise what the organisation no longer needs.

- A campaign RETENTION_DAYS_AFTER_CAMPAIGN days after it ended (finished,
  cancelled, or else its deadline): its recipients' and deliveries' names and
  addresses are blanked; the rows stay (status, times, content hashes,
  answers) so the figures and the sealed evidence remain, and the purge entry
  of the audit log keeps the aggregate counts.
- An employee deactivated more than RETENTION_DAYS_INACTIVE_EMPLOYEE days
  ago is erased like an erasure request (gdpr.person_erase).

Idempotent: what was anonymised is not selected again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import services
from audit.models import AuditAction
from console import gdpr
from console.bundle.jobs import bundles_delete
from employees.models import Employee
from notifications.models import Campaign, CampaignStatus, Delivery, Recipient

PURGE_REASON = "retention"


@dataclass
class PurgeReport:
    campaigns: list[Campaign] = field(default_factory=list)
    employees: list[Employee] = field(default_factory=list)


def expired_campaigns(now: datetime) -> list[Campaign]:
    cutoff = now - timedelta(days=settings.RETENTION_DAYS_AFTER_CAMPAIGN)
    named = Recipient.objects.filter(campaign=OuterRef("pk")).exclude(
        email="", first_name="", last_name=""
    )
    addressed = Delivery.objects.filter(step__campaign=OuterRef("pk")).exclude(
        to_email=""
    )
    return list(
        Campaign.objects.exclude(status=CampaignStatus.DRAFT)
        .annotate(ended=Coalesce("finished_at", "cancelled_at", "deadline"))
        .filter(ended__lt=cutoff)
        .filter(Q(Exists(named)) | Q(Exists(addressed)))
        .order_by("pk")
    )


def expired_employees(now: datetime) -> list[Employee]:
    cutoff = now - timedelta(days=settings.RETENTION_DAYS_INACTIVE_EMPLOYEE)
    return list(
        Employee.objects.filter(is_active=False, deactivated_at__lt=cutoff)
        .exclude(email__endswith=f"@{gdpr.ERASED_DOMAIN}")
        .order_by("pk")
    )


def _aggregates(campaign: Campaign) -> dict:
    recipients = Recipient.objects.filter(campaign=campaign)
    deliveries = Delivery.objects.filter(step__campaign=campaign)
    return {
        "recipients": recipients.count(),
        "acknowledged": recipients.filter(acknowledged_at__isnull=False).count(),
        "answers": dict(Counter(recipients.values_list("answer", flat=True))),
        "deliveries": dict(Counter(deliveries.values_list("status", flat=True))),
    }


def campaign_anonymise(*, campaign: Campaign, actor: object = None) -> None:
    with transaction.atomic():
        services.records_seal(campaign_id=campaign.pk, actor=actor)
        gdpr.anonymise_records(
            recipient_ids=list(
                Recipient.objects.filter(campaign=campaign).values_list("id", flat=True)
            ),
            delivery_ids=list(
                Delivery.objects.filter(step__campaign=campaign).values_list(
                    "id", flat=True
                )
            ),
        )
        services.audit_record(
            actor=actor,
            action=AuditAction.PURGE,
            target=campaign,
            after=_aggregates(campaign),
            reason=PURGE_REASON,
        )
        # Built bundles carry the records just anonymised: gone with them.
        transaction.on_commit(lambda: bundles_delete(campaign.pk))


def purge_expired(
    *, now: datetime | None = None, dry_run: bool = False, actor: object = None
) -> PurgeReport:
    now = now or timezone.now()
    report = PurgeReport(expired_campaigns(now), expired_employees(now))
    if dry_run:
        return report
    for campaign in report.campaigns:
        campaign_anonymise(campaign=campaign, actor=actor)
    for employee in report.employees:
        gdpr.person_erase(
            employee=employee,
            actor=actor,
            reason=PURGE_REASON,
            action=AuditAction.PURGE,
        )
    return report
