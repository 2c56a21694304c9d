"""Personal links for staff without a mailbox: CSV command, admin download,
printable letters with QR codes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from notifications import services
from notifications.models import Recipient
from tests.ack_helpers import confirmed_post, launched, link
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.factories import hr_admin_make

pytestmark = pytest.mark.django_db


def _csv(*args: str) -> list[dict[str, str]]:
    out = io.StringIO()
    call_command("campaign_links", *args, stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0] == "email,first_name,last_name,department,link"
    return list(csv.DictReader(io.StringIO(text)))


def test_it_prints_every_recipients_working_link():
    cache.clear()
    campaign, recipients = launched(employees=3, department="Sales")
    rows = _csv(campaign.name)
    assert {r["email"] for r in rows} == {r.email for r in recipients}
    assert {r["department"] for r in rows} == {"Sales"}
    for row in rows:
        path = urlsplit(row["link"]).path
        recipient = Recipient.objects.get(email=row["email"])
        assert path == link(recipient)  # the same link as in every message
        assert Client().get(path).status_code == 200


def test_it_lists_only_the_unacknowledged_with_pending():
    campaign, recipients = launched(employees=3, language="en")
    Client().post(link(recipients[0]), confirmed_post(campaign, "en"))
    rows = _csv(str(campaign.pk), "--pending")
    assert {r["email"] for r in rows} == {r.email for r in recipients[1:]}


def test_it_refuses_before_launch_and_after_cancel():
    EmployeeFactory()
    draft = campaign_make(name="Draft")
    with pytest.raises(CommandError, match="launched"):
        _csv(draft.name)
    campaign, _ = launched(name="Gone")
    services.campaign_cancel(campaign=campaign)
    with pytest.raises(CommandError):
        _csv(campaign.name)


def test_it_defuses_spreadsheet_formulas_in_names():
    campaign, _ = launched(last_name='=HYPERLINK("http://evil")')
    [row] = _csv(campaign.name)
    assert row["last_name"].startswith("'=")


def test_the_admin_downloads_the_same_csv(admin_client):
    campaign, _ = launched(employees=2)
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    out = io.StringIO()
    call_command("campaign_links", campaign.name, stdout=out)
    assert response.content.decode() == out.getvalue()


def test_the_admin_prints_one_letter_with_a_qr_code_per_person(admin_client):
    campaign, recipients = launched(employees=3)
    url = reverse("admin:notifications_campaign_letters", args=[campaign.pk])
    page = admin_client.get(url).content.decode()
    assert page.count("<svg") == 3
    assert page.count('class="letter"') == 3
    for recipient in recipients:
        assert link(recipient) in page
    assert "<script" not in page


def test_links_are_for_those_who_may_change_the_campaign(client):
    campaign, _ = launched()
    client.force_login(hr_admin_make())  # staff directory only
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    assert client.get(url).status_code == 403
    letters = reverse("admin:notifications_campaign_letters", args=[campaign.pk])
    assert client.get(letters).status_code == 403


def test_the_admin_offers_links_once_launched(admin_client):
    EmployeeFactory()
    draft = campaign_make(name="Draft", deadline=timezone.now() + timedelta(days=30))
    change = reverse("admin:notifications_campaign_change", args=[draft.pk])
    assert "links_csv" not in admin_client.get(change).content.decode()
    csv_url = reverse("admin:notifications_campaign_links_csv", args=[draft.pk])
    assert admin_client.get(csv_url).status_code == 404
    services.campaign_launch(campaign=draft)
    assert csv_url in admin_client.get(change).content.decode()
