"""Acknowledgements recorded or withdrawn by hand, by a DPO, with a reason."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditAction, AuditEntry
from audit.services import audit_verify
from notifications.acknowledgements.corrections import acknowledgement_correct
from notifications.models import AcknowledgementKind
from tests.ack_helpers import launched
from tests.factories import member_make

pytestmark = pytest.mark.django_db


def _url(recipient) -> str:
    return f"/admin/notifications/recipient/{recipient.pk}/correct/"


def test_it_records_a_paper_acknowledgement_with_its_reason():
    _, (recipient,) = launched()
    dpo = member_make("DPO", "dpo")
    acknowledgement_correct(
        recipient_id=recipient.pk,
        acknowledged=True,
        answer="opted_out",
        reason="Signed letter received on 12 Nov",
        user=dpo,
    )
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None
    assert recipient.answer == "opted_out"
    history = recipient.acknowledgements.get()
    assert (history.kind, history.answer) == (
        AcknowledgementKind.CORRECTED,
        "opted_out",
    )
    entry = AuditEntry.objects.get(action=AuditAction.ACK_CORRECTION)
    assert (entry.user, entry.reason) == (dpo, "Signed letter received on 12 Nov")
    assert entry.before["acknowledged_at"] is None
    assert entry.after["answer"] == "opted_out"
    assert audit_verify().ok


def test_it_withdraws_a_mistaken_acknowledgement_keeping_the_history():
    _, (recipient,) = launched()
    dpo = member_make("DPO", "dpo")
    for acknowledged in (True, False):
        acknowledgement_correct(
            recipient_id=recipient.pk,
            acknowledged=acknowledged,
            answer="opted_out",
            reason="Entered for the wrong person",
            user=dpo,
        )
    recipient.refresh_from_db()
    assert (recipient.acknowledged_at, recipient.answer) == (None, "")
    kinds = list(recipient.acknowledgements.values_list("kind", flat=True))
    assert kinds == [AcknowledgementKind.CORRECTED, AcknowledgementKind.WITHDRAWN]
    assert AuditEntry.objects.filter(action=AuditAction.ACK_CORRECTION).count() == 2


def test_it_refuses_a_correction_without_a_reason_or_with_an_unknown_answer():
    _, (recipient,) = launched()
    dpo = member_make("DPO", "dpo")
    with pytest.raises(ValidationError):
        acknowledgement_correct(
            recipient_id=recipient.pk,
            acknowledged=True,
            answer="opted_out",
            reason="  ",
            user=dpo,
        )
    with pytest.raises(ValidationError):
        acknowledgement_correct(
            recipient_id=recipient.pk,
            acknowledged=True,
            answer="maybe",
            reason="phone",
            user=dpo,
        )
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None
    assert not AuditEntry.objects.filter(action=AuditAction.ACK_CORRECTION).exists()


def test_it_lets_a_dpo_correct_from_the_admin(client):
    _, (recipient,) = launched()
    client.force_login(member_make("DPO", "dpo"))
    page = client.get(f"/admin/notifications/recipient/{recipient.pk}/change/")
    assert _url(recipient) in page.text
    assert client.get(_url(recipient)).status_code == 200
    response = client.post(
        _url(recipient),
        {"acknowledged": "1", "answer": "no_linkedin", "reason": "Told me by phone"},
    )
    assert response.status_code == 302
    recipient.refresh_from_db()
    assert recipient.answer == "no_linkedin"


def test_it_changes_nothing_on_get_or_without_a_reason(client):
    _, (recipient,) = launched()
    client.force_login(member_make("DPO", "dpo"))
    client.get(_url(recipient), {"acknowledged": "1", "reason": "x"})
    response = client.post(
        _url(recipient), {"acknowledged": "1", "answer": "opted_out"}
    )
    assert response.status_code == 200
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


@pytest.mark.parametrize("group", ["HR", "Viewer"])
def test_it_forbids_other_roles(client, group):
    _, (recipient,) = launched()
    client.force_login(member_make(group, group.lower()))
    assert client.get(_url(recipient)).status_code == 403
    response = client.post(
        _url(recipient), {"acknowledged": "1", "answer": "opted_out", "reason": "x"}
    )
    assert response.status_code == 403
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None
