"""Webhook endpoints and their delivery log in the admin."""

from __future__ import annotations

import pytest
from django.db import transaction

from events.delivering import deliver_pending
from events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from events.outbox import emit, forget_subscriptions
from tests.events.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    forget_subscriptions()
    yield
    forget_subscriptions()


def test_adding_an_endpoint_shows_its_secret_once(admin_client):
    page = admin_client.post(
        "/admin/events/webhookendpoint/add/",
        {
            "url": "http://127.0.0.1:9/hook",
            "events": ["recipient.acknowledged"],
            "enabled": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in page.content.decode()
    again = admin_client.get(f"/admin/events/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret not in again.content.decode()


def test_send_again_delivers_a_failed_delivery_with_the_same_id(admin_client, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0]
    with Receiver() as receiver:
        admin_client.post(
            "/admin/events/webhookendpoint/add/",
            {"url": receiver.url, "events": ["import.completed"], "enabled": "on"},
        )
        receiver.answer(500)
        with transaction.atomic():
            event = emit("import.completed", {"created": 1})
        deliver_pending(linger=0.0)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.FAILED
        admin_client.post(
            "/admin/events/webhookdelivery/",
            {"action": "send_again", "_selected_action": [delivery.pk]},
        )
        deliver_pending(linger=0.0)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.DELIVERED
        assert [r.headers["webhook-id"] for r in receiver.requests] == [
            event.message_id
        ] * 2


def test_hr_does_not_see_webhooks(client, hr_admin):
    client.force_login(hr_admin)
    assert client.get("/admin/events/webhookendpoint/").status_code == 403
