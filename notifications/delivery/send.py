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
from django.utils.translation import gettext_noop

from employees import timezones
from employees.models import EmailStatus
from notifications.campaigns import content as content_mod
from notifications.campaigns.tokens import token_from_seed
from notifications.delivery import reasons
from notifications.delivery.batch import _send_batch
from notifications.delivery.claim import (
    SendReport,
    _Claim,
    _finish,
    deliveries_claim_read,
)
from notifications.delivery.each import _send_each
from notifications.delivery.outage import through_outage
from notifications.delivery.policy import _batching, knobs
from notifications.delivery.render import _Outgoing, _Renderer
from notifications.models import (
    Campaign,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
)

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
_RECIPIENT_FIELDS = (
    "acknowledged_at",
    "language",
    "first_name",
    "last_name",
    "token_seed",
    "employee",
)
# What sending reads, and nothing else, as values (deliveries_claim_read):
# three model instances a row (Delivery, Recipient, Employee) cost more than
# the query and the rendering together. A field sending needs and this does
# not read is an AttributeError, not a silent query per message.
_SEND_FIELDS = (
    "step",
    "attempts",
    "recipient",
    "manager",
    *(f"recipient__{name}" for name in _RECIPIENT_FIELDS),
    *(f"recipient__employee__{name}" for name in _PERSON_FIELDS),
    *(f"manager__{name}" for name in _PERSON_FIELDS),
)


class _Person:
    """An employee as sending reads them (_PERSON_FIELDS)."""

    __slots__ = _PERSON_FIELDS

    def __init__(self, values: Sequence[object]) -> None:
        for name, value in zip(_PERSON_FIELDS, values, strict=True):
            setattr(self, name, value)


class _Recipient:
    """A recipient as sending reads them; ``employee`` is a _Person."""

    __slots__ = (
        *(n for n in _RECIPIENT_FIELDS if n != "employee"),
        "employee_id",
        "employee",
    )

    def __init__(self, values: Sequence[object], employee: _Person) -> None:
        (
            self.acknowledged_at,
            self.language,
            self.first_name,
            self.last_name,
            self.token_seed,
            self.employee_id,
        ) = values
        self.employee = employee


class _Row:
    """A claimed Delivery row as sending reads it: the fields of _SEND_FIELDS,
    ``step`` set to the chunk's shared Step."""

    __slots__ = (
        "attempts",
        "id",
        "manager",
        "manager_id",
        "recipient",
        "recipient_id",
        "step",
        "step_id",
    )
    recipient: _Recipient | None
    manager: _Person | None
    step: Step

    def __init__(self, values: tuple) -> None:
        self.id, self.step_id, self.attempts, self.recipient_id, self.manager_id = (
            values[:5]
        )
        people = 5 + len(_RECIPIENT_FIELDS)
        end = people + len(_PERSON_FIELDS)
        self.recipient = (
            _Recipient(values[5:people], _Person(values[people:end]))
            if self.recipient_id
            else None
        )
        self.manager = _Person(values[end:]) if self.manager_id else None

    @property
    def pk(self) -> int:
        return self.id


def _skip_reason(row: _Row, now: datetime) -> str:
    if now >= row.step.campaign.deadline:
        return reasons.MISSED
    person: _Person = row.recipient.employee if row.recipient_id else row.manager
    if not person.is_active:
        return gettext_noop("Employee deactivated.")
    if person.email_status != EmailStatus.OK:
        return reasons.BAD_ADDRESS
    if (
        row.recipient_id
        and row.step.kind != StepKind.FIRST
        and row.recipient.acknowledged_at is not None
    ):
        return gettext_noop("Acknowledged before the reminder went out.")
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
    step: Step, rows: list[_Row], now: datetime, skips: dict[str, list[_Row]]
) -> list[_Outgoing]:
    campaign = step.campaign
    outgoing: list[_Outgoing] = []
    if step.kind == StepKind.MANAGER_DIGEST:
        reports = _digest_reports(campaign, [r.manager_id for r in rows])
        for row in rows:
            lines = reports.get(row.manager_id)
            if not lines:
                skips[
                    gettext_noop("All their reports acknowledged before it went out.")
                ].append(row)
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
            skips[
                gettext_noop("No content in this language nor the default one.")
            ].append(row)
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
    rows = [
        _Row(values)
        for values in deliveries_claim_read(
            ids, now=now, stamps=stamps, fields=_SEND_FIELDS
        )
    ]
    report.claimed = len(rows)
    if not rows:
        return report
    steps = Step.objects.select_related("campaign").in_bulk({r.step_id for r in rows})
    by_step: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        row.step = steps[row.step_id]
        by_step[row.step_id].append(row)
    claim = _Claim([row.id for row in rows], stamps)
    for step_id, step_rows in by_step.items():
        _send_step(steps[step_id], step_rows, now, report, claim)
    return report


def _send_step(
    step: Step,
    rows: list[_Row],
    now: datetime,
    report: SendReport,
    claim: _Claim,
) -> None:
    skips: dict[str, list[_Row]] = defaultdict(list)
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
