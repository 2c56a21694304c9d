"""A due step's Delivery rows, each with its wave: when the person's window opens.

The send window applies where each recipient is (employees/timezones.py), so
the dispatcher creates all of a step's rows when the step is due, and gives
each queued row whose person's window is closed a ``next_attempt_at`` at its
next opening (scheduling.person_send_at); deliveries_enqueue hands a row to
the workers once that time has come. The time is computed once per zone,
never per person: people are grouped by (time zone, country) first.

On PostgreSQL the rows are written by ``INSERT … SELECT`` (the waves
joined in from three arrays), one per slice of recipients: creating 20,000
rows as Python objects took the tick about two seconds, longer than sending
them through an ESP, and writing them all in one transaction kept every
worker waiting for the last row (StepRows). SQLite keeps the portable path
(bulk_create in batches, one transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from employees import timezones
from employees.models import EmailStatus, Employee
from notifications.campaigns import scheduling
from notifications.delivery import reasons
from notifications.models import Delivery, DeliveryStatus, Recipient, Step, StepKind

_INSERT_BATCH = 2000


class Waves:
    """When each zone's people get one step dispatched at ``now``."""

    def __init__(self, step: Step, now: datetime) -> None:
        campaign = step.campaign
        self.window = scheduling.window_for(campaign)
        self.deadline = campaign.deadline
        self.now = now
        self.nominal = scheduling.step_nominal_time(
            offset_days=step.offset_days,
            at=step.at,
            deadline=campaign.deadline,
            tz=self.window.tz,
        )
        self._by_zone: dict[str, datetime | None] = {}

    def at(self, time_zone: str, country: str) -> datetime | None:
        """The wave of a person with these fields; None: now."""
        name = timezones.zone_name(
            time_zone=time_zone, country=country, default=self.window.tz.key
        )
        if name not in self._by_zone:
            when = scheduling.person_send_at(
                nominal=self.nominal,
                deadline=self.deadline,
                window=self.window.where(ZoneInfo(name)),
                now=self.now,
            )
            self._by_zone[name] = when if when > self.now else None
        return self._by_zone[name]


def _audience(step: Step) -> QuerySet[Recipient]:
    recipients = Recipient.objects.filter(
        campaign_id=step.campaign_id, employee__is_active=True
    )
    if step.kind != StepKind.FIRST:
        recipients = recipients.filter(acknowledged_at__isnull=True)
    return recipients


def _new_delivery(
    step: Step,
    email: str,
    language: str,
    email_status: str,
    wave: datetime | None,
    **who: int,
) -> Delivery:
    # A known-bad address is targeted but not sent to: the DPO sees it skipped
    # with the reason instead of the person silently missing from the figures.
    bad = email_status != EmailStatus.OK
    return Delivery(
        step_id=step.pk,
        to_email=email,
        language=language,
        status=DeliveryStatus.SKIPPED if bad else DeliveryStatus.QUEUED,
        last_error=reasons.BAD_ADDRESS if bad else "",
        next_attempt_at=None if bad else wave,
        **who,
    )


def _audience_rows(
    step: Step, waves: Waves, bounds: tuple[int | None, int | None]
) -> Iterator[Delivery]:
    after, up_to = bounds
    audience = _audience(step)
    if after is not None:
        audience = audience.filter(id__gt=after)
    if up_to is not None:
        audience = audience.filter(id__lte=up_to)
    rows = audience.values_list(
        "id",
        "employee__email",
        "language",
        "employee__email_status",
        "employee__time_zone",
        "employee__country",
    ).order_by("id")
    for recipient_id, email, language, status, tz, country in rows.iterator(2000):
        yield _new_delivery(
            step,
            email,
            language,
            status,
            waves.at(tz, country),
            recipient_id=recipient_id,
        )


def _digest_rows(step: Step, waves: Waves) -> Iterator[Delivery]:
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
            "employee__manager__time_zone",
            "employee__manager__country",
        )
        .distinct()
        .order_by("employee__manager_id")
    )
    for manager_id, email, language, status, tz, country in managers:
        yield _new_delivery(
            step, email, language, status, waves.at(tz, country), manager_id=manager_id
        )


def _bulk_create(rows: Iterable[Delivery]) -> None:
    batch: list[Delivery] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _INSERT_BATCH:
            Delivery.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        Delivery.objects.bulk_create(batch, ignore_conflicts=True)


