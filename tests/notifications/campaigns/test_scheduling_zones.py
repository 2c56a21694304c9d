"""A step's send window where each recipient is: waves, DST, and the person
whose window has already closed on the deadline day (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from notifications.campaigns.scheduling import Window, person_send_at, step_plan
from notifications.models import StepKind, StepStatus

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
OFFICE = Window(tz=PARIS)  # Mon-Fri 09:00-17:00


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


def send_at(tz: ZoneInfo, *, nominal, deadline, now=None) -> datetime:
    return person_send_at(
        nominal=nominal,
        deadline=deadline,
        window=OFFICE.where(tz),
        now=now or nominal,
    )


def test_one_step_goes_out_in_waves_at_nine_where_each_person_is():
    # Tuesday 2025-10-14, 18:00 in Paris: every office is closed but New York's.
    nominal = at(PARIS, 2025, 10, 14, 18, 0)
    deadline = at(PARIS, 2025, 11, 3, 0, 0)
    assert send_at(PARIS, nominal=nominal, deadline=deadline) == utc(2025, 10, 15, 7)
    assert send_at(NEW_YORK, nominal=nominal, deadline=deadline) == nominal  # 12:00
    assert send_at(TOKYO, nominal=nominal, deadline=deadline) == utc(2025, 10, 15, 0)


def test_the_window_opens_at_nine_local_across_the_autumn_change_in_paris():
    # Europe leaves summer time on the last Sunday of October (2025-10-26):
    # Monday's 09:00 in Paris is 08:00 UTC, Friday's was 07:00 UTC.
    nominal = at(PARIS, 2025, 10, 24, 18, 0)  # Friday evening
    deadline = at(PARIS, 2025, 11, 10, 0, 0)
    assert send_at(PARIS, nominal=nominal, deadline=deadline) == utc(2025, 10, 27, 8)


def test_the_window_opens_at_nine_local_across_the_spring_change_in_paris():
    # Last Sunday of March 2026 (the 29th): Monday's 09:00 is 07:00 UTC.
    nominal = at(PARIS, 2026, 3, 27, 18, 0)
    deadline = at(PARIS, 2026, 4, 10, 0, 0)
    assert send_at(PARIS, nominal=nominal, deadline=deadline) == utc(2026, 3, 30, 7)


def test_new_york_changes_a_week_after_europe_and_keeps_its_own_nine():
    # 2025-11-02: New York leaves summer time; Europe did on 2025-10-26. In
    # the week between, 09:00 in New York is 14:00 in Paris (not 15:00).
    deadline = at(PARIS, 2025, 11, 20, 0, 0)
    between = send_at(
        NEW_YORK, nominal=at(PARIS, 2025, 10, 31, 8, 0), deadline=deadline
    )
    assert between == utc(2025, 10, 31, 13) == at(PARIS, 2025, 10, 31, 14, 0)
    after = send_at(NEW_YORK, nominal=at(PARIS, 2025, 11, 1, 12, 0), deadline=deadline)
    assert after == utc(2025, 11, 3, 14)  # Monday 09:00 EST


def test_a_window_closed_on_the_deadline_day_gets_the_message_at_once():
    # Deadline Friday 18:00 in Paris; the step goes at noon in Paris. Tokyo's
    # office closed at 09:00 Paris time and opens next on Monday, after the
    # deadline, and its last opening is past: the message goes at once,
    # outside their hours, rather than never.
    deadline = at(PARIS, 2025, 10, 17, 18, 0)
    noon = at(PARIS, 2025, 10, 17, 12, 0)
    assert send_at(TOKYO, nominal=noon, deadline=deadline) == noon
    # New York opens at 15:00 Paris time, before the deadline: it waits.
    assert send_at(NEW_YORK, nominal=noon, deadline=deadline) == at(
        PARIS, 2025, 10, 17, 15, 0
    )


def test_it_uses_the_last_opening_before_the_nominal_time_when_still_ahead():
    # A last call due on Sunday for a Monday 00:30 deadline: no window opens
    # in between, so it goes on Friday's opening, if dispatched before it.
    deadline = at(PARIS, 2025, 11, 3, 0, 30)
    nominal = at(PARIS, 2025, 11, 2, 0, 30)
    early = at(PARIS, 2025, 10, 31, 8, 0)
    assert send_at(PARIS, nominal=nominal, deadline=deadline, now=early) == at(
        PARIS, 2025, 10, 31, 9, 0
    )


def test_a_step_is_due_at_its_earliest_wave_over_the_configured_zones():
    window = Window(tz=PARIS, zones=(NEW_YORK,))
    nominal = at(PARIS, 2025, 10, 14, 18, 0)
    plan = step_plan(
        kind=StepKind.REMINDER,
        nominal=nominal,
        deadline=at(PARIS, 2025, 11, 3, 0, 0),
        window=window,
        now=at(PARIS, 2025, 10, 1, 12, 0),
    )
    # New York's office is open at 12:00 there: the step is due then, not
    # at Paris's next opening.
    assert (plan.status, plan.due_at) == (StepStatus.PENDING, nominal)


def test_without_a_window_everyone_gets_it_at_once():
    nominal = at(PARIS, 2025, 10, 18, 3, 0)  # a Saturday night
    assert (
        person_send_at(
            nominal=nominal,
            deadline=at(PARIS, 2025, 11, 3),
            window=Window(tz=TOKYO, enabled=False),
            now=nominal,
        )
        == nominal
    )


@pytest.mark.django_db
def test_a_zone_only_people_carry_counts_for_the_steps_due_time(settings):
    from employees.models import Employee
    from notifications.campaigns.scheduling import window_for
    from tests.campaign_factories import campaign_make

    settings.TIME_ZONE = "Europe/Paris"
    settings.EMPLOYEE_TIME_ZONES = {}
    Employee.objects.create(email="tokyo@example.com", time_zone="Asia/Tokyo")
    Employee.objects.create(email="odd@example.com", time_zone="Not/AZone")
    campaign = campaign_make()
    zones = {z.key for z in window_for(campaign).zones}
    assert "Asia/Tokyo" in zones  # from the directory, not from a setting
    assert "Not/AZone" not in zones
