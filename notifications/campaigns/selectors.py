"""Functions that read the campaign domain: the audience, the status figures
(``campaign_status``: the campaign_status command, the admin's summary), the
personal links and letters. The dashboard's own reads are in
notifications/dashboard/figures.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from employees.models import Employee
from notifications.campaigns.content import (
    ack_url,
    message_language,
    placeholder_values,
    substitute,
)
from notifications.campaigns.tokens import token_from_seed
from notifications.models import (
    OPEN_STEP_STATUSES,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
)

# How Delivery statuses add up in the figures the DPO reads (campaign_status
# here, the dashboard's in dashboard/figures.py). A bounced or delivered
# message was sent, so "sent" counts everything that left us.
LEFT_US = {
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.DEFERRED,
    DeliveryStatus.COMPLAINED,
}
DELIVERY_FIGURES: dict[str, set[str]] = {
    "queued": {DeliveryStatus.QUEUED, DeliveryStatus.SENDING},
    "sent": LEFT_US,
    "failed": {DeliveryStatus.FAILED, DeliveryStatus.REJECTED},
    "delivered": {DeliveryStatus.DELIVERED},
    "bounced": {DeliveryStatus.BOUNCED, DeliveryStatus.COMPLAINED},
    "skipped": {DeliveryStatus.SKIPPED},
}


def _clean(values: Iterable[str] | None) -> list[str]:
    return [v.strip() for v in values or [] if v and v.strip()]


def audience_filter(
    *,
    departments: Iterable[str] | None = None,
    countries: Iterable[str] | None = None,
    languages: Iterable[str] | None = None,
) -> QuerySet[Employee]:
    """Active employees, narrowed by each non-empty list (case-insensitive)."""
    qs = Employee.objects.filter(is_active=True)
    for field, values in (
        ("department", _clean(departments)),
        ("country", _clean(countries)),
        ("language", _clean(languages)),
    ):
        if values:
            match = Q()
            for value in values:
                match |= Q(**{f"{field}__iexact": value})
            qs = qs.filter(match)
    return qs


def campaign_audience(campaign: Campaign) -> QuerySet[Employee]:
    return audience_filter(
        departments=campaign.departments,
        countries=campaign.countries,
        languages=campaign.languages,
    )


def audience_languages(campaign: Campaign) -> list[str]:
    return sorted(
        set(campaign_audience(campaign).values_list("language", flat=True).distinct())
    )


def audience_choices() -> dict[str, list[str]]:
    """Distinct departments and countries of active staff, for the admin."""
    active = Employee.objects.filter(is_active=True)
    return {
        field: sorted(
            v
            for v in active.values_list(field, flat=True).distinct()
            if v  # blank is not a choice
        )
        for field in ("department", "country")
    }


def _step_targeted_estimate(step: Step, campaign: Campaign) -> int:
    """How many a step not dispatched yet would reach today."""
    recipients = Recipient.objects.filter(campaign=campaign, employee__is_active=True)
    if step.kind == StepKind.FIRST:
        return recipients.count() or campaign_audience(campaign).count()
    pending = recipients.filter(acknowledged_at__isnull=True)
    if step.kind == StepKind.MANAGER_DIGEST:
        return (
            pending.filter(employee__manager__is_active=True)
            .values("employee__manager")
            .distinct()
            .count()
        )
    return pending.count()


def campaign_status(campaign: Campaign) -> dict:
    """The figures of `campaign_status --json` and the admin's summary.

    Per step, ``targeted`` is the number of Delivery rows once the step was
    dispatched, and today's estimate while it may still go. A step that will
    never go (missed, skipped) targeted nobody: 0, as on the dashboard.
    """
    rows = (
        Delivery.objects.filter(step__campaign=campaign)
        .values_list("step_id", "status")
        .annotate(n=Count("id"))
    )
    per_step: dict[int, Counter] = {}
    for step_id, status, n in rows:
        per_step.setdefault(step_id, Counter())[status] += n
    tz = ZoneInfo(campaign.time_zone)
    recipients = Recipient.objects.filter(campaign=campaign)
    enrolled = recipients.count()
    steps = []
    for step in campaign.steps.order_by("due_at", "id"):
        counts = per_step.get(step.id, Counter())
        total = sum(counts.values())
        figures = {
            name: sum(counts[s] for s in statuses)
            for name, statuses in DELIVERY_FIGURES.items()
        }
        steps.append(
            {
                "id": step.id,
                "kind": step.kind,
                "status": step.status,
                "due": step.due_at.astimezone(tz).isoformat() if step.due_at else None,
                "targeted": total
                if total or step.status not in OPEN_STEP_STATUSES  # an estimate
                else _step_targeted_estimate(step, campaign),
                **figures,
            }
        )
    return {
        "id": campaign.id,
        "name": campaign.name,
        "reference": campaign.reference,
        "status": campaign.status,
        "deadline": campaign.deadline.astimezone(tz).isoformat(),
        "audience": enrolled or campaign_audience(campaign).count(),
        "enrolled": enrolled,
        "acknowledged": recipients.filter(acknowledged_at__isnull=False).count(),
        "steps": steps,
    }


def digest_managers(campaign: Campaign) -> QuerySet[Employee]:
    """Active managers with at least one active, unacknowledged report in the
    campaign: the addressees of a manager-digest step."""
    return Employee.objects.filter(
        is_active=True,
        reports__recipients__campaign=campaign,
        reports__recipients__acknowledged_at__isnull=True,
        reports__is_active=True,
    ).distinct()


def campaign_by_reference(reference: str) -> Campaign | None:
    """A launched campaign with this public reference (drafts are not public)."""
    return (
        Campaign.objects.exclude(status=CampaignStatus.DRAFT)
        .filter(reference=reference)
        .first()
    )


@dataclass(frozen=True)
class LinkRow:
    email: str
    first_name: str
    last_name: str
    department: str
    link: str
    # The language of the person's messages (message_language): what a
    # printed letter is written in.
    language: str


def campaign_links(campaign: Campaign, *, pending: bool = False) -> Iterator[LinkRow]:
    """Each recipient's personal link (printed letters, QR codes).

    ``pending``: only those who have not acknowledged. The clear token is
    derived from the stored seed (tokens.py), the same as in every message.
    """
    available = set(
        campaign.contents.filter(is_current=True).values_list("language", flat=True)
    )
    recipients = Recipient.objects.filter(campaign=campaign, employee__is_active=True)
    if pending:
        recipients = recipients.filter(acknowledged_at__isnull=True)
    rows = recipients.order_by("last_name", "first_name", "email").values_list(
        "employee__email",
        "first_name",
        "last_name",
        "employee__department",
        "token_seed",
        "language",
    )
    for email, first_name, last_name, department, seed, language in rows.iterator(2000):
        yield LinkRow(
            email,
            first_name,
            last_name,
            department,
            ack_url(token_from_seed(seed)),
            message_language(language, available),
        )


# The scope of a links export, as its audit entry records it.
LINKS_ALL = "all"
LINKS_PENDING = "pending"


def links_exported_before(campaign: Campaign) -> dict[int, list[str]]:
    """Who had exported or printed each acknowledged recipient's link before
    it was used: recipient id -> usernames, in the order of the exports.

    An export (its audit entry) covers the recipients enrolled by then that
    had not acknowledged yet: an "all" export lists them with the others, a
    "pending" one lists only them. Either covers an acknowledgement made
    after it. (Deactivated employees, left out of exports, cannot be told
    apart afterwards; they rarely acknowledge.)
    """
    exports = list(
        AuditEntry.objects.filter(
            action=AuditAction.LINKS_EXPORT,
            target_type=Campaign._meta.label_lower,
            target_id=str(campaign.pk),
        )
        .order_by("seq")
        .values_list("created_at", "username")
    )
    if not exports:
        return {}
    found: dict[int, list[str]] = {}
    acknowledged = Recipient.objects.filter(
        campaign=campaign, acknowledged_at__isnull=False
    ).values_list("id", "enrolled_at", "acknowledged_at")
    for pk, enrolled_at, acknowledged_at in acknowledged.iterator(5000):
        names = [name for at, name in exports if enrolled_at <= at < acknowledged_at]
        if names:
            found[pk] = list(dict.fromkeys(names))
    return found


@dataclass(frozen=True)
class Letter:
    row: LinkRow
    # The subject of the person's messages filled in for them, in the
    # letter's language (the title of their personal page).
    title: str


def campaign_letters(
    campaign: Campaign, *, pending: bool = False, now: datetime | None = None
) -> Iterator[Letter]:
    """campaign_links with the title of each person's printed letter."""
    now = now or timezone.now()
    contents = {c.language: c for c in campaign.contents.filter(is_current=True)}
    shared: dict[str, dict[str, str]] = {}
    for row in campaign_links(campaign, pending=pending):
        content = contents.get(row.language)
        if content is None:  # no text in their language nor the default one
            yield Letter(row, campaign.name)
            continue
        if row.language not in shared:
            shared[row.language] = placeholder_values(
                campaign=campaign,
                language=row.language,
                first_name="",
                last_name="",
                token="",
                now=now,
            )
        values = {
            **shared[row.language],
            "first_name": row.first_name,
            "last_name": row.last_name,
            "ack_url": row.link,
        }
        yield Letter(row, substitute(content.subject, values))
