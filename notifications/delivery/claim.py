"""A worker's claim on a chunk's rows: taking it, keeping it, giving rows back.

The claim is what makes a lost, duplicated or redelivered task harmless.
deliveries_claim moves rows queued → sending in one transaction, so a second
copy of the task finds nothing left to take; _Claim keeps the claim fresh
while the rate limit holds the chunk back, so the sweeper (dispatch.py) does
not take a live worker for dead. A row that does not go out leaves the claim
here (skipped, queued again for a retry, failed); a sent one is recorded
where it was sent (each.py, batch.py). Every such write touches only rows
still "sending", so nothing is recorded twice. SendReport counts what became
of the chunk's rows.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from anymail.exceptions import AnymailRecipientsRefused
from django.db import connection, transaction
from django.db.models import BooleanField, F, OuterRef, Q, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_noop

from notifications.delivery import ratelimit
from notifications.delivery.outage import DB_OUTAGE_ERRORS, connection_drop
from notifications.delivery.policy import (
    _describe,
    error_is_transient,
    knobs,
    retry_delay,
)
from notifications.delivery.tracking import failed_emit
from notifications.models import CampaignStatus, Delivery, DeliveryStatus, Step

logger = logging.getLogger(__name__)


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class _Claim:
    """Keeps a chunk's claim fresh while the chunk is being sent: a heartbeat.

    The sweeper puts back rows claimed longer ago than the claim timeout,
    taking their worker for dead. So, every third of the timeout, a live
    worker renews the claim of the chunk's rows still in "sending" (not sent
    yet): between two messages, and while EMAIL_RATE_LIMIT (shared by every
    worker, so a chunk may take chunk * workers / rate seconds) holds it
    back. The timeout can then be short (SEND_CLAIM_TIMEOUT, a minute) and a
    dead worker's rows come back within it. The check costs one clock read
    per message.

    Every claimed_at this task wrote is kept in ``stamps``: after a database
    outage the task takes back its own rows by them (deliveries_claim),
    never another worker's.
    """

    def __init__(self, ids: Sequence[int], stamps: set[datetime]) -> None:
        self.ids = list(ids)
        self.stamps = stamps
        self.every = knobs().claim_timeout / 3
        self.at = time.monotonic()

    def wait_for(self, n: int) -> None:
        """The rate limit's wait for ``n`` messages, the claim kept meanwhile."""
        ratelimit.acquire(n, while_waiting=self.keep, interval=self.every)
        self.keep()

    def keep(self) -> None:
        """Renew the claim if a third of the timeout has passed.

        A database error is not the chunk's end: the heartbeat is missed, the
        next one (or the outage handling of the write that follows) retries.
        """
        if time.monotonic() - self.at < self.every:
            return
        stamp = timezone.now()
        self.stamps.add(stamp)  # before the UPDATE: it may commit and then fail
        try:
            Delivery.objects.filter(
                pk__in=self.ids, status=DeliveryStatus.SENDING
            ).update(claimed_at=stamp)
        except DB_OUTAGE_ERRORS:
            logger.warning("claim not renewed: database unavailable", exc_info=True)
            connection_drop()
            return
        self.at = time.monotonic()


def deliveries_claim(
    ids: Sequence[int], *, now: datetime, stamps: set[datetime] | None = None
) -> list[int]:
    """Take queued rows for this worker; returns the ids it got.

    FOR UPDATE SKIP LOCKED (PostgreSQL) lets two workers holding the same ids
    split them without waiting; the conditional UPDATE is what guarantees
    exclusivity everywhere (on SQLite the IMMEDIATE transaction serialises
    the two statements). Paused campaigns' rows stay queued for later.
    Attempts are counted at claim time so a message that crashes its worker
    still uses up its attempts.

    ``stamps`` are the claimed_at values this task wrote before a database
    outage interrupted it (outage.py): rows still "sending" with one of them
    are its own, taken back without counting an attempt. ``now`` is added.
    """
    return [row[0] for row in deliveries_claim_read(ids, now=now, stamps=stamps)]


