"""Delivery tracking through django-anymail's real webhook views, with the
payload shapes of Postmark (basic auth secret) and Mailgun (HMAC signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from datetime import UTC, datetime

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from employees.models import EmailStatus
from notifications.delivery import tracking
from notifications.models import (
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
)
from tests.ack_helpers import launched

pytestmark = pytest.mark.django_db

SECRET = "webhook:s3cret-pass"
SIGNING_KEY = "key-mailgun-signing-0123456789"
ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture(autouse=True)
def _anymail_secrets():
    with override_settings(ANYMAIL=ANYMAIL):
        yield


def _sent(message_id: str, *, email: str | None = None) -> Delivery:
    """A delivery recorded as sent by the pipeline with the ESP's id."""
    _campaign, recipients = launched(name=f"c-{message_id}")
    recipient = max(recipients, key=lambda r: r.employee_id)  # the new employee
    step = Step.objects.get(campaign=recipient.campaign, kind=StepKind.FIRST)
    return Delivery.objects.create(
        step=step,
        recipient=recipient,
        to_email=email or recipient.employee.email,
        status=DeliveryStatus.SENT,
        esp_message_id=message_id,
    )


def _auth(secret: str = SECRET) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def _postmark(payload: dict, secret: str = SECRET):
    return Client().post(
        reverse("anymail:postmark_tracking_webhook"),
        json.dumps(payload),
        content_type="application/json",
        **_auth(secret),
    )


def _postmark_delivery(message_id: str, email: str, at: str) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": email,
        "Tag": "",
        "DeliveredAt": at,
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


def _postmark_bounce(message_id: str, email: str, at: str, kind: str = "HardBounce"):
    return {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Description": "The server was unable to deliver your message",
        "Details": "smtp;550 5.1.1 The email account does not exist",
        "Email": email,
        "From": "dpo@example.com",
        "BouncedAt": at,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "LinkedIn",
        "Metadata": {},
    }


def _postmark_complaint(message_id: str, email: str, at: str) -> dict:
    return {
        **_postmark_bounce(message_id, email, at, "SpamComplaint"),
        "RecordType": "SpamComplaint",
    }


def _mailgun(
    event: str, message_id: str, email: str, ts: float, key=SIGNING_KEY, **extra
):
    timestamp, token = (
        str(int(time.time())),
        "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
    )
    signature = hmac.new(
        key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    payload = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event,
            "timestamp": ts,
            "id": f"ev-{event}-{ts}",
            "recipient": email,
            "message": {"headers": {"message-id": message_id}},
            **extra,
        },
    }
    return Client().post(
        reverse("anymail:mailgun_tracking_webhook"),
        json.dumps(payload),
        content_type="application/json",
        **_auth(),
    )


def _state(delivery: Delivery) -> tuple[str, datetime | None]:
    delivery.refresh_from_db()
    return delivery.status, delivery.status_at


# --- Postmark ---------------------------------------------------------------


def test_it_marks_a_postmark_delivery_delivered_with_its_time():
    delivery = _sent("pm-1")
    response = _postmark(
        _postmark_delivery("pm-1", delivery.to_email, "2025-10-14T16:30:49Z")
    )
    assert response.status_code == 200
    assert _state(delivery) == (
        DeliveryStatus.DELIVERED,
        datetime(2025, 10, 14, 16, 30, 49, tzinfo=UTC),
    )


def test_it_refuses_a_postmark_call_without_the_webhook_secret():
    delivery = _sent("pm-2")
    response = _postmark(
        _postmark_delivery("pm-2", delivery.to_email, "2025-10-14T16:30:49Z"),
        secret="webhook:wrong",
    )
    assert response.status_code in (400, 401, 403)
    assert _state(delivery)[0] == DeliveryStatus.SENT


