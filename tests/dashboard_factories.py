"""A launched campaign with messages and acknowledgements, built in bulk.

Used by tests/notifications/dashboard/test_dashboard.py (10 or 200 people) and bench/bench_dashboard.py
(100,000 people, 300,000 messages): employees and deliveries are inserted
with a few set-based statements (INSERT … SELECT), which take seconds for
100,000 rows on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from employees.models import EmailStatus, Employee
from notifications.campaigns import services
from notifications.models import (
    Campaign,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
    StepStatus,
)
from tests.campaign_factories import campaign_make

DEPARTMENTS = ("Sales", "Finance", "IT", "Legal", "Operations", "HR", "R&D")
COUNTRIES = ("FR", "DE", "ES", "BE")
FAILURE = "SMTPRecipientsRefused: 450 mailbox busy"
BOUNCE = "550 5.1.1 user unknown"
EMPLOYEE_BATCH = 5000


@dataclass
class Built:
    campaign: Campaign
    steps: list[Step]
    launched_at: datetime


def staff_bulk(n: int, *, prefix: str = "p") -> None:
    """``n`` employees over 7 departments, 4 countries, fr/en; one in 20 is
    a manager of the next 19."""
    batch: list[Employee] = []
    for i in range(n):
        batch.append(
            Employee(
                email=f"{prefix}{i}@example.com",
                first_name=f"First{i}",
                last_name=f"Last{i:06d}",
                department=DEPARTMENTS[i % len(DEPARTMENTS)],
                country=COUNTRIES[i % len(COUNTRIES)],
                language="fr" if i % 3 else "en",
                email_status=EmailStatus.BOUNCED if i % 97 == 5 else EmailStatus.OK,
            )
        )
        if len(batch) >= EMPLOYEE_BATCH:
            Employee.objects.bulk_create(batch)
            batch = []
    if batch:
        Employee.objects.bulk_create(batch)
    # Managers: the first of each block of 20 manages the block (ids of one
    # session's bulk inserts are consecutive).
    first = Employee.objects.filter(email=f"{prefix}0@example.com").values_list(
        "id", flat=True
    )[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE employees_employee SET manager_id = id - ((id - %s) %% 20) "
            "WHERE id > %s AND id < %s AND (id - %s) %% 20 <> 0",
            [first, first, first + n, first],
        )


def _deliveries_insert(
    step: Step, *, keep_mod: int, keep_below: int, at: datetime, base: int
):
    """One delivery per recipient whose n % keep_mod < keep_below: most
    delivered, 1 in 50 sent, 1 in 101 bounced, 1 in 150 failed (n: the
    recipient's rank, id - base, so the mix does not depend on id offsets)."""
    sql = """
        INSERT INTO notifications_delivery (step_id, recipient_id, manager_id,
            to_email, language, status, content_id, content_sha256, esp_message_id,
            attempts, last_error, next_attempt_at, claimed_at, sent_at, status_at,
            created_at, updated_at)
        SELECT %s, r.id, NULL, r.email, r.language,
            CASE WHEN (r.id - %s) %% 150 = 7 THEN %s
                 WHEN (r.id - %s) %% 101 = 3 THEN %s
                 WHEN (r.id - %s) %% 50 = 1 THEN %s
                 ELSE %s END,
            NULL, '', '', 1,
            CASE WHEN (r.id - %s) %% 150 = 7 THEN %s
                 WHEN (r.id - %s) %% 101 = 3 THEN %s
                 ELSE '' END,
            NULL, NULL, %s, %s, %s, %s
        FROM notifications_recipient r
        WHERE r.campaign_id = %s AND (r.id - %s) %% %s < %s
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                step.pk,
                base,
                DeliveryStatus.FAILED,
                base,
                DeliveryStatus.BOUNCED,
                base,
                DeliveryStatus.SENT,
                DeliveryStatus.DELIVERED,
                base,
                FAILURE,
                base,
                BOUNCE,
                at,
                at,
                at,
                at,
                step.campaign_id,
                base,
                keep_mod,
                keep_below,
            ],
        )


def _acknowledge(
    campaign: Campaign, launched_at: datetime, *, days: int, base: int
) -> None:
    """About 55 % acknowledge, spread over ``days`` days; two answers."""
    with connection.cursor() as cursor:
        for day in range(days):
            cursor.execute(
                "UPDATE notifications_recipient SET acknowledged_at = %s, answer = "
                "CASE WHEN (id - %s) %% 3 = 0 THEN 'no_linkedin' ELSE 'opted_out' END "
                "WHERE campaign_id = %s AND ((id - %s) * 37) %% 100 < 55 "
                "AND (id - %s) %% %s = %s",
                [
                    launched_at + timedelta(days=day, hours=3),
                    base,
                    campaign.pk,
                    base,
                    base,
                    days,
                    day,
                ],
            )


def campaign_built(
    n: int, *, name: str = "LinkedIn AI", prefix: str = "p", now: datetime | None = None
) -> Built:
    """A running campaign over ``n`` people with 5 steps; about 3n messages
    (first to all, a reminder to 80 %, a second reminder and the last call to
    60 %), 55 % acknowledged over the days since launch."""
    now = now or timezone.now()
    staff_bulk(n, prefix=prefix)
    campaign = campaign_make(
        name=name,
        deadline=now + timedelta(days=5),
        window=services.WindowSpec(enabled=False),
    )
    Step.objects.create(campaign=campaign, kind=StepKind.REMINDER, offset_days=14)
    launched_at = now - timedelta(days=16)
    services.campaign_launch(campaign=campaign, now=launched_at)
    steps = list(campaign.steps.order_by("due_at", "id"))
    base = min(campaign.recipients.values_list("id", flat=True))
    Step.objects.filter(campaign=campaign).exclude(kind=StepKind.LAST_CALL).update(
        status=StepStatus.DONE, dispatched_at=launched_at
    )
    campaign.status = "running"
    campaign.save(update_fields=["status"])
    sends = {
        StepKind.FIRST: (1, 1),
        StepKind.REMINDER: (10, 8),
    }
    reminders = 0
    for step in steps:
        at = step.due_at or launched_at
        if step.kind == StepKind.FIRST:
            _deliveries_insert(step, keep_mod=1, keep_below=1, at=at, base=base)
        elif step.kind == StepKind.REMINDER:
            keep = sends[StepKind.REMINDER] if reminders == 0 else (10, 6)
            reminders += 1
            _deliveries_insert(
                step, keep_mod=keep[0], keep_below=keep[1], at=at, base=base
            )
    last_call = next(s for s in steps if s.kind == StepKind.LAST_CALL)
    # The last call is "sending": 60 % targeted, a third still queued.
    _deliveries_insert(last_call, keep_mod=10, keep_below=6, at=now, base=base)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE notifications_delivery SET status = %s, sent_at = NULL "
            "WHERE step_id = %s AND id %% 3 = 0",
            [DeliveryStatus.QUEUED, last_call.pk],
        )
    Step.objects.filter(pk=last_call.pk).update(
        status=StepStatus.DONE, dispatched_at=now
    )
    _acknowledge(campaign, launched_at, days=16, base=base)
    campaign.refresh_from_db()
    return Built(campaign, steps, launched_at)


def outstanding_count(campaign: Campaign) -> int:
    return Recipient.objects.filter(
        campaign=campaign, acknowledged_at__isnull=True
    ).count()
