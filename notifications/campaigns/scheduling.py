"""When each step of a campaign goes out: pure functions, but for reading the
zones people carry in the directory (a few minutes' cache).

A step's nominal time is computed in the campaign's time zone so that "7 days
before the deadline" keeps its wall-clock time across a DST change. The send
window (09:00-17:00 Monday-Friday) applies in each recipient's own zone
(employees/timezones.py), so a step goes out in waves:

- ``step_plan`` gives the step's due time (stored on Step.due_at; the
  dispatcher only compares it with the clock): the earliest wave over the
  campaign's zone, the organisation's, the per-country defaults
  (EMPLOYEE_TIME_ZONES) and the zones people carry in the directory. When it comes, the dispatcher creates every row of
  the step at once;
- ``person_send_at`` gives each person's wave: the next opening of their own
  window at or after the nominal time (stored on the row as
  ``next_attempt_at``; the dispatcher hands a row to the workers once its
  time has come).

The deadline stays one instant for everyone. A person whose window does not
open again before it (the deadline falls after their working day has ended,
a zone far east of the campaign's) gets the message at the last opening of
their window before the nominal time when that is still ahead when the step
is dispatched, and otherwise at once, outside their hours: a message in the
evening before the deadline is better than none after it.
"""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from employees.models import Employee
from notifications.models import StepKind, StepStatus

# (kind, days before the deadline): tighter towards the end; the managers'
# digest the day before the last call, so a manager can still nudge.
DEFAULT_CADENCE: list[tuple[str, int]] = [
    (StepKind.FIRST, 21),
    (StepKind.REMINDER, 7),
    (StepKind.MANAGER_DIGEST, 3),
    (StepKind.LAST_CALL, 2),
]


@dataclass(frozen=True)
class Window:
    tz: ZoneInfo
    enabled: bool = True
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    # The other zones whose waves the step's due time must not miss (the
    # organisation's, the per-country defaults); tz is always one of them.
    zones: tuple[ZoneInfo, ...] = ()

    def where(self, tz: ZoneInfo) -> Window:
        """The same window in another zone (09:00-17:00 where they are)."""
        return replace(self, tz=tz, zones=())


@dataclass(frozen=True)
class StepPlan:
    due_at: datetime
    status: str
    reason: str = ""


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


def _wall(day: date, at: time, tz: ZoneInfo) -> datetime:
    # A wall time that does not exist (spring-forward gap) is normalised by a
    # round trip through UTC: 02:30 on the change night becomes 03:30.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC).astimezone(tz)


_PEOPLES_ZONES: list = [0.0, frozenset()]  # [read at (monotonic), names]
_PEOPLES_ZONES_FOR = 300.0  # seconds: the directory's zones change with imports


def _peoples_zones() -> frozenset[str]:
    """The zones people carry in the directory (the file's time-zone column,
    SCIM, LDAP): a step must not miss their waves either. One DISTINCT over
    the employees, kept a few minutes per process."""
    read_at, names = _PEOPLES_ZONES
    if time_module.monotonic() - read_at > _PEOPLES_ZONES_FOR:
        names = frozenset(
            Employee.objects.exclude(time_zone="")
            .values_list("time_zone", flat=True)
            .distinct()
            .order_by()
        )
        _PEOPLES_ZONES[:] = [time_module.monotonic(), names]
    return names


def _configured_zones() -> tuple[ZoneInfo, ...]:
    names = {settings.TIME_ZONE, *getattr(settings, "EMPLOYEE_TIME_ZONES", {}).values()}
    zones = []
    for name in sorted(names | _peoples_zones()):
        try:
            zones.append(ZoneInfo(name))
        except (ValueError, ZoneInfoNotFoundError):
            continue  # an unknown name stored by hand: that person uses the campaign's
    return tuple(zones)


def window_for(campaign: object) -> Window:
    tz = ZoneInfo(campaign.time_zone)
    return Window(
        tz=tz,
        enabled=campaign.window_enabled,
        start=campaign.window_start,
        end=campaign.window_end,
        weekdays=frozenset(campaign.window_weekdays or range(7)),
        zones=tuple(z for z in _configured_zones() if z.key != tz.key),
    )


