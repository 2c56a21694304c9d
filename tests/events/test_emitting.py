"""The domains write their events to the outbox, in the change's transaction."""

from __future__ import annotations

import io
import smtplib

import pytest
from django.db import transaction

from employees.importing import run_import
from events.models import Event
from events.outbox import forget_subscriptions
from events.services import endpoint_create
from notifications.acknowledgements.services import acknowledgement_record
from notifications.campaigns import services
from notifications.delivery.tracking import delivery_event_apply
from notifications.models import Delivery, DeliveryStatus
from tests.ack_helpers import launched

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listening(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    forget_subscriptions()
    endpoint_create(
        url="http://127.0.0.1:9/hook",
        events=[
            "campaign.launched",
            "campaign.paused",
            "recipient.acknowledged",
            "recipient.answer_changed",
            "delivery.failed",
            "import.completed",
            "import.failed",
            "step.sent",
            "campaign.finished",
            "evidence.ready",
        ],
        actor="test",
    )
    forget_subscriptions()
    yield
    forget_subscriptions()


def _types() -> list[str]:
    return list(Event.objects.order_by("id").values_list("type", flat=True))


def test_launch_and_pause_emit_their_events():
    campaign, _recipients = launched()
    services.campaign_pause(campaign=campaign, user="test")
    assert _types() == ["campaign.launched", "campaign.paused"]
    paused = Event.objects.get(type="campaign.paused")
    assert paused.data["reference"] == campaign.reference


def test_an_acknowledgement_emits_one_thin_event(settings):
    campaign, (recipient,) = launched()
    content = campaign.contents.filter(is_current=True).first()
    choice = campaign.answer_choices[0]["value"]
    acknowledgement_record(recipient=recipient, content=content, answer=choice)
    acknowledgement_record(recipient=recipient, content=content, answer=choice)
    event = Event.objects.get(type="recipient.acknowledged")
    assert event.data["recipient_id"] == recipient.pk
    assert event.data["campaign_id"] == campaign.pk
    assert "email" not in event.data


def test_the_email_is_there_only_when_the_setting_allows(settings):
    settings.WEBHOOK_INCLUDE_PERSONAL_DATA = True
    campaign, (recipient,) = launched()
    content = campaign.contents.filter(is_current=True).first()
    acknowledgement_record(recipient=recipient, content=content)
    event = Event.objects.get(type="recipient.acknowledged")
    assert event.data["email"] == recipient.email


def test_an_answer_change_emits_its_event():
    campaign, (recipient,) = launched()
    content = campaign.contents.filter(is_current=True).first()
    first, second = (c["value"] for c in campaign.answer_choices[:2])
    acknowledgement_record(recipient=recipient, content=content, answer=first)
    acknowledgement_record(recipient=recipient, content=content, answer=second)
    changed = Event.objects.get(type="recipient.answer_changed")
    assert changed.data["answer"] == second


def test_an_acknowledgement_rolled_back_leaves_no_event():
    campaign, (recipient,) = launched()
    content = campaign.contents.filter(is_current=True).first()
    with pytest.raises(RuntimeError), transaction.atomic():
        acknowledgement_record(recipient=recipient, content=content)
        raise RuntimeError
    assert "recipient.acknowledged" not in _types()


def test_a_bounce_emits_delivery_failed():
    campaign, (recipient,) = launched()
    step = campaign.steps.first()
    Delivery.objects.create(
        step=step,
        recipient=recipient,
        to_email=recipient.email,
        status=DeliveryStatus.SENT,
        esp_message_id="m-1",
    )
    delivery_event_apply(message_id="m-1", status=DeliveryStatus.BOUNCED, hard=True)
    event = Event.objects.get(type="delivery.failed")
    assert event.data["status"] == "bounced"
    assert event.data["reference"] == campaign.reference
    assert "email" not in event.data


def test_an_import_emits_completed_or_failed():
    good = b"email,first_name,last_name,language\na@example.com,A,B,fr\n"
    run_import(io.BytesIO(good))
    bad = b"email,first_name,last_name,language\nnot-an-address,A,B,fr\n"
    run_import(io.BytesIO(bad))
    run_import(io.BytesIO(good), dry_run=True)
    completed, failed = (
        Event.objects.get(type=t) for t in ("import.completed", "import.failed")
    )
    assert completed.data["created"] == 1
    assert failed.data["error_count"] == 1
    assert len(_types()) == 2


def test_a_step_done_sends_step_sent_with_counts_then_campaign_finished():
    from django.utils import timezone

    from notifications.delivery.dispatch import campaigns_finish
    from notifications.models import CampaignStatus, StepStatus

    campaign, recipients = launched(employees=3)
    campaign.steps.exclude(kind="first").update(status=StepStatus.SKIPPED)
    step = campaign.steps.get(kind="first")
    for recipient, status in zip(recipients, ("sent", "sent", "bounced"), strict=True):
        Delivery.objects.create(step=step, recipient=recipient, status=status)
    step.status = StepStatus.DONE
    step.save()
    campaign.status = CampaignStatus.RUNNING
    campaign.save()
    campaigns_finish(now=timezone.now())
    campaigns_finish(now=timezone.now())
    sent = Event.objects.get(type="step.sent")
    assert sent.data["counts"] == {"sent": 2, "bounced": 1}
    assert sent.data["step_id"] == step.pk
    finished = Event.objects.get(type="campaign.finished")
    assert finished.data["campaign_id"] == campaign.pk


def test_a_built_evidence_bundle_emits_evidence_ready(settings, tmp_path):
    from console.bundle.jobs import bundle_request
    from tests.evidence_factories import campaign_sent
    from tests.factories import dpo_make

    settings.VAR_DIR = tmp_path
    settings.EVIDENCE_TSA_URL = ""
    campaign = campaign_sent().campaign
    job, queued = bundle_request(campaign=campaign, user=dpo_make())
    assert not queued
    job.refresh_from_db()
    ready = Event.objects.get(type="evidence.ready")
    assert ready.data["campaign_id"] == campaign.pk
    assert ready.data["sha256"] == job.sha256
    assert "email" not in str(ready.data)


@pytest.mark.parametrize(
    ("error", "attempts", "status"),
    [
        (smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no")}), 1, "rejected"),
        (smtplib.SMTPServerDisconnected("gone"), 99, "failed"),  # gave up
    ],
)
def test_our_own_send_failures_emit_delivery_failed(error, attempts, status):
    from notifications.delivery import claim

    campaign, (recipient,) = launched()
    row = Delivery.objects.create(
        step=campaign.steps.first(),
        recipient=recipient,
        to_email=recipient.email,
        status=DeliveryStatus.SENDING,
        attempts=attempts,
    )
    claim._on_error([row], error, claim.SendReport())
    row.refresh_from_db()
    assert row.status == status
    [event] = Event.objects.filter(type="delivery.failed")
    assert event.data["delivery_id"] == row.pk and event.data["status"] == status