class StepRows:
    """A due step's rows with their waves, written at once or in slices.

    With ``lease`` (the end of an enqueue lease), on PostgreSQL, the rows due
    now are written as deliveries_enqueue would leave them (claimed_at now,
    next_attempt_at the lease's end), so the tick hands them to the workers
    without writing them a second time; ``create`` returns their ids.

    On PostgreSQL an audience step can be written in slices of recipients
    (``slices``), each in its own transaction, so that the workers start on
    the first slice while the next ones are written (dispatch.step_dispatch).
    Each slice is an ``INSERT … ON CONFLICT DO NOTHING`` over a range of
    recipient ids: written twice (two ticks, or a tick resuming a stopped
    one), a slice adds nothing and returns no id, so no row is handed over
    twice.
    """

    def __init__(self, step: Step, *, now: datetime, lease: datetime | None) -> None:
        self.step = step
        self.waves = Waves(step, now)
        self.lease = lease
        self._wave_arrays: list[list] | None = None

    @property
    def sliced(self) -> bool:
        """Whether this step's rows can be written in several transactions."""
        return (
            connection.vendor == "postgresql"
            and self.step.kind != StepKind.MANAGER_DIGEST
        )

    def slices(
        self, size: int, *, first: int | None = None
    ) -> list[tuple[int | None, int | None]]:
        """Ranges ``(after, up_to]`` of recipient ids, ``size`` recipients of
        the campaign each (fewer people when some are not in this step's
        audience), the first ``first`` when given (smaller: the workers
        start sooner); None: open-ended. One pass over the campaign's
        recipients (the index on their campaign)."""
        first = size if first is None else max(1, min(first, size))
        bounds = list(
            Recipient.objects.filter(campaign_id=self.step.campaign_id)
            .annotate(n=Window(RowNumber(), order_by="id"))
            .annotate(m=(F("n") - first) % size)
            .filter(m=0, n__gte=first)
            .order_by("id")
            .values_list("id", flat=True)
        )
        edges: list[int | None] = [None, *bounds, None]
        return list(pairwise(edges))

    def create(self, bounds: tuple[int | None, int | None] = (None, None)) -> list[int]:
        """Write the rows (of the recipients in ``bounds``); the ids leased."""
        if self.step.kind == StepKind.MANAGER_DIGEST:
            _bulk_create(_digest_rows(self.step, self.waves))
        elif connection.vendor == "postgresql":
            return self._insert_select(bounds)
        else:
            _bulk_create(_audience_rows(self.step, self.waves, bounds))
        return []

    def count(self) -> int:
        return Delivery.objects.filter(step=self.step).count()

    def _arrays(self) -> list[list]:
        """The waves as three arrays (zones, countries, times): the people
        whose window is closed now; read once per step, not per slice."""
        if self._wave_arrays is None:
            # With the window off everyone's wave is now: the people's zones
            # need not be read (a scan of the whole audience).
            pairs = (
                _audience(self.step)
                .values_list("employee__time_zone", "employee__country")
                .distinct()
                .order_by()
                if self.waves.window.enabled
                else ()
            )
            zones, countries, ats = [], [], []
            for tz, country in pairs:
                wave = self.waves.at(tz, country)
                if wave is not None:
                    zones.append(tz)
                    countries.append(country)
                    ats.append(wave)
            self._wave_arrays = [zones, countries, ats] if ats else []
        return self._wave_arrays

    def _insert_select(self, bounds: tuple[int | None, int | None]) -> list[int]:
        """The audience's rows in one statement (PostgreSQL); the ids leased."""
        step, lease, arrays = self.step, self.lease, self._arrays()
        at = timezone.now()
        ok = [EmailStatus.OK]
        after, up_to = bounds
        params = [
            step.pk,
            *ok,
            DeliveryStatus.QUEUED,
            DeliveryStatus.SKIPPED,
            *ok,
            reasons.BAD_ADDRESS,
            *ok,
            lease,
            *ok,
            self.waves.now if lease else None,
            at,
            at,
            *arrays,
            step.campaign_id,
            *[bound for bound in bounds if bound is not None],
        ]
        sql = _insert_sql(
            step, waves=bool(arrays), after=after is not None, up_to=up_to is not None
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return sorted(pk for pk, leased in cursor.fetchall() if leased)


_COLUMNS = (
    "step",
    "recipient",
    "to_email",
    "language",
    "status",
    "last_error",
    "next_attempt_at",
    "claimed_at",
    "content_sha256",
    "esp_message_id",
    "attempts",
    "created_at",
    "updated_at",
)


def _insert_sql(step: Step, *, waves: bool, after: bool, up_to: bool) -> str:
    """The INSERT … SELECT of StepRows._insert_select, its parameters in
    that method's order; the waves joined from three arrays when any; the
    recipients after / up to an id when ``after`` / ``up_to``."""
    q = connection.ops.quote_name
    d, r, e = Delivery._meta, Recipient._meta, Employee._meta

    def col(meta: object, name: str) -> str:
        return q(meta.get_field(name).column)

    ok = "e.{} = %s".format(col(e, "email_status"))
    wave_join, wave = "", "NULL::timestamptz"
    if waves:
        wave_join = (
            "LEFT JOIN unnest(%s::text[], %s::text[], %s::timestamptz[]) "
            f"AS w(tz, country, at) ON w.tz = e.{col(e, 'time_zone')} "
            f"AND w.country = e.{col(e, 'country')} "
        )
        wave = "w.at"
    # next_attempt_at: the wave; else, leased, the lease's end. claimed_at:
    # when leased (queued, due now).
    wave_value = f"CASE WHEN {ok} THEN COALESCE({wave}, %s::timestamptz) END"
    claimed_value = f"CASE WHEN {ok} AND {wave} IS NULL THEN %s::timestamptz END"
    rid = q("id")
    unacknowledged = (
        ""
        if step.kind == StepKind.FIRST
        else f"AND r.{col(r, 'acknowledged_at')} IS NULL "
    )
    return (
        f"INSERT INTO {q(d.db_table)} ({', '.join(col(d, c) for c in _COLUMNS)}) "  # noqa: S608 (names from the models, values as parameters)
        f"SELECT %s, r.{q('id')}, e.{col(e, 'email')}, r.{col(r, 'language')}, "
        f"CASE WHEN {ok} THEN %s ELSE %s END, "
        f"CASE WHEN {ok} THEN '' ELSE %s END, "
        f"{wave_value}, {claimed_value}, '', '', 0, %s, %s "
        f"FROM {q(r.db_table)} r "
        f"JOIN {q(e.db_table)} e ON e.{q('id')} = r.{col(r, 'employee')} "
        f"{wave_join}"
        f"WHERE r.{col(r, 'campaign')} = %s AND e.{col(e, 'is_active')} "
        f"{unacknowledged}"
        f"{f'AND r.{rid} > %s ' if after else ''}"
        f"{f'AND r.{rid} <= %s ' if up_to else ''}"
        f"ORDER BY r.{q('id')} ON CONFLICT DO NOTHING "
        f"RETURNING {q('id')}, {col(d, 'claimed_at')} IS NOT NULL"
    )
