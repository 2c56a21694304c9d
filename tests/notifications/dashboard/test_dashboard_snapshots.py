"""A large campaign's dashboard: figures from a snapshot, counted again in the
background (notifications/dashboard/snapshots.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from notifications.dashboard import snapshots
from notifications.models import Recipient
from tests.dashboard_factories import campaign_built
from tests.factories import member_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _large_from_three_people(settings):
    settings.DASHBOARD_LIVE_MAX_RECIPIENTS = 3
    settings.DASHBOARD_REFRESH_SECONDS = 15
    cache.clear()
    yield
    cache.clear()


def _acknowledge_one(campaign) -> None:
    first = Recipient.objects.filter(campaign=campaign, acknowledged_at=None)[:1]
    Recipient.objects.filter(pk__in=first).update(acknowledged_at=timezone.now())


def test_a_small_campaign_is_counted_on_every_request(settings):
    settings.DASHBOARD_LIVE_MAX_RECIPIENTS = 1000
    campaign = campaign_built(10).campaign
    before = snapshots.dashboard_figures(campaign)
    _acknowledge_one(campaign)
    after = snapshots.dashboard_figures(campaign)
    assert after.acknowledged == before.acknowledged + 1
    assert after.as_of is None


def test_a_large_campaign_reads_a_snapshot_until_it_is_stale():
    campaign = campaign_built(10).campaign
    now = timezone.now()
    snapshots.dashboard_figures(campaign, now=now)  # learns the size: large
    first = snapshots.dashboard_figures(campaign, now=now)
    assert first.as_of is not None
    _acknowledge_one(campaign)
    # Within DASHBOARD_REFRESH_SECONDS: the same counts, said to be as of then.
    same = snapshots.dashboard_figures(campaign, now=now + timedelta(seconds=5))
    assert same.acknowledged == first.acknowledged and same.as_of == first.as_of
    # Stale, and no shared cache for a worker to fill: counted again here.
    later = snapshots.dashboard_figures(campaign, now=now + timedelta(seconds=30))
    assert later.acknowledged == first.acknowledged + 1


def test_a_stale_snapshot_asks_one_worker_to_count_again(monkeypatch):
    campaign = campaign_built(10).campaign
    now = timezone.now()
    snapshots.dashboard_figures(campaign, now=now)
    first = snapshots.dashboard_figures(campaign, now=now)
    asked = []
    monkeypatch.setattr(snapshots, "_shared_cache", lambda: True)
    monkeypatch.setattr(snapshots, "_ask_refresh", asked.append)
    _acknowledge_one(campaign)
    stale = now + timedelta(seconds=20)
    for _ in range(3):  # several DPOs and live refreshes: one count asked
        figures = snapshots.dashboard_figures(campaign, now=stale)
        assert figures.acknowledged == first.acknowledged  # answered at once
    assert asked == [campaign.pk]
    snapshots.dashboard_refresh(campaign.pk)  # what the worker's task does
    fresh = snapshots.dashboard_figures(campaign, now=stale)
    assert fresh.acknowledged == first.acknowledged + 1


def test_the_page_says_how_old_a_snapshot_is(client):
    client.force_login(member_make("DPO"))
    campaign = campaign_built(10).campaign
    url = reverse("admin:notifications_campaign_dashboard", args=[campaign.pk])
    assert "figures as of" not in client.get(url, HTTP_ACCEPT_LANGUAGE="en").text
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").text
    assert "A large campaign: figures as of" in page
    live = reverse("admin:notifications_campaign_dashboard_live", args=[campaign.pk])
    assert client.get(live).json()["as_of"]


def test_the_people_list_of_a_large_campaign_counts_as_its_dashboard(client):
    import re

    client.force_login(member_make("DPO"))
    campaign = campaign_built(10).campaign
    dashboard = reverse("admin:notifications_campaign_dashboard", args=[campaign.pk])
    people = reverse("admin:notifications_campaign_people", args=[campaign.pk])
    client.get(dashboard)
    client.get(dashboard)  # a large campaign: its snapshot is kept
    outstanding = Recipient.objects.filter(campaign=campaign, acknowledged_at=None)

    def listed(query: str = "") -> int:
        page = client.get(people + query, HTTP_ACCEPT_LANGUAGE="en").text
        return int(re.search(r'class="dash-count">\s*(\d+)', page).group(1))

    assert listed() == outstanding.count()
    _acknowledge_one(campaign)
    assert listed() == outstanding.count() + 1  # the snapshot's, as the dashboard
    department = Recipient.objects.filter(campaign=campaign).values_list(
        "employee__department", flat=True
    )[0]
    assert (
        listed(f"?department={department}")
        == outstanding.filter(employee__department=department).count()
    )  # filtered further: counted


def test_the_people_list_of_a_large_campaign_offers_its_own_departments(client):
    from employees.models import Employee

    client.force_login(member_make("DPO"))
    campaign = campaign_built(10).campaign
    Employee.objects.create(email="elsewhere@example.com", department="Not in it")
    dashboard = reverse("admin:notifications_campaign_dashboard", args=[campaign.pk])
    people = reverse("admin:notifications_campaign_people", args=[campaign.pk])
    assert "Not in it" in client.get(people).text  # the directory's, counted
    client.get(dashboard)
    client.get(dashboard)  # a large campaign: its snapshot is kept
    page = client.get(people).text
    assert "Not in it" not in page
    department = campaign.recipients.values_list("employee__department", flat=True)[0]
    assert f'value="{department}"' in page


def test_the_overview_takes_a_large_campaigns_figures_from_its_snapshot(client):
    client.force_login(member_make("DPO"))
    large = campaign_built(10).campaign
    small = campaign_built(2, name="Small", prefix="s").campaign
    now = timezone.now()
    snapshots.dashboard_figures(large, now=now)
    first = snapshots.dashboard_figures(large, now=now)  # kept as a snapshot
    _acknowledge_one(large)
    _acknowledge_one(small)
    lines = {line.campaign.pk: line for line in snapshots.overview_lines(now=now)}
    assert lines[large.pk].acknowledged == first.acknowledged  # its snapshot
    assert (
        lines[small.pk].acknowledged
        == Recipient.objects.filter(
            campaign=small, acknowledged_at__isnull=False
        ).count()
    )  # counted
    stale = now + timedelta(minutes=5)  # too old for a glance: counted again
    later = {line.campaign.pk: line for line in snapshots.overview_lines(now=stale)}
    assert later[large.pk].acknowledged == first.acknowledged + 1
    page = client.get(reverse("admin:notifications_campaign_dashboard_overview"))
    assert page.status_code == 200
