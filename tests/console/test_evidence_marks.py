"""The evidence marks what an auditor must tell apart: an acknowledgement
made after the deadline (late), and one made with a link that staff had
exported or printed before it was used (and who)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from console.evidence import COLUMNS, LEGACY_COLUMNS, evidence_parse
from notifications.models import Campaign, Recipient
from tests.ack_helpers import confirmed_post, launched, link
from tests.factories import member_make

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_link_state")]


@pytest.fixture
def dpo_client(client):
    client.force_login(member_make("DPO", "dpo-person"))
    return client


def _acknowledge(campaign: Campaign, recipient: Recipient) -> None:
    response = Client().post(link(recipient), confirmed_post(campaign, "en"))
    assert response.status_code == 200


def _evidence(client, campaign: Campaign, kind: str = "csv") -> bytes:
    url = reverse("admin:audit_evidence_export", args=[campaign.pk, kind])
    response = client.get(url)
    assert response.status_code == 200
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _recipient_rows(content: bytes) -> dict[str, dict[str, str]]:
    return {
        row["email"]: row
        for row in evidence_parse(content)
        if row["record"] == "recipient"
    }


def _verify(tmp_path, content: bytes, name: str = "evidence.csv") -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with translation.override("en"):
        call_command("verify_evidence", str(path))


def test_it_marks_an_acknowledgement_whose_link_was_exported_before(dpo_client):
    campaign, (before, after, never) = launched(employees=3, language="en")
    _acknowledge(campaign, before)  # with their own link, before any export
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    assert dpo_client.get(url).status_code == 200
    _acknowledge(campaign, after)  # the link had been exported by then
    rows = _recipient_rows(_evidence(dpo_client, campaign))
    assert rows[after.email]["link_exported"] == "yes"
    assert rows[after.email]["link_exported_by"] == "dpo-person"
    assert rows[before.email]["link_exported"] == "no"
    assert rows[before.email]["link_exported_by"] == ""
    assert rows[never.email]["link_exported"] == ""  # not acknowledged


def test_it_names_whoever_printed_or_exported_with_the_command(dpo_client):
    campaign, [recipient] = launched(language="en")
    letters = reverse("admin:notifications_campaign_letters", args=[campaign.pk])
    dpo_client.get(letters + "?pending=1")
    call_command("campaign_links", campaign.name, stdout=io.StringIO())
    _acknowledge(campaign, recipient)
    row = _recipient_rows(_evidence(dpo_client, campaign))[recipient.email]
    assert row["link_exported_by"].startswith("dpo-person, shell")


def test_it_marks_the_late_acknowledgements(dpo_client):
    campaign, (in_time, late, never) = launched(employees=3, language="en")
    _acknowledge(campaign, in_time)
    campaign.deadline = timezone.now()  # passes between the two
    campaign.save(update_fields=["deadline"])
    _acknowledge(campaign, late)
    rows = _recipient_rows(_evidence(dpo_client, campaign))
    assert rows[late.email]["late"] == "yes"
    assert rows[in_time.email]["late"] == "no"
    assert rows[never.email]["late"] == ""


def test_it_titles_the_new_columns_in_french(dpo_client):
    campaign, [recipient] = launched(language="en")
    _acknowledge(campaign, recipient)
    url = reverse("admin:audit_evidence_export", args=[campaign.pk, "csv"])
    response = dpo_client.get(url, HTTP_ACCEPT_LANGUAGE="fr")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(body), delimiter=";"))
    assert len(header) == len(COLUMNS)
    for title in ("en retard", "lien exporté avant usage", "lien exporté par"):
        assert title in header


def test_the_marked_evidence_still_verifies(dpo_client, tmp_path, capsys):
    campaign, (first, second) = launched(employees=2, language="en")
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    dpo_client.get(url)
    _acknowledge(campaign, first)
    campaign.deadline = timezone.now() - timedelta(minutes=1)
    campaign.save(update_fields=["deadline"])
    _acknowledge(campaign, second)
    _verify(tmp_path, _evidence(dpo_client, campaign))
    _verify(tmp_path, _evidence(dpo_client, campaign, "html"), "evidence.html")
    assert capsys.readouterr().out.count("Evidence verified") == 2


def test_it_still_verifies_a_file_made_before_the_new_columns(
    dpo_client, tmp_path, capsys
):
    campaign, [recipient] = launched(language="en")
    _acknowledge(campaign, recipient)
    text = _evidence(dpo_client, campaign).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    keep = [COLUMNS.index(name) for name in LEGACY_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in lines:
        writer.writerow([line[i] for i in keep])
    _verify(tmp_path, ("\ufeff" + out.getvalue()).encode())
    assert "Evidence verified" in capsys.readouterr().out


def test_the_html_report_marks_a_late_acknowledgement_with_a_handled_link(
    dpo_client,
):
    campaign, [recipient] = launched(language="en")
    url = reverse("admin:notifications_campaign_links_csv", args=[campaign.pk])
    dpo_client.get(url)
    campaign.deadline = timezone.now() - timedelta(minutes=1)
    campaign.save(update_fields=["deadline"])
    _acknowledge(campaign, recipient)
    page = _evidence(dpo_client, campaign, "html").decode()
    assert "late (after the deadline)" in page
    assert "link exported or printed by dpo-person before it was used" in page