def nominal_time(*, deadline: datetime, offset_days: int, tz: ZoneInfo) -> datetime:
    """The deadline's wall-clock time, ``offset_days`` calendar days earlier."""
    local = _local(deadline, tz)
    return _wall(local.date() - timedelta(days=offset_days), local.time(), tz)


def window_contains(at: datetime, window: Window) -> bool:
    if not window.enabled:
        return True
    local = _local(at, window.tz)
    return (
        local.weekday() in window.weekdays and window.start <= local.time() < window.end
    )


def window_next_opening(at: datetime, window: Window) -> datetime:
    """``at`` itself when inside the window, else the next time it opens."""
    if window_contains(at, window):
        return at
    local = _local(at, window.tz)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        if day.weekday() not in window.weekdays:
            continue
        opening = _wall(day, window.start, window.tz)
        if opening >= at:
            return opening
    raise ValueError(_("The send window has no open day."))


def window_previous_opening(at: datetime, window: Window) -> datetime | None:
    """The last window opening at or before ``at`` (within a week)."""
    if not window.enabled:
        return at
    local = _local(at, window.tz)
    for days in range(8):
        day = local.date() - timedelta(days=days)
        if day.weekday() not in window.weekdays:
            continue
        opening = _wall(day, window.start, window.tz)
        if opening <= at:
            return opening
    return None


def step_nominal_time(
    *, offset_days: int | None, at: datetime | None, deadline: datetime, tz: ZoneInfo
) -> datetime:
    if at is not None:
        return at
    assert offset_days is not None
    return nominal_time(deadline=deadline, offset_days=offset_days, tz=tz)


def step_plan(
    *,
    kind: str,
    nominal: datetime,
    deadline: datetime,
    window: Window,
    now: datetime,
) -> StepPlan:
    """Due time and status of one step: its earliest wave over the window's zones.

    The plan of the window's own zone (the campaign's) unless another
    configured zone's wave comes earlier; a step is missed or skipped only
    when it is in every zone.
    """
    plans = [
        _zone_plan(
            kind=kind, nominal=nominal, deadline=deadline, window=window, now=now
        )
    ]
    for tz in window.zones:
        plans.append(
            _zone_plan(
                kind=kind,
                nominal=nominal,
                deadline=deadline,
                window=window.where(tz),
                now=now,
            )
        )
    pending = [p for p in plans if p.status == StepStatus.PENDING]
    return min(pending, key=lambda p: p.due_at) if pending else plans[0]


def person_send_at(
    *, nominal: datetime, deadline: datetime, window: Window, now: datetime
) -> datetime:
    """When one person's message of a step dispatched at ``now`` goes out.

    ``window`` is in the person's zone (Window.where). The next opening of
    their window at or after the nominal time (at once when it is open);
    when it does not open again before the deadline, the last opening before
    the nominal time if that is still ahead, else at once (see the module's
    docstring). Never before ``now``.
    """
    if not window.enabled:
        return now
    due = window_next_opening(max(nominal, now), window)
    if due < deadline:
        return due
    earlier = window_previous_opening(min(nominal, deadline), window)
    if earlier is not None and earlier >= now:
        return earlier
    return now


def _zone_plan(
    *,
    kind: str,
    nominal: datetime,
    deadline: datetime,
    window: Window,
    now: datetime,
) -> StepPlan:
    """Due time and status of one step in one zone, planned at ``now``.

    A step outside the window waits for the next opening. When that opening
    is at or after the deadline (a last call on the Saturday before a Monday
    deadline), the step goes at the last opening before its nominal time
    instead, rather than never. A first message already past goes at the next
    window opening (everyone must be told); any other step already past is
    skipped (the first message or a later step covers it); anything that
    cannot go before the deadline is missed, never sent late.
    """
    due = window_next_opening(nominal, window)
    if due >= deadline and nominal < deadline:
        earlier = window_previous_opening(nominal, window)
        if earlier is not None and earlier >= now:
            due = earlier
    if due < now:
        if kind != StepKind.FIRST:
            return StepPlan(
                due, StepStatus.SKIPPED, gettext_noop("Already past at launch.")
            )
        due = window_next_opening(now, window)
    if due >= deadline:
        return StepPlan(
            due,
            StepStatus.MISSED,
            gettext_noop("No send window opens before the deadline."),
        )
    return StepPlan(due, StepStatus.PENDING)
