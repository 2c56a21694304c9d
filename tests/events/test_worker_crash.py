"""A worker killed mid-delivery loses no event: a real Celery worker on Redis."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from events.models import DeliveryStatus, WebhookDelivery
from events.outbox import emit, forget_subscriptions
from events.services import endpoint_create
from tests.events.receiver import Receiver
from tests.services import REDIS_URL
from tests.workers import celery_worker, client_app, worker_database_env

pytestmark = [pytest.mark.worker, pytest.mark.redis]

ENV = {
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "WEBHOOK_CLAIM_TIMEOUT": "2",
}


def test_a_worker_killed_mid_delivery_loses_no_event(transactional_db, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    forget_subscriptions()
    env = {**ENV, **worker_database_env()}
    with Receiver() as receiver:
        receiver.answer(204, delay=5.0)  # the first attempt hangs
        endpoint_create(url=receiver.url, events=["import.completed"], actor="test")
        with transaction.atomic():
            event = emit("import.completed", {"import_id": 1})
        with celery_worker(broker_url=REDIS_URL, env=env) as first:
            client_app(first).send_task("events.sweep", queue=first.queue)
            assert receiver.wait(1, timeout=20), first.log
            first.kill()
        assert WebhookDelivery.objects.get().status == DeliveryStatus.SENDING
        with celery_worker(broker_url=REDIS_URL, env=env) as second:
            app = client_app(second)
            end = time.monotonic() + 30
            while time.monotonic() < end and len(receiver.requests) < 2:
                app.send_task("events.sweep", queue=second.queue, expires=5)
                time.sleep(1)
            assert len(receiver.requests) >= 2, second.log
        assert {r.headers["webhook-id"] for r in receiver.requests} == {
            event.message_id
        }
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.DELIVERED
    forget_subscriptions()
