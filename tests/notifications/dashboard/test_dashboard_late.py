"""Late acknowledgements (after the deadline) on the dashboard, in the people
list and in its exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from notifications.models import Campaign, Recipient
from tests.ack_helpers import launched
from tests.factories import member_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def dpo(client):
    client.force_login(member_make("DPO"))


@pytest.fixture
def campaign() -> Campaign:
    """Three people: one acknowledged in time, one late, one not yet."""
    campaign, recipients = launched(employees=3)
    in_time, late, _ = recipients
    Recipient.objects.filter(pk=in_time.pk).update(
        acknowledged_at=campaign.deadline - timedelta(days=1)
    )
    Recipient.objects.filter(pk=late.pk).update(
        acknowledged_at=campaign.deadline + timedelta(hours=3)
    )
    return campaign


def _url(name: str, campaign: Campaign, *args: object) -> str:
    return reverse(f"admin:notifications_campaign_{name}", args=[campaign.pk, *args])


def test_it_counts_the_late_acknowledgements(client, dpo, campaign):
    page = client.get(_url("dashboard", campaign)).content.decode()
    assert 'id="fig-late"' in page
    assert "1 after the deadline (late)" in page
    live = client.get(_url("dashboard_live", campaign)).json()
    assert live["late"] == 1


def test_it_shows_no_late_count_when_none_is_late(client, dpo):
    campaign, _ = launched()
    page = client.get(_url("dashboard", campaign)).content.decode()
    assert 'id="fig-late"' not in page


def test_it_marks_the_late_in_the_people_list(client, dpo, campaign):
    url = _url("people", campaign) + "?show=acknowledged"
    page = client.get(url).content.decode()
    assert page.count('class="dash-late"') == 1


def test_it_exports_a_late_column(client, dpo, campaign):
    response = client.get(_url("outstanding_export", campaign, "csv") + "?show=all")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = csv.reader(io.StringIO(body))
    late = header.index("Late")
    assert header[late - 1] == "Acknowledged at"
    assert sorted(row[late] for row in rows) == ["", "no", "yes"]


def test_it_exports_a_late_column_in_excel(client, dpo, campaign):
    response = client.get(_url("outstanding_export", campaign, "xlsx") + "?show=all")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    late = header.index("Late")
    assert sorted(row[late] or "" for row in rows) == ["", "no", "yes"]


def test_it_titles_the_late_column_in_french(client, dpo, campaign):
    url = _url("outstanding_export", campaign, "csv") + "?show=all"
    with translation.override("fr"):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="fr")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(body), delimiter=";"))
    assert "En retard" in header