def deliveries_claim_read(
    ids: Sequence[int],
    *,
    now: datetime,
    stamps: set[datetime] | None = None,
    fields: Sequence[str] = (),
) -> list[tuple]:
    """deliveries_claim, and the claimed rows read as they stand after it:
    ``(id, *fields)`` tuples (``values_list`` names), in id order.

    On PostgreSQL a first claim reads them in the claiming statement itself
    (RETURNING): a chunk's second statement and its second pass over the
    same rows and joins cost more than the read's own work.
    """
    if not stamps and connection.vendor == "postgresql":
        if stamps is not None:
            stamps.add(now)
        return _claim_fresh_postgresql(ids, now=now, fields=fields)
    held = Q(
        status=DeliveryStatus.QUEUED, step__campaign__status=CampaignStatus.RUNNING
    )
    if stamps:
        held |= Q(status=DeliveryStatus.SENDING, claimed_at__in=list(stamps))
    if stamps is not None:
        stamps.add(now)
    with transaction.atomic():
        rows = list(
            Delivery.objects.filter(held, id__in=list(ids))
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", "status")
        )
        fresh = [pk for pk, status in rows if status == DeliveryStatus.QUEUED]
        retaken = [pk for pk, status in rows if status == DeliveryStatus.SENDING]
        if fresh:
            Delivery.objects.filter(id__in=fresh, status=DeliveryStatus.QUEUED).update(
                status=DeliveryStatus.SENDING,
                claimed_at=now,
                attempts=F("attempts") + 1,
                status_at=now,
            )
        if retaken:
            Delivery.objects.filter(
                id__in=retaken, status=DeliveryStatus.SENDING
            ).update(claimed_at=now)
    mine = sorted(fresh + retaken)
    if not fields or not mine:
        return [(pk,) for pk in mine]
    return list(
        Delivery.objects.filter(id__in=ids_param(mine))
        .order_by("id")
        .values_list("id", *fields)
    )


def _claim_fresh_postgresql(
    ids: Sequence[int], *, now: datetime, fields: Sequence[str] = ()
) -> list[tuple]:
    """deliveries_claim_read's first claim in one statement: the same rows
    locked with SKIP LOCKED (their ``fields`` joined in) and moved to
    "sending" (UPDATE … FROM the locked selection … RETURNING), the ids sent
    as one array instead of a placeholder each, twice. The row's own columns
    are returned as updated (attempts counted), the joined ones as read.

    The rows are found by their ids alone (``id = ANY``: the primary key),
    their campaign's status read per row and their own status checked by
    the UPDATE: given a join to the campaigns or a status to look up, the
    planner started from every queued row of the running steps (an index
    on them) and hashed them all to keep the chunk's 500, on every chunk.

    The selection is a MATERIALIZED common table expression, run once: as a
    subquery joined to the UPDATE, statistics from before the step was
    written (no row queued: autovacuum had not analysed them yet) made the
    planner scan the step's queued rows and run the locking selection again
    for each (the first claims of a fresh database's first campaign took
    2 s each for 1,000 rows; tests/notifications/delivery/test_claim_plan.py).
    """
    q = connection.ops.quote_name
    meta = Delivery._meta
    table = q(meta.db_table)
    campaign_status = (
        Step.objects.filter(pk=OuterRef("step_id"))
        .order_by()
        .values("campaign__status")[:1]
    )
    selection = (
        Delivery.objects.filter(
            RawSQL(  # noqa: S611 (names from the model, the ids as a parameter)
                f"{table}.{q('id')} = ANY(%s::bigint[])",
                (list(ids),),
                output_field=BooleanField(),
            )
        )
        .alias(campaign_status=Subquery(campaign_status))
        .filter(campaign_status=CampaignStatus.RUNNING)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by()
        .values_list("id", *fields)
    )
    column = {
        name: q(meta.get_field(name).column)
        for name in ("status", "claimed_at", "attempts", "status_at")
    }
    names = ["id", *fields]
    aliases = [f"c{i}" for i in range(len(names))]
    returned = ", ".join(
        f"mine.{alias}" if "__" in name else f"{table}.{q(meta.get_field(name).column)}"
        for name, alias in zip(names, aliases, strict=True)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        inner, params = selection.query.sql_with_params()
        sql = (
            f"WITH mine({', '.join(aliases)}) AS MATERIALIZED ({inner}) "  # noqa: S608 (names from the model, values as parameters)
            f"UPDATE {table} SET {column['status']} = %s, "
            f"{column['claimed_at']} = %s, {column['status_at']} = %s, "
            f"{column['attempts']} = {table}.{column['attempts']} + 1 "
            f"FROM mine "
            f"WHERE {table}.{q('id')} = mine.c0 AND {table}.{column['status']} = %s "
            f"RETURNING {returned}"
        )
        cursor.execute(
            sql, [*params, DeliveryStatus.SENDING, now, now, DeliveryStatus.QUEUED]
        )
        return sorted(cursor.fetchall())


def ids_param(ids: Sequence[int]) -> object:
    """``id__in=`` a list of ids as one parameter on PostgreSQL (an array):
    a chunk's 500 placeholders cost the client and the server more parsing
    than the query's work. The plain list elsewhere."""
    if connection.vendor != "postgresql":
        return list(ids)
    return RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))