def test_it_keeps_a_bounce_when_a_late_delivered_arrives():
    delivery = _sent("pm-3")
    email = delivery.to_email
    _postmark(_postmark_bounce("pm-3", email, "2025-10-14T16:31:00Z"))
    _postmark(_postmark_delivery("pm-3", email, "2025-10-14T16:30:49Z"))
    status, at = _state(delivery)
    assert status == DeliveryStatus.BOUNCED
    assert at == datetime(2025, 10, 14, 16, 31, tzinfo=UTC)
    assert "does not exist" in delivery.last_error


def test_it_changes_nothing_on_a_duplicate_event():
    delivery = _sent("pm-4")
    email = delivery.to_email
    _postmark(_postmark_bounce("pm-4", email, "2025-10-14T16:31:00Z"))
    before = _state(delivery)
    delivery.refresh_from_db()
    updated = delivery.updated_at
    _postmark(_postmark_bounce("pm-4", email, "2025-10-14T16:45:00Z"))
    assert _state(delivery) == before
    assert delivery.updated_at == updated


def test_it_marks_the_address_bad_on_a_hard_bounce():
    delivery = _sent("pm-5")
    _postmark(_postmark_bounce("pm-5", delivery.to_email, "2025-10-14T16:31:00Z"))
    employee = delivery.recipient.employee
    employee.refresh_from_db()
    assert employee.email_status == EmailStatus.BOUNCED


def test_it_keeps_the_address_on_a_soft_bounce():
    delivery = _sent("pm-6")
    _postmark(
        _postmark_bounce(
            "pm-6", delivery.to_email, "2025-10-14T16:31:00Z", "SoftBounce"
        )
    )
    employee = delivery.recipient.employee
    employee.refresh_from_db()
    assert _state(delivery)[0] == DeliveryStatus.BOUNCED
    assert employee.email_status == EmailStatus.OK


def test_it_marks_a_complaint_after_delivery():
    delivery = _sent("pm-7")
    email = delivery.to_email
    _postmark(_postmark_delivery("pm-7", email, "2025-10-14T16:30:49Z"))
    _postmark(_postmark_complaint("pm-7", email, "2025-10-15T08:00:00Z"))
    assert _state(delivery)[0] == DeliveryStatus.COMPLAINED
    employee = delivery.recipient.employee
    employee.refresh_from_db()
    assert employee.email_status == EmailStatus.COMPLAINED


# --- Mailgun ---------------------------------------------------------------


def test_it_marks_a_mailgun_delivery_delivered():
    delivery = _sent("<20251014.1@mg.example.com>")
    response = _mailgun(
        "delivered", "20251014.1@mg.example.com", delivery.to_email, 1760459449.5
    )
    assert response.status_code == 200
    status, at = _state(delivery)
    assert status == DeliveryStatus.DELIVERED
    assert at == datetime.fromtimestamp(1760459449.5, tz=UTC)


def test_it_refuses_a_mailgun_call_with_a_bad_signature():
    delivery = _sent("<20251014.2@mg.example.com>")
    response = _mailgun(
        "delivered",
        "20251014.2@mg.example.com",
        delivery.to_email,
        1760459449.5,
        key="not-the-key",
    )
    assert response.status_code in (400, 401, 403)
    assert _state(delivery)[0] == DeliveryStatus.SENT


def test_it_goes_from_deferred_to_delivered_but_never_back_with_mailgun():
    delivery = _sent("<20251014.3@mg.example.com>")
    mid, email = "20251014.3@mg.example.com", delivery.to_email
    _mailgun("failed", mid, email, 1760459000.0, severity="temporary")
    assert _state(delivery)[0] == DeliveryStatus.DEFERRED
    _mailgun("delivered", mid, email, 1760459600.0)
    assert _state(delivery)[0] == DeliveryStatus.DELIVERED
    _mailgun("failed", mid, email, 1760459000.0, severity="temporary")  # late retry
    assert _state(delivery)[0] == DeliveryStatus.DELIVERED


