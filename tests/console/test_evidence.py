from __future__ import annotations

import csv
import hashlib
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from audit.models import AuditAction, AuditEntry
from console.evidence import evidence_parse
from notifications.models import Delivery, Recipient
from tests.common.hostile import HOSTILE, HOSTILE_EMAIL, assert_csv_safe, csv_written
from tests.evidence_factories import campaign_sent
from tests.factories import dpo_make, member_make

pytestmark = pytest.mark.django_db


def _export(client, campaign, kind: str = "csv") -> bytes:
    url = reverse("admin:audit_evidence_export", args=[campaign.pk, kind])
    response = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    return (
        b"".join(response.streaming_content)
        if response.streaming
        else (response.content)
    )


def _verify(tmp_path, content: bytes, name: str = "evidence.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    with translation.override("en"):
        call_command("verify_evidence", str(path))
    return str(path)


def _verify_fails(tmp_path, content: bytes, name: str = "evidence.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    with translation.override("en"), pytest.raises(CommandError) as failure:
        call_command("verify_evidence", str(path))
    return str(failure.value)


@pytest.fixture
def sent():
    return campaign_sent()


@pytest.fixture
def dpo_client(client):
    client.force_login(member_make("DPO", "dpo-person"))
    return client


def test_it_lists_each_message_and_acknowledgement_per_employee(dpo_client, sent):
    content = _export(dpo_client, sent.campaign)
    rows = evidence_parse(content)
    deliveries = [r for r in rows if r["record"] == "delivery"]
    recipients = [r for r in rows if r["record"] == "recipient"]
    assert len(deliveries) == 3 and len(recipients) == 3
    first = next(r for r in recipients if r["record_id"] == str(sent.recipients[0].pk))
    assert first["answer"] == "opted_out"
    assert first["time"].startswith("2025-10-01T10:00")  # 12:00 Paris, in UTC
    delivery = next(r for r in deliveries if r["email"] == sent.recipients[1].email)
    assert delivery["status"] == "sent"
    assert delivery["content_sha256"] == sent.deliveries[1].content_sha256
    assert rows[-1]["record"] == "chain"


def test_it_records_the_export_in_the_audit_log(dpo_client, sent):
    rows = evidence_parse(_export(dpo_client, sent.campaign))
    entry = AuditEntry.objects.get(action=AuditAction.EVIDENCE_EXPORT)
    assert entry.username == "dpo-person"
    assert entry.target_id == str(sent.campaign.pk)
    assert rows[-1]["record_id"] == str(entry.seq)
    assert rows[-1]["record_sha256"] == entry.entry_sha256


def test_it_verifies_an_untouched_export(dpo_client, sent, tmp_path, capsys):
    _verify(tmp_path, _export(dpo_client, sent.campaign))
    assert "Evidence verified" in capsys.readouterr().out


def test_it_names_the_row_edited_in_the_file(dpo_client, sent, tmp_path):
    content = _export(dpo_client, sent.campaign).decode("utf-8-sig")
    edited = content.replace(",sent,", ",delivered,", 1).replace(
        ";sent;", ";delivered;", 1
    )
    assert edited != content
    message = _verify_fails(tmp_path, edited.encode())
    assert "line" in message and "delivery" in message and "status" in message


def test_it_names_a_changed_address_in_the_file(dpo_client, sent, tmp_path):
    content = _export(dpo_client, sent.campaign).decode("utf-8-sig")
    email = sent.recipients[2].email
    edited = content.replace(email, "someone.else@example.com")
    message = _verify_fails(tmp_path, edited.encode())
    assert "name or address was changed" in message


def test_it_notices_a_removed_row(dpo_client, sent, tmp_path):
    lines = _export(dpo_client, sent.campaign).decode("utf-8-sig").splitlines(True)
    edited = "".join(lines[:2] + lines[3:])
    assert "digest mismatch" in _verify_fails(tmp_path, edited.encode())


def test_it_names_a_row_edited_in_the_database_after_export(dpo_client, sent, tmp_path):
    content = _export(dpo_client, sent.campaign)
    target = sent.deliveries[1]
    Delivery.objects.filter(pk=target.pk).update(status="failed")
    message = _verify_fails(tmp_path, content)
    assert f"delivery {target.pk}" in message
    assert "edited in the database" in message


def test_it_notices_an_acknowledgement_forged_in_the_database(
    dpo_client, sent, tmp_path
):
    content = _export(dpo_client, sent.campaign)
    forged = sent.recipients[2]
    Recipient.objects.filter(pk=forged.pk).update(answer="opted_out")
    assert f"recipient {forged.pk}" in _verify_fails(tmp_path, content)


def test_it_refuses_an_export_whose_audit_entry_was_altered(dpo_client, sent, tmp_path):
    content = _export(dpo_client, sent.campaign)
    AuditEntry.objects.filter(action=AuditAction.EVIDENCE_EXPORT).update(
        username="mallory"
    )
    assert "Chain broken" in _verify_fails(tmp_path, content)


def test_it_verifies_the_html_report_and_shows_the_contents(dpo_client, sent, tmp_path):
    content = _export(dpo_client, sent.campaign, "html")
    text = content.decode()
    version = sent.campaign.contents.get(language="fr", is_current=True)
    assert version.sha256 in text
    assert sent.recipients[0].email in text
    _verify(tmp_path, content, "evidence.html")
    Delivery.objects.filter(pk=sent.deliveries[0].pk).update(sent_at=None)
    assert "edited in the database" in _verify_fails(tmp_path, content, "e.html")


@pytest.mark.parametrize(("language", "word"), [("fr", "Envoyé"), ("en", "Sent")])
def test_the_html_report_names_each_status_in_the_readers_language(
    dpo_client, sent, tmp_path, language, word
):
    """The per-employee tables say "Envoyé", not the stored code "sent";
    the hashed code stays in the page's data, and the page still verifies."""
    dpo_client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    content = _export(dpo_client, sent.campaign, "html")
    cells = re.findall(r"<td>([^<]*)</td><td class=\"hash\">", content.decode())
    assert cells and set(cells) == {word}
    _verify(tmp_path, content, "evidence.html")


def test_it_lets_anyone_check_a_message_text_against_its_hash(sent):
    # What the report documents: SHA-256 of the JSON of the five fields.
    version = sent.campaign.contents.get(language="en", is_current=True)
    payload = {"language": version.language}
    payload |= {
        name: getattr(version, name)
        for name in ("subject", "body_text", "body_html", "page_text")
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == version.sha256


def test_it_neutralises_formulas_and_still_verifies(client, tmp_path):
    sent = campaign_sent()
    Recipient.objects.filter(pk=sent.recipients[1].pk).update(
        first_name='=HYPERLINK("http://evil")'
    )
    client.force_login(dpo_make())
    content = _export(client, sent.campaign)
    assert b"'=HYPERLINK" in content
    _verify(tmp_path, content)


def test_it_refuses_hr_and_viewer_by_direct_url(client, sent):
    url = reverse("admin:audit_evidence_export", args=[sent.campaign.pk, "csv"])
    for group in ("HR", "Viewer"):
        client.force_login(member_make(group, f"{group.lower()}-person"))
        assert client.get(url).status_code == 403
    assert not AuditEntry.objects.filter(action=AuditAction.EVIDENCE_EXPORT).exists()


def test_it_requires_login_and_get(client, sent):
    url = reverse("admin:audit_evidence_export", args=[sent.campaign.pk, "csv"])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(dpo_make())
    assert client.post(url).status_code == 405
    bad = reverse("admin:audit_evidence_export", args=[sent.campaign.pk, "exe"])
    assert client.get(bad).status_code == 404


def test_it_neutralises_formulas_hidden_in_any_way_and_still_verifies(tmp_path):
    sent = campaign_sent(people=len(HOSTILE) + 2)
    for recipient, value in zip(sent.recipients, HOSTILE, strict=False):
        Recipient.objects.filter(pk=recipient.pk).update(
            first_name=value, last_name=value
        )
    apostrophe, address = sent.recipients[-2], sent.recipients[-1]
    # Already looks neutralised: must read back with its own apostrophe.
    Recipient.objects.filter(pk=apostrophe.pk).update(last_name="'=1+1")
    Recipient.objects.filter(pk=address.pk).update(email=HOSTILE_EMAIL)
    Delivery.objects.filter(recipient=address).update(to_email=HOSTILE_EMAIL)
    client = Client(headers={"accept-language": "en"})
    client.force_login(dpo_make())
    content = _export(client, sent.campaign)
    cells = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert_csv_safe(cells)
    written = {cell for row in cells for cell in row}
    assert {csv_written(value) for value in HOSTILE} <= written
    assert {csv_written(HOSTILE_EMAIL), "''=1+1"} <= written
    read = evidence_parse(content)
    assert {row["first_name"] for row in read} >= set(HOSTILE)
    assert {row["email"] for row in read} >= {HOSTILE_EMAIL}
    assert "'=1+1" in {row["last_name"] for row in read}
    _verify(tmp_path, content)
