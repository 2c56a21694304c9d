from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from audit.models import AuditAction, AuditEntry
from audit.services import audit_record, audit_verify
from employees.models import Employee
from notifications.models import Delivery, Recipient
from tests.evidence_factories import campaign_sent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent():
    return campaign_sent()


@pytest.fixture
def dpo(client):
    user = UserFactory(username="dpo-person")
    user.groups.add(Group.objects.get(name="DPO"))
    client.force_login(user)
    return user


def test_it_exports_one_persons_data_as_json(client, dpo, sent):
    employee = sent.recipients[0].employee
    url = reverse("admin:audit_person_export", args=[employee.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["employee"]["email"] == employee.email
    assert data["campaigns"][0]["answer"] == "opted_out"
    assert data["messages"][0]["to"] == employee.email
    entry = AuditEntry.objects.get(action=AuditAction.ACCESS_EXPORT)
    assert (entry.username, entry.subject_employee_id) == ("dpo-person", employee.pk)


def test_it_asks_for_a_reason_before_erasing(client, dpo, sent):
    employee = sent.recipients[1].employee
    url = reverse("admin:audit_person_erase", args=[employee.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200
    employee.refresh_from_db()
    assert employee.first_name != ""


def test_it_erases_personal_fields_and_keeps_the_chain_verifiable(
    client, dpo, sent, tmp_path
):
    employee = sent.recipients[1].employee
    email = employee.email
    # Evidence exported before the request and an entry about the person.
    export = client.get(
        reverse("admin:audit_evidence_export", args=[sent.campaign.pk, "csv"])
    )
    before = b"".join(export.streaming_content)
    audit_record(
        actor=dpo,
        action=AuditAction.ACK_CORRECTION,
        target=employee,
        before={"email": email},
        reason=f"asked by {email}",
    )
    url = reverse("admin:audit_person_erase", args=[employee.pk])
    response = client.post(url, {"reason": "Request of 2025-10-20", "confirm": "on"})
    assert response.status_code == 302

    employee.refresh_from_db()
    assert employee.email == f"erased-{employee.pk}@erased.invalid"
    assert (employee.first_name, employee.last_name, employee.is_active) == (
        "",
        "",
        False,
    )
    recipient = Recipient.objects.get(employee=employee)
    assert (recipient.email, recipient.first_name) == ("", "")
    assert Delivery.objects.get(recipient=recipient).to_email == ""
    correction = AuditEntry.objects.get(action=AuditAction.ACK_CORRECTION)
    assert correction.reason == "" and correction.before is None
    erasure = AuditEntry.objects.get(action=AuditAction.ERASURE)
    assert erasure.reason == "Request of 2025-10-20"
    assert erasure.after == {
        "recipients": 1,
        "deliveries": 1,
        "audit_entries_redacted": 1,
    }
    assert email not in json.dumps(list(AuditEntry.objects.values()), default=str)

    assert audit_verify().ok
    # The export made before the erasure still verifies against the database.
    path = tmp_path / "before.csv"
    path.write_bytes(before)
    with translation.override("en"):
        call_command("verify_evidence", str(path))
    # And a new export, without the person's name, verifies too.
    after = client.get(
        reverse("admin:audit_evidence_export", args=[sent.campaign.pk, "csv"])
    )
    content = b"".join(after.streaming_content)
    assert email.encode() not in content
    path.write_bytes(content)
    call_command("verify_evidence", str(path))


def test_it_still_detects_tampering_after_an_erasure(client, dpo, sent):
    employee = sent.recipients[1].employee
    client.post(
        reverse("admin:audit_person_erase", args=[employee.pk]),
        {"reason": "request", "confirm": "on"},
    )
    erasure = AuditEntry.objects.get(action=AuditAction.ERASURE)
    AuditEntry.objects.filter(pk=erasure.pk).update(reason="nothing to see")
    assert audit_verify().broken_seq == erasure.seq


def test_it_detects_an_entry_blanked_by_hand_as_if_erased(dpo, sent):
    """Blanking an entry's personal fields is what an erasure does; done in the
    database without one (to hide a correction's reason, say), it is caught."""
    employee = sent.recipients[0].employee
    entry = audit_record(
        actor=dpo,
        action=AuditAction.ACK_CORRECTION,
        target=employee,
        reason="acknowledged on paper",
    )
    assert audit_verify().ok

    AuditEntry.objects.filter(pk=entry.pk).update(
        target_repr="", before=None, after=None, reason="", personal_salt=""
    )

    report = audit_verify()
    assert report.broken_seq == entry.seq
    assert "without a later erasure" in report.problem


def test_it_refuses_erasure_without_the_permission(client, sent):
    user = UserFactory(username="hr-person")
    user.groups.add(Group.objects.get(name="HR"))
    client.force_login(user)
    employee = sent.recipients[0].employee
    url = reverse("admin:audit_person_erase", args=[employee.pk])
    assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 403
    assert (
        client.get(reverse("admin:audit_person_export", args=[employee.pk])).status_code
        == 403
    )
    assert Employee.objects.get(pk=employee.pk).email == employee.email