def test_it_marks_a_mailgun_permanent_failure_bounced_and_the_address_bad():
    delivery = _sent("<20251014.4@mg.example.com>")
    _mailgun(
        "failed",
        "20251014.4@mg.example.com",
        delivery.to_email,
        1760459000.0,
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "No such user"}},
    )
    assert _state(delivery)[0] == DeliveryStatus.BOUNCED
    employee = delivery.recipient.employee
    employee.refresh_from_db()
    assert employee.email_status == EmailStatus.BOUNCED


# --- Rules -------------------------------------------------------------------


def test_it_ends_in_the_same_state_whatever_the_order_of_events():
    events = [
        DeliveryStatus.DEFERRED,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.COMPLAINED,
    ]
    finals = set()
    for n, order in enumerate(itertools.permutations(events)):
        delivery = _sent(f"perm-{n}")
        for status in order:
            tracking.delivery_event_apply(message_id=f"perm-{n}", status=status)
            tracking.delivery_event_apply(message_id=f"perm-{n}", status=status)
        finals.add(_state(delivery)[0])
    assert finals == {DeliveryStatus.COMPLAINED}


def test_it_ignores_an_unknown_message_id():
    delivery = _sent("known")
    assert tracking.delivery_event_apply(message_id="other", status="bounced") == 0
    assert _state(delivery)[0] == DeliveryStatus.SENT


def test_it_does_not_blame_a_new_address_for_an_old_bounce():
    delivery = _sent("pm-8")
    employee = delivery.recipient.employee
    employee.email = "fixed@example.com"
    employee.save()
    _postmark(_postmark_bounce("pm-8", delivery.to_email, "2025-10-14T16:31:00Z"))
    employee.refresh_from_db()
    assert employee.email_status == EmailStatus.OK


def test_it_puts_a_fixed_address_back_to_ok_and_updates_the_campaigns():
    delivery = _sent("pm-9")
    _postmark(_postmark_bounce("pm-9", delivery.to_email, "2025-10-14T16:31:00Z"))
    employee = delivery.recipient.employee
    employee.refresh_from_db()
    previous = employee.email
    employee.email = "new.address@example.com"
    employee.save()
    assert tracking.address_fixed(employee=employee, previous_email=previous)
    employee.refresh_from_db()
    assert employee.email_status == EmailStatus.OK
    assert Recipient.objects.get(employee=employee).email == "new.address@example.com"
    assert not tracking.address_fixed(employee=employee, previous_email=employee.email)


def test_it_counts_the_local_outbox_as_delivered():
    assert (
        tracking.status_after_send("django.core.mail.backends.filebased.EmailBackend")
        == DeliveryStatus.DELIVERED
    )
    assert (
        tracking.status_after_send("django.core.mail.backends.locmem.EmailBackend")
        == DeliveryStatus.DELIVERED
    )
    assert (
        tracking.status_after_send("django.core.mail.backends.smtp.EmailBackend")
        == DeliveryStatus.SENT
    )
    assert (
        tracking.status_after_send("anymail.backends.postmark.EmailBackend")
        == DeliveryStatus.SENT
    )


# --- Admin -----------------------------------------------------------------


def test_the_admin_lists_bad_addresses_and_a_fix_re_enrols(admin_client):
    delivery = _sent("pm-10")
    _postmark(_postmark_bounce("pm-10", delivery.to_email, "2025-10-14T16:31:00Z"))
    employee = delivery.recipient.employee
    listing = admin_client.get(reverse("admin:notifications_badaddress_changelist"))
    assert employee.email in listing.content.decode()
    url = reverse("admin:notifications_badaddress_change", args=[employee.pk])
    response = admin_client.post(url, {"email": "right@example.com"})
    assert response.status_code == 302
    employee.refresh_from_db()
    assert (employee.email, employee.email_status) == ("right@example.com", "ok")
    listing = admin_client.get(reverse("admin:notifications_badaddress_changelist"))
    assert listing.context["cl"].result_count == 0
