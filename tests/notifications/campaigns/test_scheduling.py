from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from notifications.campaigns.scheduling import (
    Window,
    nominal_time,
    step_plan,
    window_contains,
    window_next_opening,
)
from notifications.models import StepKind, StepStatus

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = Window(tz=PARIS)  # Mon-Fri 09:00-17:00
DEADLINE = datetime(2025, 11, 3, 0, 0, tzinfo=PARIS)  # a Monday


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_it_keeps_the_wall_clock_time_across_the_dst_change():
    # Paris leaves summer time on 26 Oct 2025: 7 days before 17:00 on 30 Oct
    # is still 17:00 local, i.e. 15:00 UTC instead of 16:00 UTC.
    deadline = paris(2025, 10, 30, 17, 0)
    due = nominal_time(deadline=deadline, offset_days=7, tz=PARIS)
    assert due.astimezone(PARIS).replace(tzinfo=None) == datetime(2025, 10, 23, 17, 0)
    assert due.astimezone(UTC).hour == 15
    assert deadline.astimezone(UTC).hour == 16


def test_it_counts_days_in_the_campaign_time_zone():
    # 02:00 on 10 Nov in Paris is still 9 Nov in New York.
    deadline = paris(2025, 11, 10, 2, 0)
    due = nominal_time(deadline=deadline, offset_days=1, tz=NEW_YORK)
    assert due.astimezone(NEW_YORK).date().isoformat() == "2025-11-08"


def test_it_moves_a_time_that_does_not_exist_past_the_spring_gap():
    deadline = paris(2026, 4, 5, 2, 30)
    due = nominal_time(deadline=deadline, offset_days=7, tz=PARIS)  # 29 Mar
    assert due.astimezone(PARIS).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_it_knows_when_the_window_is_open():
    assert window_contains(paris(2025, 10, 13, 9, 0), OFFICE)  # Monday
    assert window_contains(paris(2025, 10, 13, 16, 59), OFFICE)
    assert not window_contains(paris(2025, 10, 13, 17, 0), OFFICE)
    assert not window_contains(paris(2025, 10, 13, 8, 59), OFFICE)
    assert not window_contains(paris(2025, 10, 18, 10, 0), OFFICE)  # Saturday


def test_it_waits_for_the_next_opening():
    assert window_next_opening(paris(2025, 10, 13, 7, 0), OFFICE) == paris(
        2025, 10, 13, 9, 0
    )
    # Friday evening waits for Monday morning.
    assert window_next_opening(paris(2025, 10, 17, 18, 0), OFFICE) == paris(
        2025, 10, 20, 9, 0
    )
    inside = paris(2025, 10, 14, 11, 30)
    assert window_next_opening(inside, OFFICE) == inside


def test_it_opens_the_window_in_its_own_time_zone():
    window = Window(tz=NEW_YORK, start=time(9), end=time(17))
    opening = window_next_opening(paris(2025, 10, 13, 10, 0), window)
    assert opening == datetime(2025, 10, 13, 9, 0, tzinfo=NEW_YORK)


def test_it_sends_anytime_without_a_window():
    sunday_night = paris(2025, 10, 19, 3, 0)
    assert window_next_opening(sunday_night, Window(tz=PARIS, enabled=False)) == (
        sunday_night
    )


def test_it_plans_the_default_cadence_inside_the_window():
    now = paris(2025, 10, 1, 10, 0)
    first = step_plan(
        kind=StepKind.FIRST,
        nominal=nominal_time(deadline=DEADLINE, offset_days=21, tz=PARIS),
        deadline=DEADLINE,
        window=OFFICE,
        now=now,
    )
    assert first.status == StepStatus.PENDING
    assert first.due_at == paris(2025, 10, 13, 9, 0)


def test_it_sends_a_past_first_message_at_the_next_opening():
    now = paris(2025, 10, 24, 18, 30)  # Friday evening, D-21 long gone
    plan = step_plan(
        kind=StepKind.FIRST,
        nominal=nominal_time(deadline=DEADLINE, offset_days=21, tz=PARIS),
        deadline=DEADLINE,
        window=OFFICE,
        now=now,
    )
    assert plan.status == StepStatus.PENDING
    assert plan.due_at == paris(2025, 10, 27, 9, 0)


def test_it_skips_a_past_reminder_at_launch():
    plan = step_plan(
        kind=StepKind.REMINDER,
        nominal=nominal_time(deadline=DEADLINE, offset_days=21, tz=PARIS),
        deadline=DEADLINE,
        window=OFFICE,
        now=paris(2025, 10, 24, 10, 0),
    )
    assert plan.status == StepStatus.SKIPPED


def test_it_misses_a_first_message_that_cannot_go_before_the_deadline():
    plan = step_plan(
        kind=StepKind.FIRST,
        nominal=paris(2025, 10, 1, 9, 0),
        deadline=DEADLINE,
        window=OFFICE,
        now=paris(2025, 11, 1, 10, 0),  # Saturday, deadline Monday 00:00
    )
    assert plan.status == StepStatus.MISSED


def test_it_brings_a_weekend_last_call_forward_rather_than_missing_it():
    # D-2 of a Monday deadline is Saturday; Monday 09:00 would be too late.
    plan = step_plan(
        kind=StepKind.LAST_CALL,
        nominal=nominal_time(deadline=DEADLINE, offset_days=2, tz=PARIS),
        deadline=DEADLINE,
        window=OFFICE,
        now=paris(2025, 10, 1, 10, 0),
    )
    assert plan.status == StepStatus.PENDING
    assert plan.due_at == paris(2025, 10, 31, 9, 0)


def test_it_marks_an_absolute_step_after_the_deadline_missed():
    plan = step_plan(
        kind=StepKind.REMINDER,
        nominal=paris(2025, 11, 4, 10, 0),
        deadline=DEADLINE,
        window=OFFICE,
        now=paris(2025, 10, 1, 10, 0),
    )
    assert plan.status == StepStatus.MISSED
