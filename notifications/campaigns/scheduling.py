"""When each step of a campaign goes out: pure functions, no database.

Times are computed in the campaign's time zone so that "7 days before the
deadline" keeps its wall-clock time across a DST change, then moved into the
send window. The result is stored on Step.due_at; the dispatcher only compares
it with the clock (scheduling lives in the database, not in ETA tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

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


def window_for(campaign: object) -> Window:
    return Window(
        tz=ZoneInfo(campaign.time_zone),
        enabled=campaign.window_enabled,
        start=campaign.window_start,
        end=campaign.window_end,
        weekdays=frozenset(campaign.window_weekdays or range(7)),
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
    """Due time and status of one step when a campaign is launched at ``now``.

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
            return StepPlan(due, StepStatus.SKIPPED, _("Already past at launch."))
        due = window_next_opening(now, window)
    if due >= deadline:
        return StepPlan(
            due, StepStatus.MISSED, _("No send window opens before the deadline.")
        )
    return StepPlan(due, StepStatus.PENDING)
