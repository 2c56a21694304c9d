"""The sending pipeline: dispatch due steps, claim, render, send, record.

Plain functions; ``tasks.py`` and ``send_due`` only call them.

The database is the schedule and the ledger. Each Delivery row moves
queued → sending (claimed by one worker) → sent | failed | rejected | skipped,
or back to queued with ``next_attempt_at`` for a retry. Everything the broker
carries (chunks of primary keys) is disposable: a lost, duplicated or
redelivered task changes nothing, because

- a task claims its rows in one transaction (``SELECT … FOR UPDATE SKIP
  LOCKED`` then a conditional ``UPDATE … WHERE status = 'queued'``); a second
  copy of the task finds them claimed and sends nothing;
- ``next_attempt_at`` on a queued row is a lease: when a chunk is enqueued its
  rows get ``now + SEND_ENQUEUE_LEASE`` so the next tick does not enqueue them
  again; if the task is lost (broker restart, a worker killed with the message
  unacknowledged), the lease expires and a tick enqueues the rows once more.
  Transient failures reuse the same field for their backoff, so a retry is
  just a row whose time has come: no ETA/countdown task ever waits in the
  broker (with Redis such tasks are redelivered after the visibility timeout,
  celery#2599);
- the sweeper puts rows stuck in "sending" (their worker died) back to
  queued. Over SMTP each message is recorded right after the server accepted
  it, so a crash re-sends at most the one message in flight; an ESP batch is
  one API call, so there the whole call is "in flight".
"""

from __future__ import annotations

