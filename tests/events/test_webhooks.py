"""Signed webhooks to a real HTTP receiver, verified with `standardwebhooks`."""

from __future__ import annotations

import json
import time

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from standardwebhooks import Webhook

from events.delivering import deliver_pending, sweep
from events.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from events.outbox import emit, forget_subscriptions
from events.services import endpoint_create, endpoint_rotate
from tests.events.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0.2, 0.2, 0.2]
    forget_subscriptions()
    yield
    forget_subscriptions()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def _endpoint(url: str, events=("recipient.acknowledged",)) -> WebhookEndpoint:
    return endpoint_create(url=url, events=list(events), actor="test")


def _emit(type_: str = "recipient.acknowledged", **data) -> Event:
    with transaction.atomic():
        event = emit(type_, {"recipient_id": 1, **data})
    assert event is not None
    return event


def _deliver_until(done, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        deliver_pending(linger=0.0, max_seconds=5)
        if done():
            return
        time.sleep(0.1)
    raise AssertionError("not delivered in time")


def test_it_signs_each_delivery_as_standard_webhooks_verifies_it(receiver):
    endpoint = _endpoint(receiver.url)
    event = _emit(campaign_id=7)
    _deliver_until(lambda: receiver.handled)
    request = receiver.requests[0]
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "recipient.acknowledged"
    assert payload["data"] == {"recipient_id": 1, "campaign_id": 7}
    assert request.headers["webhook-id"] == event.message_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.last_status_code == 204


def test_a_change_rolled_back_sends_nothing(receiver):
    _endpoint(receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("recipient.acknowledged", {"recipient_id": 1})
        raise RuntimeError("the change fails")
    deliver_pending(linger=0.0)
    assert Event.objects.count() == 0
    assert receiver.requests == []


def test_nothing_is_written_when_no_endpoint_listens(receiver):
    _endpoint(receiver.url, events=["campaign.launched"])
    with transaction.atomic():
        assert emit("recipient.acknowledged", {"recipient_id": 1}) is None
    assert Event.objects.count() == 0


def test_500_then_429_then_success_reaches_the_logic_once_with_one_id(receiver):
    _endpoint(receiver.url)
    receiver.answer(500)
    receiver.answer(429, {"Retry-After": "1"})
    event = _emit()
    _deliver_until(lambda: receiver.handled, timeout=15)
    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {event.message_id}
    assert list(receiver.handled) == [event.message_id]
    # Retry-After honoured: the third attempt came no sooner than it asked.
    assert receiver.requests[2].at - receiver.requests[1].at >= 0.95
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)


def test_410_disables_the_endpoint(receiver):
    endpoint = _endpoint(receiver.url)
    receiver.answer(410)
    _emit()
    _deliver_until(lambda: receiver.requests)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "410" in endpoint.disabled_reason
    forget_subscriptions()
    with transaction.atomic():
        assert emit("recipient.acknowledged", {"recipient_id": 2}) is None


def test_why_a_worker_disabled_an_endpoint_reads_in_the_admins_language(
    receiver, admin_client
):
    _endpoint(receiver.url)
    receiver.answer(410)
    _emit()
    with translation.override("fr"):  # a worker runs in LANGUAGE_CODE
        _deliver_until(lambda: receiver.requests)
    url = reverse("admin:events_webhookendpoint_changelist")
    english = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    french = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "The receiver answered 410 Gone." in english
    assert "Le destinataire a répondu 410 Gone." in french


def test_it_gives_up_after_the_schedule(receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0.1]
    _endpoint(receiver.url)
    receiver.answer(500)
    receiver.answer(503)
    _emit()
    _deliver_until(
        lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists()
    )
    assert len(receiver.requests) == 2


def test_an_endpoint_failing_too_long_is_disabled_and_the_dpo_told(
    receiver, settings, admin_client
):
    settings.WEBHOOK_DISABLE_AFTER = 0.5
    endpoint = _endpoint(receiver.url)
    for _ in range(4):
        receiver.answer(500)
    _emit()
    _deliver_until(lambda: not WebhookEndpoint.objects.get().enabled, timeout=10)
    endpoint.refresh_from_db()
    assert endpoint.disabled_reason
    page = admin_client.get("/admin/events/webhookendpoint/")
    assert "was disabled" in page.content.decode()


def test_a_private_address_is_refused_at_send_time(receiver, settings):
    _endpoint(receiver.url)  # saved while private addresses were allowed
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    _emit()
    deliver_pending(linger=0.0)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert "private" in delivery.last_error
    assert delivery.status == DeliveryStatus.PENDING


def test_no_redirect_is_followed(receiver):
    _endpoint(receiver.url)
    receiver.answer(307, {"Location": receiver.url + "/elsewhere"})
    _emit()
    deliver_pending(linger=0.0)
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().last_status_code == 307


def test_after_a_rotation_both_secrets_verify_during_the_grace(receiver):
    endpoint = _endpoint(receiver.url)
    old = endpoint.secret
    new = endpoint_rotate(endpoint=endpoint, actor="test")
    _emit()
    _deliver_until(lambda: receiver.handled)
    request = receiver.requests[0]
    for secret in (old, new):
        assert Webhook(secret).verify(request.body, request.headers)


def test_payloads_are_thin(receiver):
    _endpoint(receiver.url)
    _emit(campaign_id=3)
    _deliver_until(lambda: receiver.handled)
    payload = json.loads(receiver.requests[0].body)
    assert set(payload) == {"type", "timestamp", "data"}


def test_a_claim_left_by_a_dead_worker_is_sent_again_by_the_sweep(receiver, settings):
    settings.WEBHOOK_CLAIM_TIMEOUT = 0.1
    _endpoint(receiver.url)
    event = _emit()
    from events.delivering import claim, fan_out

    fan_out()
    assert claim(limit=10)  # this "worker" dies here
    time.sleep(0.2)
    sweep()
    assert list(receiver.handled) == [event.message_id]