# --- Giving back the rows not sent -----------------------------------------------


def _finish(rows: list[Delivery], status: str, reason: str, now: datetime) -> None:
    ids = [r.pk for r in rows]
    Delivery.objects.filter(
        id__in=ids_param(ids), status=DeliveryStatus.SENDING
    ).update(
        status=status,
        last_error=reason,
        status_at=now,
        claimed_at=None,
        next_attempt_at=None,
    )


def _retry_or_fail(
    rows: list[Delivery], exc: BaseException, report: SendReport
) -> None:
    """Transient failure: back to queued with a backoff, or failed at the limit."""
    k = knobs()
    now = timezone.now()
    error = _describe(exc)
    report.errors.append(error)
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_attempts[row.attempts].append(row.pk)  # counted at claim time
    for attempts, ids in by_attempts.items():
        pending = Delivery.objects.filter(id__in=ids, status=DeliveryStatus.SENDING)
        if attempts >= k.max_attempts:
            with transaction.atomic():
                report.failed += pending.update(
                    status=DeliveryStatus.FAILED,
                    last_error=gettext_noop("Gave up after %(n)s attempts: %(error)s")
                    % {"n": attempts, "error": error},
                    status_at=now,
                    claimed_at=None,
                    next_attempt_at=None,
                )
                _failed_emit(ids, DeliveryStatus.FAILED, now)
        else:
            report.retried += pending.update(
                status=DeliveryStatus.QUEUED,
                last_error=error,
                status_at=now,
                claimed_at=None,
                next_attempt_at=now + timedelta(seconds=retry_delay(attempts, k)),
            )


def _fail(rows: list[Delivery], exc: BaseException, report: SendReport) -> None:
    """Permanent failure: recorded, shown, and the campaign carries on."""
    status = (
        DeliveryStatus.REJECTED
        if isinstance(exc, smtplib.SMTPRecipientsRefused | AnymailRecipientsRefused)
        else DeliveryStatus.FAILED
    )
    report.errors.append(_describe(exc))
    report.failed += len(rows)
    now = timezone.now()
    with transaction.atomic():
        _finish(rows, status, _describe(exc), now)
        _failed_emit([r.pk for r in rows], status, now)


def _failed_emit(ids: list[int], status: str, now: datetime) -> None:
    """delivery.failed webhooks for the rows this failure just recorded (as
    for an ESP's bounce report), in the transaction that recorded them."""
    failed_emit(
        Delivery.objects.filter(id__in=ids, status=status, status_at=now), status
    )


def _on_error(rows: list[Delivery], exc: BaseException, report: SendReport) -> None:
    if error_is_transient(exc):
        _retry_or_fail(rows, exc, report)
    else:
        logger.warning("permanent send failure for %s rows: %s", len(rows), exc)
        _fail(rows, exc, report)
