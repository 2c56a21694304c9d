"""Personal links for staff without a mailbox: CSV command, admin download,
printable letters with QR codes."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.models import AuditAction, AuditEntry
from audit.services import os_user
from notifications.campaigns import services
from notifications.campaigns.selectors import campaign_links
from notifications.models import Recipient
from tests.ack_helpers import confirmed_post, launched, link
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.common.hostile import HOSTILE, HOSTILE_EMAIL, assert_csv_safe, csv_written
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


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_admin_downloads_the_same_csv_as_the_command_with_excel(
    admin_client, language
):
    campaign, _ = launched(employees=2)
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    out = io.StringIO()
    args = (campaign.name, "--excel", "--language", language)
    call_command("campaign_links", *args, stdout=out)
    assert response.content.decode() == out.getvalue()


def test_the_admin_csv_is_like_the_other_exports(admin_client):
    campaign, [recipient] = launched(employees=1, last_name="Lefèvre")
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    body = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content
    assert body.startswith(codecs.BOM_UTF8)
    text = body.decode("utf-8-sig")
    header, row = text.splitlines()
    assert header == "adresse e-mail;prénom;nom;service;lien"
    assert row.split(";")[0] == recipient.email and "Lefèvre" in row
    english = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content
    lines = english.decode("utf-8-sig").splitlines()
    assert lines[0] == "email,first name,last name,department,link"


def test_the_command_keeps_its_plain_default_for_scripts():
    campaign, _ = launched(employees=1)
    out = io.StringIO()
    call_command("campaign_links", campaign.name, stdout=out)
    assert not out.getvalue().startswith("\ufeff")
    assert out.getvalue().startswith("email,first_name,last_name,department,link\n")


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


def _letters(page: str) -> dict[str, str]:
    """Each letter's HTML by the first name printed on it."""
    found = {}
    for letter in page.split('<section class="letter"')[1:]:
        name = letter.split("<strong>", 1)[1].split(" ", 1)[0]
        found[name] = letter.split("</section>", 1)[0]
    return found


def test_each_letter_is_in_its_readers_language_the_page_in_the_admins(
    admin_client, settings
):
    settings.LANGUAGE_CODE = "fr"  # the default language, as shipped
    campaign, _ = launched(first_name="Alice", language="fr")
    EmployeeFactory(first_name="Bob", language="en")
    services.campaign_enrol_new(campaign)
    url = reverse("admin:notifications_campaign_letters", args=[campaign.pk])
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "2 courriers. Imprimez cette page" in page  # the admin's language
    letters = _letters(page)
    subjects = {
        c.language: c.subject for c in campaign.contents.filter(is_current=True)
    }
    assert ' lang="en"' in letters["Bob"]
    assert "Please read the information on your personal page" in letters["Bob"]
    assert "This page is personal" in letters["Bob"]
    assert "Veuillez lire" not in letters["Bob"]
    assert f"<h1>{escape(subjects['en'])}</h1>" in letters["Bob"]
    assert ' lang="fr"' in letters["Alice"]
    assert "Veuillez lire l" in letters["Alice"]
    assert f"<h1>{escape(subjects['fr'])}</h1>" in letters["Alice"]


def test_a_letter_falls_back_to_the_default_language_as_the_messages_do(
    admin_client,
):
    # The English text removed: Bob (en) then reads the French messages,
    # so his letter is French too, whatever language the admin reads.
    campaign, _ = launched(first_name="Bob", language="en")
    campaign.contents.filter(language="en").delete()
    with override_settings(LANGUAGE_CODE="fr"):
        [row] = campaign_links(campaign)
        assert row.language == "fr"
        url = reverse("admin:notifications_campaign_letters", args=[campaign.pk])
        page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 letter. Print this page" in page
    letter = _letters(page)["Bob"]
    assert ' lang="fr"' in letter and "Veuillez lire l" in letter


def _hostile_staff() -> None:
    """Names and departments hiding formulas; an address that is one."""
    for n, value in enumerate(HOSTILE):
        EmployeeFactory(
            email=f"p{n}@example.com",
            first_name=value,
            last_name=value,
            department=value,
        )
    EmployeeFactory(email=HOSTILE_EMAIL, first_name="Ann")


def _assert_hostile_links_neutralised(
    rows: list[list[str]],
    header: tuple[str, ...] = (
        "email",
        "first_name",
        "last_name",
        "department",
        "link",
    ),
) -> None:
    assert rows[0] == list(header)
    assert_csv_safe(rows)
    by_email = {row[0]: row for row in rows[1:]}
    assert len(by_email) == len(HOSTILE) + 1
    for n, value in enumerate(HOSTILE):
        assert by_email[f"p{n}@example.com"][1:4] == [csv_written(value)] * 3
    assert by_email[csv_written(HOSTILE_EMAIL)][1] == "Ann"


def test_the_command_neutralises_every_cell_whatever_hides_the_formula():
    _hostile_staff()
    campaign, _ = launched(employees=0)
    out = io.StringIO()
    call_command("campaign_links", campaign.name, stdout=out)
    _assert_hostile_links_neutralised(list(csv.reader(io.StringIO(out.getvalue()))))


def test_the_admin_download_neutralises_every_cell_whatever_hides_the_formula(
    admin_client,
):
    _hostile_staff()
    campaign, _ = launched(employees=0)
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    response = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    _assert_hostile_links_neutralised(
        list(csv.reader(io.StringIO(text))),
        ("email", "first name", "last name", "department", "link"),
    )


def test_the_command_records_each_export_under_the_os_user():
    campaign, recipients = launched(employees=3, language="en")
    Client().post(link(recipients[0]), confirmed_post(campaign, "en"))
    _csv(campaign.name)
    _csv(campaign.name, "--pending")
    first, second = AuditEntry.objects.filter(action=AuditAction.LINKS_EXPORT).order_by(
        "seq"
    )
    assert first.username == second.username == os_user()
    assert first.target_id == second.target_id == str(campaign.pk)
    assert first.after == {"format": "command", "scope": "all", "links": 3}
    assert second.after == {"format": "command", "scope": "pending", "links": 2}


def test_the_command_records_nothing_when_it_refuses():
    EmployeeFactory()
    draft = campaign_make(name="Draft")
    with pytest.raises(CommandError):
        _csv(draft.name)
    assert not AuditEntry.objects.filter(action=AuditAction.LINKS_EXPORT).exists()
