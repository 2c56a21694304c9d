"""Faults while a step is being sent, with real services.

A real Celery worker process, a real broker (Redis: the shared one, or a
throwaway redis-server of the test's own that it flushes, kills and
restarts), the real test database (PostgreSQL for the outage test) and a real
aiosmtpd sink. The test plays Celery beat by sending the dispatcher's tick.
Timeouts are shortened through the worker's environment (tests/workers.FAST:
claim timeout and lease of 3 s, a tick every half second); the defaults are
measured by bench/bench_faults.py.

Each test says who was reached, how often (duplicates at most the messages
in flight at the fault: one per pool process), and how long it took from
the fault to the last recipient.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications.delivery import dispatch
from notifications.models import Delivery, DeliveryStatus, Step, StepKind
from tests.fake_esp import SmtpSink
from tests.notifications.delivery.test_sending_integration import (
    emails,
    launched,
    settled,
)
from tests.services import RedisThrowaway
from tests.workers import beat_through, beat_until, sending_worker

pytestmark = [pytest.mark.worker, pytest.mark.redis]

PEOPLE = 300
SLOW = {"EMAIL_RATE_LIMIT": "100"}  # about 3 s for 300: time for a fault
TWO = {"pool": "prefork", "concurrency": 2}


def _reached_once_each(sink: SmtpSink, campaign, *, in_flight: int) -> int:
    received = Counter(sink.addresses())
    assert sorted(received) == emails(campaign)  # nobody lost
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= in_flight
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == PEOPLE
    return duplicates


def _last_arrival_after(sink: SmtpSink, fault: float) -> float:
    return sink.last_at - fault


def _watch(sink: SmtpSink) -> None:
    """Stamp the sink with the time of its last message (monotonic)."""
    sink.last_at = time.monotonic()
    count = sink.count

    def follow() -> None:
        nonlocal count
        while getattr(sink, "watching", True):
            if sink.count != count:
                count, sink.last_at = sink.count, time.monotonic()
            time.sleep(0.02)

    threading.Thread(target=follow, daemon=True).start()


@pytest.mark.usefixtures("transactional_db")
def test_it_reaches_everyone_soon_after_the_worker_and_its_pool_are_killed():
    campaign = launched(PEOPLE)
    with SmtpSink() as sink:
        _watch(sink)
        with sending_worker({**sink.env(), **SLOW}, **TWO) as w:
            beat_until(w, lambda: sink.count >= 100, timeout=60)
            w.kill()  # SIGKILL to the main process and the pool children
            fault = time.monotonic()
            w.process.wait(timeout=10)
        assert sink.count < PEOPLE
        with sending_worker({**sink.env(), **SLOW}, **TWO) as w:
            assert beat_until(w, settled(StepKind.FIRST), timeout=60), w.log[-3000:]
        sink.watching = False
    _reached_once_each(sink, campaign, in_flight=2)
    # Claim timeout 3 s + a tick + a new worker's start + 2 s of sending.
    assert _last_arrival_after(sink, fault) < 30


@pytest.mark.usefixtures("transactional_db")
def test_it_reaches_everyone_soon_after_the_broker_is_flushed():
    campaign = launched(PEOPLE)
    with RedisThrowaway() as redis, SmtpSink() as sink:
        _watch(sink)
        with sending_worker({**sink.env(), **SLOW}, broker_url=redis.url, **TWO) as w:
            beat_until(w, lambda: sink.count >= 100, timeout=60)
            redis.flushall()  # every chunk waiting in the queue is gone
            fault = time.monotonic()
            assert beat_through(w, settled(StepKind.FIRST), timeout=60), w.log[-3000:]
        sink.watching = False
    assert sink.count - len(set(sink.addresses())) == 0
    _reached_once_each(sink, campaign, in_flight=2)
    assert _last_arrival_after(sink, fault) < 30


@pytest.mark.usefixtures("transactional_db")
def test_it_reaches_everyone_soon_after_the_broker_restarts_without_persistence():
    campaign = launched(PEOPLE)
    with RedisThrowaway() as redis, SmtpSink() as sink:
        _watch(sink)
        with sending_worker({**sink.env(), **SLOW}, broker_url=redis.url, **TWO) as w:
            beat_until(w, lambda: sink.count >= 100, timeout=60)
            redis.kill()
            fault = time.monotonic()
            time.sleep(1)
            redis.start()  # empty: no queue, no binding, no unacked message
            assert beat_through(w, settled(StepKind.FIRST), timeout=60), w.log[-3000:]
        sink.watching = False
    _reached_once_each(sink, campaign, in_flight=2)
    assert _last_arrival_after(sink, fault) < 40


def _database_outage(seconds: float) -> None:
    """End every connection to the test database and refuse new ones a while.

    From the maintenance database: PostgreSQL does not let a session refuse
    connections to its own database.
    """
    import psycopg

    db = connection.settings_dict
    name = db["NAME"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            time.sleep(seconds)
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    connection.close()  # the test's own connection was ended too


@pytest.mark.postgres
@pytest.mark.usefixtures("transactional_db")
def test_it_rides_out_a_database_outage_and_records_what_the_server_accepted():
    campaign = launched(PEOPLE)
    with SmtpSink() as sink:
        _watch(sink)
        with sending_worker({**sink.env(), **SLOW}, **TWO) as w:
            beat_until(w, lambda: sink.count >= 100, timeout=60)
            fault = time.monotonic()
            _database_outage(2.0)
            assert beat_until(w, settled(StepKind.FIRST), timeout=60), w.log[-3000:]
            log = w.log
        sink.watching = False
    assert "database unavailable" in log  # the worker waited for it
    assert "raised unexpected" not in log  # no task failed, no message lost
    # Nothing the server accepted was forgotten, so nothing went out twice.
    assert _reached_once_each(sink, campaign, in_flight=2) == 0
    assert _last_arrival_after(sink, fault) < 20


@pytest.mark.usefixtures("transactional_db")
def test_two_beats_at_once_send_nothing_twice():
    campaign = launched(PEOPLE)
    with SmtpSink() as sink:
        with sending_worker({**sink.env(), **SLOW}, **TWO) as w:
            # Beats by mistake: a tick every 0.1 s, the pool runs two at once
            # (and beside the chunks), all the way through the step.
            done = beat_through(w, settled(StepKind.FIRST), timeout=60, every=0.1)
            assert done, w.log[-3000:]
    received = Counter(sink.addresses())
    assert sorted(received) == emails(campaign)
    assert set(received.values()) == {1}


@pytest.mark.postgres
@pytest.mark.usefixtures("transactional_db")
def test_two_dispatcher_ticks_at_once_create_and_enqueue_each_row_once():
    launched(PEOPLE)
    Step.objects.filter(kind=StepKind.FIRST).update(due_at=timezone.now())
    enqueued: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def tick() -> None:
        try:
            start.wait()
            dispatch.dispatch_tick(enqueue=enqueued.append, waiting=lambda: 1)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    ids = [pk for chunk in enqueued for pk in chunk]
    assert len(ids) == len(set(ids)) == PEOPLE
    assert Delivery.objects.count() == PEOPLE


@pytest.mark.usefixtures("db")
def test_it_renews_leases_while_the_broker_holds_chunks_but_not_backoffs():
    launched(3)
    dispatch.dispatch_tick(enqueue=lambda _chunk: None)
    now = timezone.now()
    leased, backoff, _fresh = Delivery.objects.order_by("id")
    Delivery.objects.filter(pk=leased.pk).update(
        next_attempt_at=now + timedelta(seconds=5), claimed_at=now
    )
    Delivery.objects.filter(pk=backoff.pk).update(
        next_attempt_at=now + timedelta(seconds=5), claimed_at=None
    )
    assert dispatch.leases_renew(waiting=0, now=now) == 0
    assert dispatch.leases_renew(waiting=None, now=now) == 0
    assert dispatch.leases_renew(waiting=3, now=now) == 1
    leased.refresh_from_db()
    backoff.refresh_from_db()
    assert leased.next_attempt_at == now + timedelta(seconds=60)
    assert backoff.next_attempt_at == now + timedelta(seconds=5)
