"""A step goes out in waves: each person's send window where they are, the
deadline one instant shown in each person's zone (dispatch, render, the
dashboard's per-step figures and the link page). Runs on SQLite and, in CI,
on PostgreSQL (where the rows come from one INSERT … SELECT)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from notifications.campaigns import content as content_mod
from notifications.campaigns import services
from notifications.dashboard.figures import campaign_dashboard
from notifications.delivery import dispatch, send
from notifications.models import Delivery, DeliveryStatus, StepKind
from tests.ack_helpers import link
from tests.campaign_factories import EmployeeFactory, campaign_make

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
_names = itertools.count()


@pytest.fixture
def people(settings):
    """Someone in Paris (no zone: the campaign's), in New York (by their
    country's default) and in Tokyo (their own zone)."""
    settings.TIME_ZONE = "Europe/Paris"
    settings.EMPLOYEE_TIME_ZONES = {"US": "America/New_York"}
    return {
        "paris": EmployeeFactory(email="paris@example.com", language="en"),
        "ny": EmployeeFactory(email="ny@example.com", language="en", country="us"),
        "tokyo": EmployeeFactory(
            email="tokyo@example.com", language="en", time_zone="Asia/Tokyo"
        ),
    }


def launched(*, deadline: datetime, now: datetime):
    campaign = campaign_make(
        name=f"Waves {next(_names)}",
        deadline=deadline,
        window=services.WindowSpec(),  # 09:00-17:00, Monday to Friday
        time_zone="Europe/Paris",
    )
    services.campaign_launch(campaign=campaign, now=now)
    return campaign


def tick(now: datetime) -> list[str]:
    """The addresses the tick hands to the workers, sent at once."""
    chunks: list[list[int]] = []
    dispatch.dispatch_tick(enqueue=chunks.append, now=now)
    ids = [pk for chunk in chunks for pk in chunk]
    for chunk in chunks:
        send.deliveries_send(chunk, now=now)
    return sorted(
        Delivery.objects.filter(pk__in=ids).values_list("to_email", flat=True)
    )


def mail_to(address: str) -> str:
    found = [m for m in mail.outbox if m.to == [address]]
    assert len(found) == 1, [(m.to, m.subject) for m in mail.outbox]
    return found[0].body


def next_day(weekday: int, hour: int) -> datetime:
    """The first such weekday a week or more ahead, at ``hour`` in Paris
    (sending checks the real clock against the deadline: it must be ahead)."""
    day = (timezone.now() + timedelta(days=7)).astimezone(PARIS).date()
    day += timedelta(days=(weekday - day.weekday()) % 7)
    return datetime.combine(day, time(hour), tzinfo=PARIS)


def local(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=tz)


def shown(at: datetime, tz: ZoneInfo) -> str:
    """How an English reader in ``tz`` sees the instant: "2 November 2025, 18:00"."""
    there = at.astimezone(tz)
    return f"{there.day} {there:%B %Y}, {there:%H:%M}"


@pytest.mark.django_db(transaction=True)
def test_a_step_goes_out_in_waves_at_each_persons_opening(people):
    wednesday = next_day(2, 10)
    day = wednesday.date()
    deadline = wednesday.replace(hour=18) + timedelta(days=19)  # a Monday
    campaign = launched(deadline=deadline, now=wednesday)

    assert tick(wednesday) == ["paris@example.com"]
    first = campaign.steps.get(kind=StepKind.FIRST)
    waiting = dict(
        Delivery.objects.filter(step=first, status=DeliveryStatus.QUEUED).values_list(
            "to_email", "next_attempt_at"
        )
    )
    ny_nine = local(day, 9, NEW_YORK)
    tokyo_nine = local(day + timedelta(days=1), 9, TOKYO)
    assert waiting == {"ny@example.com": ny_nine, "tokyo@example.com": tokyo_nine}
    # The dashboard: the step is not "sending" while the others wait for
    # their window, and it says how many wait and until when.
    [figures] = campaign_dashboard(campaign, now=wednesday).steps[:1]
    assert (figures.targeted, figures.sent, figures.queued) == (3, 1, 2)
    assert (figures.waiting, figures.next_wave_at) == (2, ny_nine)
    assert not figures.busy and figures.progress == 33
    _the_dashboard_says_two_wait(campaign)

    assert tick(ny_nine - timedelta(minutes=1)) == []
    assert tick(ny_nine) == ["ny@example.com"]
    assert tick(tokyo_nine) == ["tokyo@example.com"]
    [figures] = campaign_dashboard(campaign, now=tokyo_nine).steps[:1]
    assert (figures.sent, figures.waiting, figures.progress) == (3, 0, 100)

    # One instant, shown where each person is.
    assert shown(deadline, PARIS) in mail_to("paris@example.com")
    assert shown(deadline, NEW_YORK) in mail_to("ny@example.com")
    assert "New York" in mail_to("ny@example.com")
    assert shown(deadline, TOKYO) in mail_to("tokyo@example.com")
    assert shown(deadline, PARIS) not in mail_to("ny@example.com")


@pytest.mark.django_db(transaction=True)
def test_a_person_whose_window_closed_on_the_deadline_day_gets_it_at_once(people):
    # Deadline Friday 18:00 in Paris, launched at noon that day: Tokyo's
    # window closed at 17:00 in Tokyo (morning in Paris) and opens next after
    # the deadline, so Tokyo gets it now, outside their hours, rather than
    # never; New York's opens at 09:00 there, before the deadline.
    noon = next_day(4, 12)
    deadline = noon.replace(hour=18)
    launched(deadline=deadline, now=noon)
    assert tick(noon) == ["paris@example.com", "tokyo@example.com"]
    assert tick(local(noon.date(), 9, NEW_YORK)) == ["ny@example.com"]
    assert shown(deadline, NEW_YORK) in mail_to("ny@example.com")


@pytest.mark.django_db(transaction=True)
def test_the_link_page_shows_the_deadline_in_the_persons_zone(client, people):
    deadline = (timezone.now() + timedelta(days=10)).replace(
        minute=30, second=0, microsecond=0
    )
    campaign = launched(deadline=deadline, now=timezone.now())
    recipient = campaign.recipients.get(employee=people["ny"])
    page = client.get(link(recipient)).content.decode()
    shown = content_mod.deadline_display(deadline, tz=NEW_YORK, language="en")
    assert "New York" in shown and shown in page
    assert content_mod.deadline_display(deadline, tz=PARIS, language="en") not in page


@pytest.mark.django_db(transaction=True)
def test_messages_are_rendered_once_per_version_not_per_zone_or_person(
    people, monkeypatch
):
    for i in range(6):
        EmployeeFactory(email=f"more{i}@example.com", language="en", country="us")
    rendered = []
    original = content_mod.message_render

    def counting(**kwargs):
        rendered.append(kwargs["content"].language)
        return original(**kwargs)

    monkeypatch.setattr(content_mod, "message_render", counting)
    noon = next_day(4, 12)
    launched(deadline=noon + timedelta(days=10), now=noon)
    assert len(tick(noon)) == 1
    assert len(tick(local(noon.date(), 9, NEW_YORK))) == 7
    assert len(tick(local(noon.date() + timedelta(days=3), 9, TOKYO))) == 1
    # Three zones, nine people, one version: one rendering of the templates.
    assert rendered == ["en"]
    assert shown(noon + timedelta(days=10), TOKYO) in mail_to("tokyo@example.com")


def _the_dashboard_says_two_wait(campaign) -> None:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    # A superuser: this test flushes the database, the role groups with it.
    client.force_login(User.objects.create_superuser("dpo-waves", "d@example.com"))
    url = reverse("admin:notifications_campaign_dashboard_live", args=[campaign.pk])
    html = client.get(url).json()["html"]
    assert "2 wait for their local send window (next: " in html
