"""The sending pipeline end to end with real services.

A real Celery worker process on Redis, the test database (SQLite file or
PostgreSQL), a real aiosmtpd SMTP server or a fake Postmark API on loopback.
The test plays Celery beat: it sends the `notifications.dispatch` task by name,
as beat does, every half second.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from employees.models import Employee
from notifications.campaigns import services
from notifications.models import Delivery, DeliveryStatus, Recipient, Step, StepKind
from tests.campaign_factories import campaign_make
from tests.fake_esp import FakePostmark, SmtpSink
from tests.workers import beat_until, sending_worker

pytestmark = [pytest.mark.worker, pytest.mark.redis]


def staff(n: int) -> None:
    Employee.objects.bulk_create(
        Employee(
            email=f"person{i}@example.com",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            language="fr" if i % 2 else "en",
        )
        for i in range(n)
    )


def launched(n: int):
    staff(n)
    campaign = campaign_make(
        name=f"Integration {uuid.uuid4().hex[:6]}",
        deadline=timezone.now() + timedelta(days=10),
        window=services.WindowSpec(enabled=False),
    )
    services.campaign_launch(campaign=campaign)
    return campaign


def emails(campaign, **filters) -> list[str]:
    return sorted(campaign.recipients.filter(**filters).values_list("email", flat=True))


def settled(step_kind: str) -> Callable[[], bool]:
    def check() -> bool:
        rows = Delivery.objects.filter(step__kind=step_kind)
        return (
            rows.exists()
            and not rows.filter(
                status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
            ).exists()
        )

    return check


@pytest.mark.usefixtures("transactional_db")
def test_it_delivers_the_first_step_once_to_500_then_reminds_only_the_unacknowledged():
    campaign = launched(500)
    with SmtpSink() as sink, sending_worker(sink.env()) as w:
        assert beat_until(w, settled(StepKind.FIRST), timeout=120), w.log[-3000:]
        first = Counter(sink.addresses())
        assert sorted(first) == emails(campaign)
        assert set(first.values()) == {1}  # exactly once each

        acked = campaign.recipients.order_by("id")[:150].values_list("id", flat=True)
        Recipient.objects.filter(id__in=list(acked)).update(
            acknowledged_at=timezone.now()
        )
        Step.objects.filter(campaign=campaign, kind=StepKind.REMINDER).update(
            due_at=timezone.now()
        )
        assert beat_until(w, settled(StepKind.REMINDER), timeout=120), w.log[-3000:]
    reminders = Counter(sink.addresses()[500:])
    assert sorted(reminders) == emails(campaign, acknowledged_at__isnull=True)
    assert len(reminders) == 350 and set(reminders.values()) == {1}
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 850


@pytest.mark.usefixtures("transactional_db")
def test_it_loses_nothing_when_the_worker_is_killed_halfway():
    campaign = launched(500)
    slow = {"EMAIL_RATE_LIMIT": "100"}  # about 5 s for 500: time to kill it
    with SmtpSink() as sink:
        with sending_worker({**sink.env(), **slow}, pool="prefork", concurrency=2) as w:
            beat_until(w, lambda: sink.count >= 200, timeout=60)
            w.kill()  # SIGKILL to the worker and its pool children
            w.process.wait(timeout=10)
        at_kill = sink.count
        assert at_kill < 500
        with sending_worker({**sink.env(), **slow}, pool="prefork", concurrency=2) as w:
            assert beat_until(w, settled(StepKind.FIRST), timeout=120), w.log[-3000:]
    received = Counter(sink.addresses())
    assert sorted(received) == emails(campaign)  # everyone got it
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= 2  # at most the one in flight in each pool child
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 500


@pytest.mark.usefixtures("transactional_db")
def test_it_delivers_everything_after_the_smtp_server_refused_for_30_seconds():
    campaign = launched(60)
    sink = SmtpSink()  # not listening yet: connections are refused
    with sending_worker(sink.env()) as w:
        started = time.monotonic()
        beat_until(w, lambda: time.monotonic() - started > 30, timeout=31)
        assert not sink.count
        retried = Delivery.objects.filter(attempts__gte=2).count()
        errors = set(Delivery.objects.values_list("last_error", flat=True))
        with sink:
            assert beat_until(w, settled(StepKind.FIRST), timeout=60), w.log[-3000:]
    assert retried > 0
    received = Counter(sink.addresses())
    assert sorted(received) == emails(campaign) and set(received.values()) == {1}
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 60
    assert any("refused" in error.lower() for error in errors)


@pytest.mark.usefixtures("transactional_db")
def test_it_retries_an_esp_that_answers_429_then_sends_everything_in_batches():
    campaign = launched(120)
    with (
        FakePostmark(fail_first=2) as fake,
        sending_worker({**fake.env(), "EMAIL_BATCH_SIZE": "50"}) as w,
    ):
        assert beat_until(w, settled(StepKind.FIRST), timeout=60), w.log[-3000:]
    received = Counter(fake.addresses())
    assert sorted(received) == emails(campaign) and set(received.values()) == {1}
    assert fake.failures == 2 and fake.calls <= 2 + 120 / 50 + 1
    rows = Delivery.objects.all()
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert all(r.esp_message_id for r in rows)
    assert rows.filter(attempts__gte=2).exists()
