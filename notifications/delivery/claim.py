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
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.delivery import ratelimit
from notifications.delivery.policy import (
    _describe,
    error_is_transient,
    knobs,
    retry_delay,
)
from notifications.models import CampaignStatus, Delivery, DeliveryStatus

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
    """Keeps a chunk's claim fresh while the chunk is slowly sent.

    The sweeper puts back rows claimed longer ago than the claim timeout,
    taking their worker for dead. EMAIL_RATE_LIMIT is shared by every worker,
    so a chunk may take chunk * workers / rate seconds, which no timeout
    fixed in advance can foresee (the number of workers is not known here):
    a live worker held back that long would see its rows sent a second time
    by another. So, every third of the timeout, it renews the claim of the
    chunk's rows still in "sending" (not sent yet). A chunk sent at full
    speed never renews.
    """

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = list(ids)
        self.every = knobs().claim_timeout / 3
        self.at = time.monotonic()

    def wait_for(self, n: int) -> None:
        """The rate limit's wait for ``n`` messages, the claim kept meanwhile."""
        ratelimit.acquire(n, while_waiting=self.keep, interval=self.every)
        self.keep()

    def keep(self) -> None:
        """Renew the claim if a third of the timeout has passed."""
        if time.monotonic() - self.at < self.every:
            return
        Delivery.objects.filter(pk__in=self.ids, status=DeliveryStatus.SENDING).update(
            claimed_at=timezone.now()
        )
        self.at = time.monotonic()


def deliveries_claim(ids: Sequence[int], *, now: datetime) -> list[int]:
    """Take queued rows for this worker; returns the ids it got.

    FOR UPDATE SKIP LOCKED (PostgreSQL) lets two workers holding the same ids
    split them without waiting; the conditional UPDATE is what guarantees
    exclusivity everywhere (on SQLite the IMMEDIATE transaction serialises
    the two statements). Paused campaigns' rows stay queued for later.
    Attempts are counted at claim time so a message that crashes its worker
    still uses up its attempts.
    """
    with transaction.atomic():
        mine = list(
            Delivery.objects.filter(
                id__in=list(ids),
                status=DeliveryStatus.QUEUED,
                step__campaign__status=CampaignStatus.RUNNING,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
        )
        if mine:
            Delivery.objects.filter(id__in=mine, status=DeliveryStatus.QUEUED).update(
                status=DeliveryStatus.SENDING,
                claimed_at=now,
                attempts=F("attempts") + 1,
                status_at=now,
            )
    return mine


# --- Giving back the rows not sent -----------------------------------------------


def _finish(rows: list[Delivery], status: str, reason: str, now: datetime) -> None:
    ids = [r.pk for r in rows]
    Delivery.objects.filter(id__in=ids, status=DeliveryStatus.SENDING).update(
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
            report.failed += pending.update(
                status=DeliveryStatus.FAILED,
                last_error=_("Gave up after %(n)s attempts: %(error)s")
                % {"n": attempts, "error": error},
                status_at=now,
                claimed_at=None,
                next_attempt_at=None,
            )
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
    _finish(rows, status, _describe(exc), timezone.now())


def _on_error(rows: list[Delivery], exc: BaseException, report: SendReport) -> None:
    if error_is_transient(exc):
        _retry_or_fail(rows, exc, report)
    else:
        logger.warning("permanent send failure for %s rows: %s", len(rows), exc)
        _fail(rows, exc, report)
