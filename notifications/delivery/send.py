"""One chunk of deliveries as a task receives it: claim, re-check, render, send.

deliveries_send is the entry point (``send_due``; tasks.send_chunk through
chunk_send, which waits out a database outage of a few seconds). It claims
the rows (claim.py), reads what sending needs in a few queries per chunk and
none per message, re-checks each row at send time (deadline,
deactivated person, bad address, acknowledged since dispatch), renders the
rest (render.py) and hands them to the ESP in batches (batch.py) or sends
them one by one (each.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from employees import timezones
from employees.models import EmailStatus, Employee
from notifications.campaigns import content as content_mod
from notifications.campaigns.tokens import token_from_seed
from notifications.delivery.batch import _send_batch
from notifications.delivery.claim import (
    SendReport,
    _Claim,
    _finish,
    deliveries_claim,
    ids_param,
)
from notifications.delivery.each import _send_each
from notifications.delivery.outage import through_outage
from notifications.delivery.policy import _batching, knobs
from notifications.delivery.render import _Outgoing, _Renderer
from notifications.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
)


def _skip_reason(row: Delivery, now: datetime) -> str:
    if now >= row.step.campaign.deadline:
        return _("Missed: the deadline passed before it could be sent.")
    person: Employee = row.recipient.employee if row.recipient_id else row.manager
    if not person.is_active:
        return _("Employee deactivated.")
    if person.email_status != EmailStatus.OK:
        return _("Address bounced or complained before.")
    if (
        row.recipient_id
        and row.step.kind != StepKind.FIRST
        and row.recipient.acknowledged_at is not None
    ):
        return _("Acknowledged before the reminder went out.")
    return ""


def _digest_reports(
    campaign: Campaign, manager_ids: list[int]
) -> dict[int, list[content_mod.DigestLine]]:
    """Each manager's unacknowledged active reports, read at send time."""
    reports: dict[int, list[content_mod.DigestLine]] = defaultdict(list)
    rows = (
        Recipient.objects.filter(
            campaign=campaign,
            employee__manager_id__in=manager_ids,
            employee__is_active=True,
            acknowledged_at__isnull=True,
        )
        .order_by("last_name", "first_name", "email")
        .values_list("employee__manager_id", "first_name", "last_name", "email")
    )
    for manager_id, first, last, email in rows:
        reports[manager_id].append(content_mod.DigestLine(first, last, email))
    return reports


def _prepare(
    step: Step, rows: list[Delivery], now: datetime, skips: dict[str, list[Delivery]]
) -> list[_Outgoing]:
    campaign = step.campaign
    outgoing: list[_Outgoing] = []
    if step.kind == StepKind.MANAGER_DIGEST:
        reports = _digest_reports(campaign, [r.manager_id for r in rows])
        for row in rows:
            lines = reports.get(row.manager_id)
            if not lines:
                skips[_("All their reports acknowledged before it went out.")].append(
                    row
                )
                continue
            message = content_mod.digest_render(
                campaign=campaign,
                language=row.manager.language,
                manager_first_name=row.manager.first_name,
                reports=lines,
                now=now,
                tz=timezones.employee_zone(row.manager, default=campaign.time_zone),
            )
            outgoing.append(_Outgoing(row, row.manager.email, message))
        return outgoing
    current = {c.language: c for c in campaign.contents.filter(is_current=True)}
    renderer = _Renderer(campaign=campaign, kind=step.kind, now=now)
    for row in rows:
        recipient = row.recipient
        content = content_mod.content_in(current, recipient.language)
        if content is None:
            skips[_("No content in this language nor the default one.")].append(row)
            continue
        message, prototype, values = renderer.render_keyed(
            content,
            first=recipient.first_name,
            last=recipient.last_name,
            token=token_from_seed(recipient.token_seed),
            tz=timezones.employee_zone(recipient.employee, default=campaign.time_zone),
        )
        outgoing.append(
            _Outgoing(
                row, recipient.employee.email, message, renderer, prototype, values
            )
        )
    return outgoing


_PERSON_FIELDS = (
    "email",
    "is_active",
    "email_status",
    "language",
    "first_name",
    # The zone the deadline is shown in (employees.timezones).
    "time_zone",
    "country",
)
_SEND_FIELDS = (
    "id",
    "step",
    "attempts",
    "recipient",
    "manager",
    *(
        f"recipient__{name}"
        for name in (
            "acknowledged_at",
            "language",
            "first_name",
            "last_name",
            "token_seed",
            "employee",
        )
    ),
    *(f"recipient__employee__{name}" for name in _PERSON_FIELDS),
    *(f"manager__{name}" for name in _PERSON_FIELDS),
)


def chunk_send(ids: Sequence[int]) -> SendReport:
    """deliveries_send as a task runs it: through a database outage.

    A database error anywhere in the chunk (claim, reads, a retry's write)
    no longer fails the task, whose message Celery would then acknowledge,
    leaving its rows to the lease and the sweeper: the chunk starts again
    once the database answers, taking back its own rows still "sending"
    (by the claim stamps it wrote) and skipping those already recorded.
    """
    stamps: set[datetime] = set()
    return through_outage(
        lambda: deliveries_send(ids, stamps=stamps), what="sending the chunk"
    )


def deliveries_send(
    ids: Sequence[int],
    *,
    now: datetime | None = None,
    stamps: set[datetime] | None = None,
) -> SendReport:
    """Claim, re-check, render, send and record one chunk of deliveries."""
    now = now or timezone.now()
    stamps = set() if stamps is None else stamps
    report = SendReport()
    mine = deliveries_claim(ids, now=now, stamps=stamps)
    report.claimed = len(mine)
    if not mine:
        return report
    rows = list(
        Delivery.objects.filter(id__in=ids_param(mine))
        .select_related("recipient__employee", "manager")
        # What sending reads, and nothing else: loading every column of three
        # tables (eight timestamps a row) cost more than the query. A field
        # missing here would cost a query per message, which
        # tests/notifications/delivery/test_sending.py's query count catches.
        .only(*_SEND_FIELDS)
        .order_by("id")
    )
    # The chunk's step and campaign read once and shared by its rows: joined
    # to every row they were parsed a hundred times (a fifth of the worker's
    # CPU over SMTP), for one extra query per chunk.
    steps = Step.objects.select_related("campaign").in_bulk({r.step_id for r in rows})
    by_step: dict[int, list[Delivery]] = defaultdict(list)
    for row in rows:
        row.step = steps[row.step_id]
        by_step[row.step_id].append(row)
    claim = _Claim(mine, stamps)
    for step_id, step_rows in by_step.items():
        _send_step(steps[step_id], step_rows, now, report, claim)
    return report


def _send_step(
    step: Step,
    rows: list[Delivery],
    now: datetime,
    report: SendReport,
    claim: _Claim,
) -> None:
    skips: dict[str, list[Delivery]] = defaultdict(list)
    candidates = []
    for row in rows:
        reason = _skip_reason(row, now)
        if reason:
            skips[reason].append(row)
        else:
            candidates.append(row)
    outgoing = _prepare(step, candidates, now, skips) if candidates else []
    for reason, skipped in skips.items():
        _finish(skipped, DeliveryStatus.SKIPPED, reason, now)
        report.skipped += len(skipped)
    if not outgoing:
        return
    if _batching(knobs()) and len(outgoing) > 1:
        _send_batch(step.campaign, outgoing, report, claim)
    else:
        _send_each(step.campaign, outgoing, report, claim)
