"""The dispatcher: one tick of Celery beat (or of ``send_due``).

Everything due now, nothing else: due steps become Delivery rows (one
transaction per step), rows whose worker died are put back, rows past the
deadline are skipped, queued rows whose time has come are leased and handed
to the workers in chunks, and steps and campaigns with nothing left to send
are finished. It never sends a message; send.py does, in the workers.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext_noop

from events.outbox import emit, subscribed_types
from notifications.campaigns import services
from notifications.delivery import reasons, waves
from notifications.delivery.policy import Knobs, chunk_size, knobs
from notifications.models import (
    LAUNCHED_STATUSES,
    OPEN_STEP_STATUSES,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    StepKind,
    StepStatus,
)

logger = logging.getLogger(__name__)

Enqueue = Callable[[list[int]], object]
# How many messages wait in the broker's send queue; None when unknown.
Waiting = Callable[[], int | None]

_AUDIENCE_KINDS = (StepKind.FIRST, StepKind.REMINDER, StepKind.LAST_CALL)
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


def _steps_due(now: datetime, k: Knobs) -> list[Step]:
    """Steps whose time has come, and steps whose dispatcher stopped half-way
    (dispatching, heartbeat older than the claim timeout: step_dispatch)."""
    stopped = now - timedelta(seconds=k.claim_timeout)
    return list(
        Step.objects.filter(
            Q(status__in=OPEN_STEP_STATUSES)
            | Q(status=StepStatus.DISPATCHING, dispatched_at__lt=stopped),
            due_at__lte=now,
            campaign__status__in=(CampaignStatus.SCHEDULED, CampaignStatus.RUNNING),
        )
        .select_related("campaign")
        .order_by("campaign_id", "due_at", "id")
    )


def _step_close(
    step: Step,
    status: str,
    reason: str,
    *,
    statuses: Sequence[str] = OPEN_STEP_STATUSES,
) -> bool:
    return (
        Step.objects.filter(pk=step.pk, status__in=statuses).update(
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


# Recipients per slice of a step written in several transactions (PostgreSQL,
# waves.StepRows): the workers start on the first slice about 0.1 s after
# the tick does, instead of after the last of 20,000 rows (about a second).
SLICE_ROWS = 2000


def step_dispatch(
    *,
    step: Step,
    now: datetime,
    enqueue: Enqueue | None = None,
    k: Knobs | None = None,
    report: TickReport | None = None,
) -> int | None:
    """Create the Delivery rows of one due step; None when it did not go.

    The step moves pending → dispatching (conditional, so a beat tick and a
    `send_due` run at once dispatch it once) → done, with its rows. "Done"
    means its rows exist: those of people whose window is still closed wait
    for it (waves.py), and the dashboard counts them as waiting. With
    ``enqueue``, the rows due now are created leased and handed over as
    soon as they are committed (PostgreSQL; deliveries_enqueue does it
    otherwise).

    On SQLite, and for a manager digest, one transaction: a crash rolls
    everything back and the next tick starts again. On PostgreSQL an
    audience step is written in slices of SLICE_ROWS recipients, each
    committed and handed to the workers before the next is written; the
    step's ``dispatched_at`` is then a heartbeat, renewed by each slice. A
    tick that stops half-way leaves the step dispatching with part of its
    rows: once its heartbeat is SEND_CLAIM_TIMEOUT old, the next tick takes
    the step over (_steps_due) and writes the slices again, which adds only
    the missing rows (waves.StepRows).
    """
    campaign = step.campaign
    k = k or knobs()
    if now >= campaign.deadline:
        _step_close(
            step,
            StepStatus.MISSED,
            gettext_noop("The deadline passed before it could go out."),
            statuses=(*OPEN_STEP_STATUSES, StepStatus.DISPATCHING),
        )
        return None
    started = time.monotonic()

    def stamp() -> datetime:  # the tick's clock, moving on as the step does
        return now + timedelta(seconds=time.monotonic() - started)

    lease = now + timedelta(seconds=k.enqueue_lease) if enqueue else None
    rows = waves.StepRows(step, now=now, lease=lease)
    hand_over = _HandOver(step, enqueue, chunk_size(k), report)
    with transaction.atomic():
        if not _step_start(step, stamp()):
            return None
        services.campaign_enrol_new(campaign)
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.RUNNING, updated_at=now
        )
        if not rows.sliced:
            hand_over(rows.create())
            _step_done(step, now)
    if rows.sliced:
        # The first slice one chunk: the workers start on it while the
        # tick writes the next (about 100 ms sooner for 2,000-row slices).
        for bounds in rows.slices(SLICE_ROWS, first=chunk_size(k)):
            with transaction.atomic():
                if not _step_heartbeat(step, stamp()):
                    return None
                hand_over(rows.create(bounds))
        with transaction.atomic():
            if not _step_heartbeat(step, stamp()):
                return None
            _step_done(step, now)
    created = rows.count()
    logger.info(
        "step %s of campaign %s dispatched: %s deliveries",
        step.pk,
        campaign.pk,
        created,
    )
    return created


class _HandOver:
    """Give the leased rows to ``enqueue`` in chunks once their transaction
    commits; count them in ``report``."""

    def __init__(
        self,
        step: Step,
        enqueue: Enqueue | None,
        size: int,
        report: TickReport | None,
    ) -> None:
        self.step, self.enqueue, self.size, self.report = step, enqueue, size, report

    def __call__(self, leased: list[int]) -> None:
        enqueue = self.enqueue
        if enqueue is None or not leased:
            return
        chunks = _chunks([(pk, self.step.pk) for pk in leased], self.size)
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: enqueue(chunk))
        if self.report is not None:
            self.report.enqueued += len(leased)
            self.report.chunks += len(chunks)


def _step_start(step: Step, at: datetime) -> bool:
    """Take the step: a due one, or a dispatching one whose dispatcher
    stopped (its heartbeat unchanged since _steps_due read it)."""
    if step.status == StepStatus.DISPATCHING:
        mine = Step.objects.filter(
            pk=step.pk, status=StepStatus.DISPATCHING, dispatched_at=step.dispatched_at
        )
        if mine.update(dispatched_at=at):
            logger.warning("step %s: taking over a stopped dispatch", step.pk)
            return True
        return False
    return bool(
        Step.objects.filter(pk=step.pk, status__in=OPEN_STEP_STATUSES).update(
            status=StepStatus.DISPATCHING, dispatched_at=at
        )
    )


def _step_heartbeat(step: Step, at: datetime) -> bool:
    """Renew the step's heartbeat before writing a slice; False when the
    step is no longer ours to write: another tick took it over, or its
    campaign was cancelled meanwhile (the rows written since, which the
    cancellation did not see, are skipped as it skipped the others)."""
    if (
        Step.objects.filter(pk=step.pk, status=StepStatus.DISPATCHING)
        .exclude(campaign__status=CampaignStatus.CANCELLED)
        .update(dispatched_at=at)
    ):
        return True
    if Campaign.objects.filter(
        pk=step.campaign_id, status=CampaignStatus.CANCELLED
    ).exists():
        services.cancelled_skip(
            steps=Step.objects.filter(pk=step.pk, status=StepStatus.DISPATCHING),
            deliveries=Delivery.objects.filter(step=step),
            now=at,
        )
    return False


def _step_done(step: Step, now: datetime) -> None:
    Step.objects.filter(pk=step.pk).update(status=StepStatus.DONE, dispatched_at=now)


def steps_dispatch(
    *,
    now: datetime,
    report: TickReport,
    enqueue: Enqueue | None = None,
    k: Knobs | None = None,
) -> None:
    by_campaign: dict[int, list[Step]] = defaultdict(list)
    for step in _steps_due(now, k or knobs()):
        by_campaign[step.campaign_id].append(step)
    for steps in by_campaign.values():
        keep, superseded = steps_superseded(steps)
        # A dispatch taken over has part of its rows out already: finished,
        # never superseded.
        keep += [s for s in superseded if s.status == StepStatus.DISPATCHING]
        for step in superseded:
            if _step_close(
                step,
                StepStatus.SKIPPED,
                gettext_noop("Superseded by a later step due at the same time."),
            ):
                report.steps_superseded += 1
        for step in keep:
            created = step_dispatch(
                step=step, now=now, enqueue=enqueue, k=k, report=report
            )
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
            last_error=gettext_noop("The worker sending it stopped too many times."),
            status_at=now,
            claimed_at=None,
        )
        released = stuck.update(
            status=DeliveryStatus.QUEUED,
            claimed_at=None,
            next_attempt_at=None,
            last_error=gettext_noop("Re-queued: the worker sending it stopped."),
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
    # From the (few) steps of campaigns past their deadline to their queued
    # rows, not from every queued row to its campaign: a running step's
    # 20,000 queued rows were joined on every tick to find none.
    past = Step.objects.filter(campaign__deadline__lte=now).values("id")
    return Delivery.objects.filter(
        status=DeliveryStatus.QUEUED, step_id__in=past
    ).update(
        status=DeliveryStatus.SKIPPED,
        last_error=reasons.MISSED,
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
    size = chunk_size(k)
    lease = now + timedelta(seconds=k.enqueue_lease)
    with transaction.atomic():
        # claimed_at on a queued row: when it was handed to the broker
        # (leases_renew tells a lease from a retry's backoff by it).
        if connection.vendor == "postgresql":
            rows = _lease_due_postgresql(now=now, lease=lease, limit=k.max_per_tick)
        else:
            rows = _lease_due(now=now, lease=lease, limit=k.max_per_tick)
        chunks = _chunks(rows, size)
        for chunk in chunks:
            transaction.on_commit(lambda chunk=chunk: enqueue(chunk))
    return len(rows), len(chunks)


def _due(now: datetime) -> QuerySet[Delivery]:
    """Queued rows of running campaigns whose time has come, locked in order."""
    return (
        Delivery.objects.filter(
            status=DeliveryStatus.QUEUED,
            step__campaign__status=CampaignStatus.RUNNING,
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("step_id", "id")
        .select_for_update(skip_locked=True, of=("self",))
    )


def _lease_due(*, now: datetime, lease: datetime, limit: int) -> list[tuple[int, int]]:
    rows = list(_due(now).values_list("id", "step_id")[:limit])
    ids = [pk for pk, _step in rows]
    for start in range(0, len(ids), _UPDATE_BATCH):
        Delivery.objects.filter(id__in=ids[start : start + _UPDATE_BATCH]).update(
            next_attempt_at=lease, claimed_at=now
        )
    return rows


def _lease_due_postgresql(
    *, now: datetime, lease: datetime, limit: int
) -> list[tuple[int, int]]:
    """The same rows as _lease_due, selected and leased in one statement
    (UPDATE … FROM the locked selection … RETURNING) instead of 20,000 ids
    sent back in ten UPDATEs."""
    inner, params = _due(now).values("id")[:limit].query.sql_with_params()
    q = connection.ops.quote_name
    meta = Delivery._meta
    table = q(meta.db_table)
    column = {
        name: q(meta.get_field(name).column)
        for name in ("next_attempt_at", "claimed_at", "step")
    }
    sql = (
        f"UPDATE {table} SET {column['next_attempt_at']} = %s, "  # noqa: S608 (names from the model, values as parameters)
        f"{column['claimed_at']} = %s FROM ({inner}) AS due "
        f"WHERE {table}.{q('id')} = due.{q('id')} "
        f"RETURNING {table}.{q('id')}, {table}.{column['step']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [lease, now, *params])
        rows = cursor.fetchall()
    return sorted(rows, key=lambda row: (row[1], row[0]))


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
        status_reason=gettext_noop("The deadline passed before it could go out."),
    )


def _webhook_data(row: Step | Campaign) -> dict:
    if isinstance(row, Campaign):
        return services.campaign_event_data(row)
    counts = row.deliveries.values_list("status").annotate(n=Count("id"))
    return {
        **services.campaign_event_data(row.campaign),
        "step_id": row.pk,
        "kind": row.kind,
        "counts": dict(counts),
    }


def _done_with_webhooks(rows: QuerySet, event: str, **fields: object) -> int:
    """rows.update(**fields); row by row, each with its webhook in the same
    transaction, only while an endpoint listens (step.sent: one per step
    with its counts, not one per person)."""
    if event not in subscribed_types():
        return rows.update(**fields)
    changed = 0
    for row in rows:
        with transaction.atomic():
            if rows.filter(pk=row.pk).update(**fields):
                row.refresh_from_db()
                emit(event, _webhook_data(row))
                changed += 1
    return changed


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
    # NOT EXISTS, one index probe per candidate step or campaign, rather than
    # NOT IN a list of every queued or sending row's step (a running step's
    # 20,000 rows read on every tick).
    busy = Delivery.objects.filter(
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    )
    _done_with_webhooks(
        Step.objects.filter(status=StepStatus.DONE, done_at__isnull=True).exclude(
            Exists(busy.filter(step_id=OuterRef("pk")))
        ),
        "step.sent",
        done_at=now,
    )
    missed = steps_miss_after_deadline(now=now)
    if report is not None:
        report.steps_missed += missed
    open_steps = Step.objects.filter(
        status__in=(*OPEN_STEP_STATUSES, StepStatus.DISPATCHING)
    )
    finished = _done_with_webhooks(
        Campaign.objects.filter(
            Q(status=CampaignStatus.RUNNING)
            | Q(status__in=LAUNCHED_STATUSES, deadline__lte=now)
        )
        .exclude(pk__in=open_steps.values("campaign_id"))
        .exclude(Exists(busy.filter(step__campaign_id=OuterRef("pk")))),
        "campaign.finished",
        status=CampaignStatus.FINISHED,
        finished_at=Case(
            When(deadline__lt=now, then=F("deadline")),
            default=Value(now, output_field=DateTimeField()),
        ),
        updated_at=now,
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
    steps_dispatch(now=now, report=report, enqueue=enqueue, k=k)
    report.released = deliveries_sweep(now=now, k=k)
    report.expired = deliveries_expire(now=now)
    report.renewed = leases_renew(waiting=waiting() if waiting else None, now=now, k=k)
    enqueued, chunks = deliveries_enqueue(enqueue=enqueue, now=now, k=k)
    report.enqueued += enqueued
    report.chunks += chunks
    report.campaigns_finished = campaigns_finish(now=now, report=report)
    return report