import dataclasses
import logging
import random
import smtplib
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from email.policy import Compat32
from email.utils import make_msgid
from functools import cache, lru_cache

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import forbid_multi_line_headers
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from common.db import cursor_prepared
from employees.models import EmailStatus, Employee
from notifications.campaigns import content as content_mod
from notifications.campaigns import scheduling, services
from notifications.campaigns.tokens import token_from_seed
from notifications.delivery import ratelimit, rawmail
from notifications.delivery.tracking import status_after_send
from notifications.models import (
    LAUNCHED_STATUSES,
    OPEN_STEP_STATUSES,
    Campaign,
    CampaignContent,
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

_AUDIENCE_KINDS = (StepKind.FIRST, StepKind.REMINDER, StepKind.LAST_CALL)
_INSERT_BATCH = 2000
_UPDATE_BATCH = 2000
# Markers standing for per-recipient values while a message is rendered once
# per (content version, kind); letters and digits only, so escaping, line
# breaking and whitespace folding leave them intact.
_MARKS = {
    "first_name": "Zq7FirstNameMark7qZ",
    "last_name": "Zq7LastNameMark7qZ",
    "token": "Zq7TokenMark7qZ",
}


# --- Settings ----------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    chunk_size: int = 100
    batch_template: str = ""
    batch_size: int = 500
    max_attempts: int = 8
    retry_base: float = 30.0
    retry_max: float = 1800.0
    enqueue_lease: float = 600.0
    claim_timeout: float = 900.0
    max_per_tick: int = 100_000


def knobs() -> Knobs:
    """The SEND_* settings (see config/settings.py), with working defaults."""
    default = Knobs()
    return Knobs(
        chunk_size=getattr(settings, "SEND_CHUNK_SIZE", default.chunk_size),
        batch_template=getattr(settings, "EMAIL_BATCH_TEMPLATE", ""),
        batch_size=getattr(settings, "EMAIL_BATCH_SIZE", default.batch_size),
        max_attempts=getattr(settings, "SEND_MAX_ATTEMPTS", default.max_attempts),
        retry_base=getattr(settings, "SEND_RETRY_BASE", default.retry_base),
        retry_max=getattr(settings, "SEND_RETRY_MAX", default.retry_max),
        enqueue_lease=getattr(settings, "SEND_ENQUEUE_LEASE", default.enqueue_lease),
        claim_timeout=getattr(settings, "SEND_CLAIM_TIMEOUT", default.claim_timeout),
    )


def _batching(k: Knobs) -> bool:
    # Batch sending needs an ESP (anymail) and a pass-through template at
    # the ESP whose fields are {{subject}}, {{{body_text}}}, {{{body_html}}}:
    # each person's message is rendered here (what they received stays
    # provable by our hash), the ESP only substitutes it.
    return bool(k.batch_template) and settings.EMAIL_BACKEND.startswith("anymail.")


def chunk_size(k: Knobs | None = None) -> int:
    k = k or knobs()
    return max(1, k.batch_size if _batching(k) else k.chunk_size)


def retry_delay(attempts: int, k: Knobs | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, between half and all of it.

    The jitter spreads the retries of chunks that failed together (an ESP
    outage) so they do not hit the recovering server at the same instant.
    """
    k = k or knobs()
    ceiling = min(k.retry_max, k.retry_base * 2 ** max(0, attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)


# --- Error classification ------------------------------------------------------


def _smtp_code_transient(code: int) -> bool:
    return 400 <= code < 500


def error_is_transient(exc: BaseException) -> bool:
    """Worth retrying later (the same message may well go through)."""
    if isinstance(exc, AnymailRecipientsRefused):
        return False
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        return status is None or status == 429 or status >= 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return bool(codes) and all(_smtp_code_transient(c) for c in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_code_transient(exc.smtp_code) or exc.smtp_code == -1
    # SMTPServerDisconnected, refused connections, timeouts, DNS (all OSError).
    return isinstance(exc, OSError)


def error_breaks_connection(exc: BaseException) -> bool:
    """The connection itself failed: the rest of the chunk waits for a retry."""
    if isinstance(exc, AnymailAPIError):
        return error_is_transient(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
        return False
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code in (421, -1)
    return isinstance(exc, OSError)


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    prefix = f"HTTP {status}: " if status else ""
    return f"{prefix}{type(exc).__name__}: {exc}"[:2000]


# --- Dispatch --------------------------------------------------------------------


@dataclass
class TickReport:
    steps_dispatched: int = 0
    steps_missed: int = 0
    steps_superseded: int = 0
    deliveries_created: int = 0
    released: int = 0
    expired: int = 0
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

    A live worker renews its claim while the rate limit holds it back
    (_Claim), so only a dead one's rows grow older than the claim timeout.

    A row that has been claimed max_attempts times without an outcome is
    failed instead, so a message that kills its worker cannot loop forever.
    """
    k = k or knobs()
    stuck = Delivery.objects.filter(
        status=DeliveryStatus.SENDING,
        claimed_at__lt=now - timedelta(seconds=k.claim_timeout),
    )
    stuck.filter(attempts__gte=k.max_attempts).update(
        status=DeliveryStatus.FAILED,
        last_error=_("The worker sending it stopped too many times."),
        status_at=now,
        claimed_at=None,
    )
    return stuck.update(
        status=DeliveryStatus.QUEUED,
        claimed_at=None,
        next_attempt_at=None,
        last_error=_("Re-queued: the worker sending it stopped."),
    )


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
            Delivery.objects.filter(id__in=ids[start : start + _UPDATE_BATCH]).update(
                next_attempt_at=lease
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
    (acknowledging.link_expires_at) instead of leaving it scheduled or
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


def dispatch_tick(*, enqueue: Enqueue, now: datetime | None = None) -> TickReport:
    """One beat of the dispatcher: everything due now, nothing else."""
    now = now or timezone.now()
    k = knobs()
    report = TickReport()
    steps_dispatch(now=now, report=report)
    report.released = deliveries_sweep(now=now, k=k)
    report.expired = deliveries_expire(now=now)
    report.enqueued, report.chunks = deliveries_enqueue(enqueue=enqueue, now=now, k=k)
    report.campaigns_finished = campaigns_finish(now=now, report=report)
    return report


# --- Rendering -----------------------------------------------------------------


class _Renderer:
    """Campaign messages rendered once per content version and kind.

    Rendering three Django templates per message would cost more than
    sending it; the result is identical (tests/notifications/delivery/test_sending.py proves it
    against content.message_render), since the per-person values are only
    ever substituted or HTML-escaped.
    """

    def __init__(self, *, campaign: Campaign, kind: str, now: datetime) -> None:
        self.campaign, self.kind, self.now = campaign, kind, now
        self._prototypes: dict[tuple, content_mod.RenderedMessage] = {}
        self._raw: dict[tuple, rawmail.Prototype | None] = {}

    def _exact(
        self, content: CampaignContent, first: str, last: str, token: str
    ) -> content_mod.RenderedMessage:
        return content_mod.message_render(
            campaign=self.campaign,
            content=content,
            kind=self.kind,
            first_name=first,
            last_name=last,
            token=token,
            now=self.now,
        )

    def render(
        self, content: CampaignContent, *, first: str, last: str, token: str
    ) -> content_mod.RenderedMessage:
        return self.render_keyed(content, first=first, last=last, token=token)[0]

    def render_keyed(
        self, content: CampaignContent, *, first: str, last: str, token: str
    ) -> tuple[content_mod.RenderedMessage, tuple | None, dict[str, str]]:
        """The message, the key of the prototype it was filled from (None
        when rendered exactly), and the values filled in."""
        values = {"first_name": first, "last_name": last, "token": token}
        if any(
            "\r" in v or "\n" in v or any(m in v for m in _MARKS.values())
            for v in values.values()
        ):
            return self._exact(content, first, last, token), None, values
        key = (content.pk, bool(first), bool(last))
        proto = self._prototypes.get(key)
        if proto is None:
            proto = self._exact(
                content,
                _MARKS["first_name"] if first else "",
                _MARKS["last_name"] if last else "",
                _MARKS["token"],
            )
            self._prototypes[key] = proto
        message = content_mod.RenderedMessage(
            proto.language,
            " ".join(_fill(proto.subject, values, html=False).split()),
            _fill(proto.body_text, values, html=False),
            _fill(proto.body_html, values, html=True),
            content=content,
            sha256=proto.sha256,
        )
        return message, key, values

    def raw(self, out: _Outgoing) -> tuple[str, bytes, str] | None:
        """The quoted envelope sender, the message's bytes and its Message-ID, from
        a byte prototype built once per key (rawmail.py), or None: send it
        through Django."""
        if out.prototype is None:  # rendered exactly: no prototype to fill
            return None
        if out.prototype not in self._raw:
            proto = self._prototypes[out.prototype]
            html = proto.body_html
            for mark in _MARKS.values():
                html = html.replace(mark, rawmail.html_mark(mark))
            marked = _Outgoing(
                out.row,
                rawmail.TO_MARK,
                dataclasses.replace(proto, body_html=html),
            )
            self._raw[out.prototype] = rawmail.Prototype.build(
                _email(self.campaign, marked), _MARKS
            )
        proto_bytes = self._raw[out.prototype]
        if proto_bytes is None:
            return None
        filled = proto_bytes.fill(out.values, out.to)
        if filled is None:
            return None
        return proto_bytes.sender, *filled


def _fill(text: str, values: dict[str, str], *, html: bool) -> str:
    for name, mark in _MARKS.items():
        if mark in text:
            value = values[name]
            text = text.replace(mark, str(escape(value)) if html else value)
    return text


# --- Claiming and sending --------------------------------------------------------


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


@dataclass
class _Outgoing:
    row: Delivery
    to: str
    message: content_mod.RenderedMessage
    # Set when the message was filled from a prototype (the SMTP fast path).
    renderer: _Renderer | None = None
    prototype: tuple | None = None
    values: dict[str, str] | None = None


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
        )
        outgoing.append(
            _Outgoing(
                row, recipient.employee.email, message, renderer, prototype, values
            )
        )
    return outgoing


_PERSON_FIELDS = ("email", "is_active", "email_status", "language", "first_name")
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


def deliveries_send(ids: Sequence[int], *, now: datetime | None = None) -> SendReport:
    """Claim, re-check, render, send and record one chunk of deliveries."""
    now = now or timezone.now()
    report = SendReport()
    mine = deliveries_claim(ids, now=now)
    report.claimed = len(mine)
    if not mine:
        return report
    rows = list(
        Delivery.objects.filter(id__in=mine)
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
    claim = _Claim(mine)
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


def _record_sent(cursor: CursorWrapper, out: _Outgoing, message_id: str) -> None:
    # One statement per accepted message (the at-most-one-duplicate rule),
    # so its cost is per message: written once as SQL, on one cursor per
    # chunk, instead of compiling a QuerySet.update() each time (which cost
    # more CPU than the statement). Same effect as
    # .filter(pk=…, status=SENDING).update(…): no signals, updated_at untouched.
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    content = out.message.content
    cursor.execute(
        _sent_sql(),
        [
            status_after_send(),
            now,
            now,
            message_id or "",
            out.to,
            out.message.language,
            content.pk if content else None,
            out.message.sha256,
            out.row.pk,
            DeliveryStatus.SENDING,
        ],
    )


@cache
def _sent_sql() -> str:
    meta, quote = Delivery._meta, connection.ops.quote_name
    columns = ", ".join(
        f"{quote(meta.get_field(name).column)} = {value}"
        for name, value in (
            ("status", "%s"),
            ("sent_at", "%s"),
            ("status_at", "%s"),
            ("esp_message_id", "%s"),
            ("to_email", "%s"),
            ("language", "%s"),
            ("content", "%s"),
            ("content_sha256", "%s"),
            ("last_error", "''"),
            ("claimed_at", "NULL"),
            ("next_attempt_at", "NULL"),
        )
    )
    return (
        f"UPDATE {quote(meta.db_table)} SET {columns} "  # noqa: S608 (names from the model)
        f"WHERE {quote('id')} = %s AND {quote(meta.get_field('status').column)} = %s"
    )


class _CampaignEmail(EmailMultiAlternatives):
    """Django's message, minus the costs it pays afresh for every message.

    Profiled over SMTP, building the MIME message cost more CPU than anything
    else in the worker, mostly in work that is identical for every message of
    a chunk:

    - encoding the subject: a French subject is non-ASCII, and the standard
      library's RFC 2047 encoder tries both encodings growing the text one
      character at a time (quadratic). A chunk has one or two subjects, so
      the encoded header is computed once per subject, by Django's own
      function, and set on the message;
    - folding the headers when the message is written: Content-Type, From,
      Subject… come out the same for every message, so their folded bytes
      are remembered (a compat32 policy, Django's, with a cache);
    - the multipart boundary: the generator compiles a new regular expression
      per message to check that its random boundary is absent from the parts.
      We draw the same kind of boundary and check the texts with ``in``
      (stricter than the generator's line match); the rare collision falls
      back to the generator.

    The bytes are otherwise Django's (tests/notifications/delivery/test_sending.py compares them).
    """

    def message(self) -> Message:
        subject, self.subject = self.subject, ""
        try:
            msg = super().message()
        finally:
            self.subject = subject
        encoding = self.encoding or settings.DEFAULT_CHARSET
        msg.replace_header("Subject", _subject_header(subject, encoding))
        msg.policy = _FOLD_ONCE
        if msg.is_multipart():
            boundary = _boundary()
            texts = [self.body, *(a.content for a in self.alternatives)]
            if not any(boundary in text for text in texts):
                msg.set_boundary(boundary)
        return msg


@lru_cache(maxsize=64)
def _subject_header(subject: str, encoding: str) -> str:
    return forbid_multi_line_headers("Subject", subject, encoding)[1]


class _Compat32FoldOnce(Compat32):
    def fold_binary(self, name: str, value: object) -> bytes:
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        return _folded(self.linesep, self.max_line_length, self.cte_type, name, value)


@lru_cache(maxsize=512)
def _folded(
    linesep: str, max_line_length: int | None, cte_type: str, name: str, value: str
) -> bytes:
    # Everything compat32's folding depends on is in the key.
    return _compat32(linesep, max_line_length, cte_type).fold_binary(name, value)


@cache
def _compat32(linesep: str, max_line_length: int | None, cte_type: str) -> Compat32:
    return Compat32(linesep=linesep, max_line_length=max_line_length, cte_type=cte_type)


_FOLD_ONCE = _Compat32FoldOnce()


def _boundary() -> str:
    # The standard library's format (email.generator.Generator._make_boundary).
    return "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="


def _email(campaign: Campaign, out: _Outgoing) -> EmailMultiAlternatives:
    email = content_mod.email_build(out.message, campaign=campaign, to=out.to)
    email.__class__ = _CampaignEmail  # the same message; only message() differs
    # Our own Message-ID, known before sending: over SMTP it is the only id.
    email.extra_headers["Message-ID"] = make_msgid(domain=DNS_NAME)
    return email


def _send_each(
    campaign: Campaign, outgoing: list[_Outgoing], report: SendReport, claim: _Claim
) -> None:
    """One message at a time on one reused connection (SMTP, or any backend)."""
    connection = get_connection()
    smtp = type(connection) is SmtpBackend
    try:
        connection.open()
    except Exception as exc:
        _on_error([o.row for o in outgoing], exc, report)
        return
    try:
        with cursor_prepared() as cursor:
            _send_each_on(campaign, outgoing, report, connection, smtp, cursor, claim)
    finally:
        try:
            connection.close()
        except Exception:  # closing a broken connection may fail: nothing to do
            logger.debug("closing the mail connection failed", exc_info=True)


def _send_each_on(
    campaign: Campaign,
    outgoing: list[_Outgoing],
    report: SendReport,
    mail_connection: object,
    smtp: bool,
    cursor: CursorWrapper,
    claim: _Claim,
) -> None:
    """The loop of _send_each, on its open mail connection and cursor."""
    for index, out in enumerate(outgoing):
        if timezone.now() >= campaign.deadline:
            rest = [o.row for o in outgoing[index:]]
            _finish(
                rest,
                DeliveryStatus.SKIPPED,
                _("Missed: the deadline passed before it could be sent."),
                timezone.now(),
            )
            report.skipped += len(rest)
            return
        claim.wait_for(1)
        raw = out.renderer.raw(out) if smtp and out.renderer else None
        try:
            if raw is not None:
                # Django's SMTP backend would make the same sendmail()
                # call with these bytes (rawmail.py); only building them
                # is skipped.
                sender, data, message_id = raw
                rawmail.sendmail(mail_connection.connection, sender, out.to, data)
            else:
                email = _email(campaign, out)
                mail_connection.send_messages([email])
                status = getattr(email, "anymail_status", None)
                message_id = (status and status.message_id) or (
                    email.extra_headers["Message-ID"]
                )
        except Exception as exc:
            if error_breaks_connection(exc):
                _retry_or_fail([o.row for o in outgoing[index:]], exc, report)
                return
            _on_error([out.row], exc, report)
            continue
        _record_sent(cursor, out, str(message_id))
        report.sent += 1


def _on_error(rows: list[Delivery], exc: BaseException, report: SendReport) -> None:
    if error_is_transient(exc):
        _retry_or_fail(rows, exc, report)
    else:
        logger.warning("permanent send failure for %s rows: %s", len(rows), exc)
        _fail(rows, exc, report)


def _send_batch(
    campaign: Campaign, outgoing: list[_Outgoing], report: SendReport, claim: _Claim
) -> None:
    """One ESP API call for the chunk (anymail merge_data), up to the ESP's limit."""
    k = knobs()
    for start in range(0, len(outgoing), max(1, k.batch_size)):
        claim.keep()
        _send_one_batch(
            campaign, outgoing[start : start + k.batch_size], k, report, claim
        )


def _send_one_batch(
    campaign: Campaign,
    outgoing: list[_Outgoing],
    k: Knobs,
    report: SendReport,
    claim: _Claim,
) -> None:
    by_address: dict[str, _Outgoing] = {}
    for out in outgoing:
        by_address.setdefault(out.to.lower(), out)
    duplicates = [o for o in outgoing if by_address[o.to.lower()] is not o]
    batch = list(by_address.values())
    email = EmailMultiAlternatives(
        from_email=campaign.from_email or settings.DEFAULT_FROM_EMAIL,
        to=[o.to for o in batch],
        reply_to=[campaign.reply_to] if campaign.reply_to else None,
        headers={"X-Campaign-Reference": campaign.reference},
    )
    email.template_id = k.batch_template
    email.merge_data = {
        o.to: {
            "subject": o.message.subject,
            "body_text": o.message.body_text,
            "body_html": o.message.body_html,
        }
        for o in batch
    }
    claim.wait_for(len(batch))
    try:
        get_connection(ignore_recipient_status=True).send_messages([email])
    except Exception as exc:
        _on_error([o.row for o in batch], exc, report)
    else:
        _record_batch(batch, email, report)
    if duplicates:  # the same address twice in one call: send it separately
        _send_each(campaign, duplicates, report, claim)


def _record_batch(
    batch: list[_Outgoing], email: EmailMultiAlternatives, report: SendReport
) -> None:
    statuses = email.anymail_status.recipients
    now = timezone.now()
    sent: dict[tuple, list[int]] = defaultdict(list)
    message_ids: dict[int, str] = {}
    for out in batch:
        status = statuses.get(out.to) or statuses.get(out.to.lower())
        row = out.row
        if status is not None and status.status in ("rejected", "invalid"):
            _fail([row], AnymailRecipientsRefused(f"{out.to}: {status.status}"), report)
            continue
        if status is not None and status.status == "failed":
            _retry_or_fail([row], AnymailAPIError(f"{out.to}: failed"), report)
            continue
        content = out.message.content
        key = (
            content.pk if content else None,
            out.message.sha256,
            out.message.language,
        )
        sent[key].append(row.pk)
        message_ids[row.pk] = (status and status.message_id) or ""
    # One UPDATE per content version (usually one or two per call), each row
    # written once with its ESP id from a CASE: bulk_update's CASE per field
    # and row cost more than the API call, and a second statement for the ids
    # wrote every row twice.
    with transaction.atomic():
        for (content_id, sha256, language), ids in sent.items():
            _mark_batch_sent(
                {pk: message_ids[pk] for pk in ids},
                content_id=content_id,
                sha256=sha256,
                language=language,
                now=now,
            )
    report.sent += len(message_ids)


def _mark_batch_sent(
    message_ids: dict[int, str],
    *,
    content_id: int | None,
    sha256: str,
    language: str,
    now: datetime,
) -> None:
    meta, quote = Delivery._meta, connection.ops.quote_name
    table, pk = quote(meta.db_table), quote("id")
    column = {
        name: quote(meta.get_field(name).column)
        for name in (
            "status",
            "sent_at",
            "status_at",
            "language",
            "content",
            "content_sha256",
            "last_error",
            "claimed_at",
            "next_attempt_at",
            "esp_message_id",
        )
    }
    at = connection.ops.adapt_datetimefield_value(now)
    values = [
        status_after_send(),
        at,
        at,
        language,
        content_id,
        sha256,
    ]
    common = (
        f"UPDATE {table} SET {column['status']} = %s, {column['sent_at']} = %s, "  # noqa: S608 (names from the model, placeholders only)
        f"{column['status_at']} = %s, {column['language']} = %s, "
        f"{column['content']} = %s, {column['content_sha256']} = %s, "
        f"{column['last_error']} = '', {column['claimed_at']} = NULL, "
        f"{column['next_attempt_at']} = NULL, "
    )
    if connection.vendor == "postgresql":
        # Two array parameters instead of three placeholders per row: the
        # statement is the same for every call, so it is prepared once, and
        # neither psycopg nor the server parses a thousand placeholders.
        with cursor_prepared() as cursor:
            cursor.execute(
                f"{common}{column['esp_message_id']} = batch.message_id "
                f"FROM unnest(%s::bigint[], %s::text[]) AS batch(id, message_id) "
                f"WHERE {table}.{pk} = batch.id AND {table}.{column['status']} = %s",
                [
                    *values,
                    list(message_ids),
                    list(message_ids.values()),
                    DeliveryStatus.SENDING,
                ],
            )
        return
    whens = " ".join(["WHEN %s THEN %s"] * len(message_ids))
    marks = ", ".join(["%s"] * len(message_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"{common}{column['esp_message_id']} = CASE {pk} {whens} END "
            f"WHERE {pk} IN ({marks}) AND {column['status']} = %s",
            [
                *values,
                *(v for pair in message_ids.items() for v in pair),
                *message_ids,
                DeliveryStatus.SENDING,
            ],
        )
