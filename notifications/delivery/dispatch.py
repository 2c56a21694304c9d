"""The dispatcher: one tick of Celery beat (or of ``send_due``).

Everything due now, nothing else: due steps become Delivery rows (one
transaction per step), rows whose worker died are put back, rows past the
deadline are skipped, queued rows whose time has come are leased and handed
to the workers in chunks, and steps and campaigns with nothing left to send
are finished. It never sends a message; send.py does, in the workers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from employees.models import EmailStatus
from notifications.campaigns import scheduling, services
from notifications.delivery.policy import Knobs, chunk_size, knobs
from notifications.models import (
    LAUNCHED_STATUSES,
    OPEN_STEP_STATUSES,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
    StepStatus,
)

logger = logging.getLogger(__name__)

Enqueue = Callable[[list[int]], object]
# How many messages wait in the broker's send queue; None when unknown.
Waiting = Callable[[], int | None]

_AUDIENCE_KINDS = (StepKind.FIRST, StepKind.REMINDER, StepKind.LAST_CALL)
_INSERT_BATCH = 2000
_UPDATE_BATCH = 2000


@dataclass
class TickReport:
    steps_dispatched: int = 0
    steps_missed: int = 0
    steps_superseded: int = 0
    deliveries_created: int = 0
    released: int = 0
    expired: int = 0
    renewed: int = 0
    enqueued: int = 0
    chunks: int = 0
    campaigns_finished: int = 0


def _steps_due(now: datetime) -> list[Step]:
    return list(
        Step.objects.filter(
            status__in=OPEN_STEP_STATUSES,
            due_at__lte=now,
            campaign__status__in=(CampaignStatus.SCHEDULED, CampaignStatus.RUNNING),
        )
        .select_related("campaign")
        .order_by("campaign_id", "due_at", "id")
    )


def _step_close(step: Step, status: str, reason: str) -> bool:
    return (
        Step.objects.filter(pk=step.pk, status__in=OPEN_STEP_STATUSES).update(
            status=status, status_reason=reason
        )
        == 1
    )


def steps_superseded(steps: Sequence[Step]) -> tuple[list[Step], list[Step]]:
    """Of one campaign's due steps, which go out and which are superseded.

    After a pause or an outage several steps may be due at once; nobody
    should get a reminder and a last call in the same minute. The first
    message always goes (everyone must be told) and then covers the
    reminders due with it; otherwise the latest reminder/last call goes. Of
    several digests, the latest.
    """
    audience = [s for s in steps if s.kind in _AUDIENCE_KINDS]
    digests = [s for s in steps if s.kind == StepKind.MANAGER_DIGEST]
    keep: list[Step] = []
    firsts = [s for s in audience if s.kind == StepKind.FIRST]
    if firsts:
        keep += firsts
    elif audience:
        keep.append(audience[-1])
    if digests:
        keep.append(digests[-1])
    return keep, [s for s in steps if s not in keep]


def _audience_rows(step: Step) -> Iterable[Delivery]:
    recipients = Recipient.objects.filter(
        campaign_id=step.campaign_id, employee__is_active=True
    )
    if step.kind != StepKind.FIRST:
        recipients = recipients.filter(acknowledged_at__isnull=True)
    rows = recipients.values_list(
        "id", "employee__email", "language", "employee__email_status"
    ).order_by("id")
    for recipient_id, email, language, email_status in rows.iterator(2000):
        yield _new_delivery(
            step, email, language, email_status, recipient_id=recipient_id
        )


def _digest_rows(step: Step) -> Iterable[Delivery]:
    managers = (
        Recipient.objects.filter(
            campaign_id=step.campaign_id,
            acknowledged_at__isnull=True,
            employee__is_active=True,
            employee__manager__is_active=True,
        )
        .values_list(
            "employee__manager_id",
            "employee__manager__email",
            "employee__manager__language",
            "employee__manager__email_status",
        )
        .distinct()
        .order_by("employee__manager_id")
    )
    for manager_id, email, language, email_status in managers:
        yield _new_delivery(step, email, language, email_status, manager_id=manager_id)


def _new_delivery(
    step: Step, email: str, language: str, email_status: str, **who: int
) -> Delivery:
    # A known-bad address is targeted but not sent to: the DPO sees it skipped
    # with the reason instead of the person silently missing from the figures.
    bad = email_status != EmailStatus.OK
    return Delivery(
        step_id=step.pk,
        to_email=email,
        language=language,
        status=DeliveryStatus.SKIPPED if bad else DeliveryStatus.QUEUED,
        last_error=_("Address bounced or complained before.") if bad else "",
        **who,
    )


def _deliveries_create(step: Step) -> int:
    rows = (
        _digest_rows(step)
        if step.kind == StepKind.MANAGER_DIGEST
        else _audience_rows(step)
    )
    batch: list[Delivery] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _INSERT_BATCH:
            Delivery.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        Delivery.objects.bulk_create(batch, ignore_conflicts=True)
    return Delivery.objects.filter(step=step).count()


def step_dispatch(*, step: Step, now: datetime) -> int | None:
    """Create the Delivery rows of one due step; None when it did not go.

    One transaction: the step moves pending → dispatching (conditional, so a
    beat tick and a `send_due` run at once dispatch it once) → done, with its
    rows; a crash rolls everything back and the next tick starts again.
    """
    campaign = step.campaign
    if now >= campaign.deadline:
        _step_close(
            step, StepStatus.MISSED, _("The deadline passed before it could go out.")
        )
        return None
    window = scheduling.window_for(campaign)
    if not scheduling.window_contains(now, window):
        opening = scheduling.window_next_opening(now, window)
        if opening >= campaign.deadline:
            _step_close(
                step, StepStatus.MISSED, _("No send window opens before the deadline.")
            )
        else:
            Step.objects.filter(pk=step.pk, status__in=OPEN_STEP_STATUSES).update(
                due_at=opening
            )
        return None
    with transaction.atomic():
        if not Step.objects.filter(pk=step.pk, status__in=OPEN_STEP_STATUSES).update(
            status=StepStatus.DISPATCHING
        ):
            return None
        services.campaign_enrol_new(campaign)
        created = _deliveries_create(step)
        Step.objects.filter(pk=step.pk).update(
            status=StepStatus.DONE, dispatched_at=now
        )
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.RUNNING, updated_at=now
        )
    logger.info(
        "step %s of campaign %s dispatched: %s deliveries",
        step.pk,
        campaign.pk,
        created,
    )
    return created


def steps_dispatch(*, now: datetime, report: TickReport) -> None:
    by_campaign: dict[int, list[Step]] = defaultdict(list)
    for step in _steps_due(now):
        by_campaign[step.campaign_id].append(step)
    for steps in by_campaign.values():
        keep, superseded = steps_superseded(steps)
        for step in superseded:
            if _step_close(
                step,
                StepStatus.SKIPPED,
                _("Superseded by a later step due at the same time."),
            ):
                report.steps_superseded += 1
        for step in keep:
            created = step_dispatch(step=step, now=now)
            if created is None:
                report.steps_missed += Step.objects.filter(
                    pk=step.pk, status=StepStatus.MISSED
                ).count()
            else:
                report.steps_dispatched += 1
                report.deliveries_created += created


def deliveries_sweep(*, now: datetime, k: Knobs | None = None) -> int:
    """Put rows stuck in "sending" (their worker died) back to queued.

    A live worker renews its claim every third of the claim timeout (the
    heartbeat of claim._Claim), so only a dead one's rows grow older than
    the timeout: they come back within SEND_CLAIM_TIMEOUT plus a tick.

    A row that has been claimed max_attempts times without an outcome is
    failed instead, so a message that kills its worker cannot loop forever.
    Rows are locked with SKIP LOCKED first, so two ticks at once (two beats
    by mistake) split them instead of waiting on each other or deadlocking.
    """
    k = k or knobs()
    cutoff = now - timedelta(seconds=k.claim_timeout)
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(
                status=DeliveryStatus.SENDING, claimed_at__lt=cutoff
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
        )
        if not ids:
            return 0
        stuck = Delivery.objects.filter(
            id__in=ids, status=DeliveryStatus.SENDING, claimed_at__lt=cutoff
        )
        stuck.filter(attempts__gte=k.max_attempts).update(
            status=DeliveryStatus.FAILED,
            last_error=_("The worker sending it stopped too many times."),
            status_at=now,
            claimed_at=None,
        )
        released = stuck.update(
            status=DeliveryStatus.QUEUED,
            claimed_at=None,
            next_attempt_at=None,
            last_error=_("Re-queued: the worker sending it stopped."),
        )
    logger.warning("rows of a stopped worker queued again: %s", released)
    return released


def leases_renew(*, waiting: int | None, now: datetime, k: Knobs | None = None) -> int:
    """Keep the lease of enqueued rows while the broker still holds chunks.

    A queued row with ``claimed_at`` set was handed to the broker then, and
    ``next_attempt_at`` ends its lease (SEND_ENQUEUE_LEASE, a minute). A
    short lease brings back chunks the broker lost (flushed, restarted
    without persistence, reserved by a worker killed since) within a minute
    and a tick; but a long campaign's chunks may rightly wait in the queue
    longer than that. So while the broker says messages are waiting, leases
    about to end are renewed; once the queue is empty (or the broker cannot
    tell), they run out and their rows are enqueued again. A chunk lost
    while others wait therefore comes back at most a lease after the queue
    drained; a copy of a chunk that was not lost is harmless (the claim).
    """
    if not waiting:
        return 0
    k = k or knobs()
    lease = timedelta(seconds=k.enqueue_lease)
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(
                status=DeliveryStatus.QUEUED,
                claimed_at__isnull=False,
                next_attempt_at__gt=now,
                next_attempt_at__lt=now + lease / 2,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
        )
        for start in range(0, len(ids), _UPDATE_BATCH):
            Delivery.objects.filter(
                id__in=ids[start : start + _UPDATE_BATCH],
                status=DeliveryStatus.QUEUED,
            ).update(next_attempt_at=now + lease)
    return len(ids)


def deliveries_expire(*, now: datetime) -> int:
    """Queued rows of campaigns past their deadline: missed, never sent late."""
    return Delivery.objects.filter(
        status=DeliveryStatus.QUEUED, step__campaign__deadline__lte=now
    ).update(
        status=DeliveryStatus.SKIPPED,
        last_error=_("Missed: the deadline passed before it could be sent."),
        status_at=now,
    )


def deliveries_enqueue(
    *, enqueue: Enqueue, now: datetime, k: Knobs | None = None
) -> tuple[int, int]:
    """Hand queued rows whose time has come to the workers, in chunks.

    Returns (rows, chunks). The chunks are enqueued after the lease commits,
    so a worker never receives ids whose lease it cannot see yet.
    """
    k = k or knobs()
    due = (
        Delivery.objects.filter(
            status=DeliveryStatus.QUEUED,
            step__campaign__status=CampaignStatus.RUNNING,
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("step_id", "id")
    )
    size = chunk_size(k)
    with transaction.atomic():
        rows = list(
            due.select_for_update(skip_locked=True, of=("self",)).values_list(
                "id", "step_id"
            )[: k.max_per_tick]
        )
        ids = [pk for pk, _step in rows]
        lease = now + timedelta(seconds=k.enqueue_lease)
        for start in range(0, len(ids), _UPDATE_BATCH):
            # claimed_at on a queued row: when it was handed to the broker
            # (leases_renew tells a lease from a retry's backoff by it).
            Delivery.objects.filter(id__in=ids[start : start + _UPDATE_BATCH]).update(
                next_attempt_at=lease, claimed_at=now
            )
        chunks = _chunks(rows, size)
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: enqueue(chunk))
    return len(ids), len(chunks)


def _chunks(rows: Sequence[tuple[int, int]], size: int) -> list[list[int]]:
    """Consecutive ids of one step, at most ``size`` each."""
    chunks: list[list[int]] = []
    current: list[int] = []
    current_step = None
    for pk, step_id in rows:
        if current and (step_id != current_step or len(current) >= size):
            chunks.append(current)
            current = []
        current.append(pk)
        current_step = step_id
    if current:
        chunks.append(current)
    return chunks


def steps_miss_after_deadline(*, now: datetime) -> int:
    """Open steps of launched campaigns past their deadline: missed.

    The dispatcher reports a due step of a scheduled or running campaign
    missed when it comes to it; a paused campaign's steps never come to it.
    Past the deadline none of them can go out, whatever the state.
    """
    return Step.objects.filter(
        status__in=OPEN_STEP_STATUSES,
        campaign__status__in=LAUNCHED_STATUSES,
        campaign__deadline__lte=now,
    ).update(
        status=StepStatus.MISSED,
        status_reason=_("The deadline passed before it could go out."),
    )


def campaigns_finish(*, now: datetime, report: TickReport | None = None) -> int:
    """Mark steps whose rows all have an outcome done, then campaigns finished.

    A running campaign finishes once no step is left to send and none of its
    rows is queued or in a worker's hands. Past its deadline nothing can go
    out any more, so any launched campaign (scheduled with its first step
    missed, paused and never resumed, resumed too late) ends the same way
    once its last rows have an outcome: its open steps are reported missed
    and it finishes, which starts its links' expiry clock
    (acknowledgements.services.link_expires_at) instead of leaving it scheduled or
    paused, its links open, for good.

    Every finish is recorded alike: status, ``finished_at`` and
    ``updated_at``, no audit entry (the dispatcher's doing, nobody's
    decision; the tick's report counts it). ``finished_at`` is never later
    than the deadline: a campaign noticed late (paused for months, the
    dispatcher stopped) ended there, and its links and its retention period
    count from then.

    A fixed number of statements, whatever the number of campaigns or people.
    """
    busy = Delivery.objects.filter(
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    )
    Step.objects.filter(status=StepStatus.DONE, done_at__isnull=True).exclude(
        pk__in=busy.values("step_id")
    ).update(done_at=now)
    missed = steps_miss_after_deadline(now=now)
    if report is not None:
        report.steps_missed += missed
    open_steps = Step.objects.filter(
        status__in=(*OPEN_STEP_STATUSES, StepStatus.DISPATCHING)
    )
    finished = (
        Campaign.objects.filter(
            Q(status=CampaignStatus.RUNNING)
            | Q(status__in=LAUNCHED_STATUSES, deadline__lte=now)
        )
        .exclude(pk__in=open_steps.values("campaign_id"))
        .exclude(pk__in=busy.values("step__campaign_id"))
        .update(
            status=CampaignStatus.FINISHED,
            finished_at=Case(
                When(deadline__lt=now, then=F("deadline")),
                default=Value(now, output_field=DateTimeField()),
            ),
            updated_at=now,
        )
    )
    if finished:
        logger.info("campaigns finished: %s", finished)
    return finished


def dispatch_tick(
    *,
    enqueue: Enqueue,
    now: datetime | None = None,
    waiting: Waiting | None = None,
) -> TickReport:
    """One beat of the dispatcher: everything due now, nothing else.

    ``waiting`` tells how many messages the broker's send queue holds
    (tasks.broker_waiting); without it leases are never renewed.
    """
    now = now or timezone.now()
    k = knobs()
    report = TickReport()
    steps_dispatch(now=now, report=report)
    report.released = deliveries_sweep(now=now, k=k)
    report.expired = deliveries_expire(now=now)
    report.renewed = leases_renew(waiting=waiting() if waiting else None, now=now, k=k)
    report.enqueued, report.chunks = deliveries_enqueue(enqueue=enqueue, now=now, k=k)
    report.campaigns_finished = campaigns_finish(now=now, report=report)
    return report
