"""The evidence keeps every answer, not only the last: who changed it, when,
from what to what; outside the hash, so old and new files still verify."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from console.evidence import COLUMNS, MARKED_COLUMNS, evidence_parse
from notifications.acknowledgements.corrections import acknowledgement_correct
from notifications.models import Campaign, Recipient
from tests.ack_helpers import confirmed_post, launched, link
from tests.factories import member_make

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_link_state")]


@pytest.fixture
def dpo_client(client):
    client.force_login(member_make("DPO", "dpo-person"))
    return client


def _answer(campaign: Campaign, recipient: Recipient, answer: str) -> None:
    data = confirmed_post(campaign, "en", answer=answer)
    assert Client().post(link(recipient), data).status_code == 200


def _evidence(client, campaign: Campaign, kind: str = "csv") -> bytes:
    url = reverse("admin:audit_evidence_export", args=[campaign.pk, kind])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _verify(tmp_path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with translation.override("en"):
        call_command("verify_evidence", str(path))


@pytest.fixture
def changed(dpo_client):
    """Answered, changed by the employee, then corrected by a DPO."""
    campaign, [recipient] = launched(language="en")
    first, second = (choice["value"] for choice in campaign.answer_choices[:2])
    _answer(campaign, recipient, first)
    _answer(campaign, recipient, second)
    acknowledgement_correct(
        recipient_id=recipient.pk,
        acknowledged=True,
        answer=first,
        reason="Paper letter",
        user=member_make("DPO", "dpo-corrector"),
    )
    return campaign, first, second


def test_it_exports_the_answer_history_in_the_csv(dpo_client, changed, tmp_path):
    campaign, first, second = changed
    content = _evidence(dpo_client, campaign)
    [row] = [r for r in evidence_parse(content) if r["record"] == "recipient"]
    history = row["answer_history"].split(" | ")
    assert len(history) == 3
    assert f"Acknowledged by the employee: — → {first}" in history[0]
    assert f"Answer changed by the employee: {first} → {second}" in history[1]
    assert f"by dpo-corrector, by hand: {second} → {first}" in history[2]
    assert row["answer"] == first
    _verify(tmp_path, content, "evidence.csv")


def test_it_shows_the_answer_history_in_the_html_and_still_verifies(
    dpo_client, changed, tmp_path, capsys
):
    campaign, first, second = changed
    page = _evidence(dpo_client, campaign, "html")
    body = page.decode()
    table = body[body.index('class="answer-history"') :]
    table = table[: table.index("</table>")]
    assert "Answer changed" in table and "dpo-corrector, by hand" in table
    assert f"<td>{first}</td><td>{second}</td>" in table
    _verify(tmp_path, page, "evidence.html")
    assert "Evidence verified" in capsys.readouterr().out


def test_it_still_verifies_a_file_made_before_the_history_column(
    dpo_client, changed, tmp_path, capsys
):
    campaign, _first, _second = changed
    text = _evidence(dpo_client, campaign).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert len(lines[0]) == len(COLUMNS)
    keep = [COLUMNS.index(name) for name in MARKED_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in lines:
        writer.writerow([line[i] for i in keep])
    _verify(tmp_path, ("\ufeff" + out.getvalue()).encode(), "old.csv")
    assert "Evidence verified" in capsys.readouterr().out
