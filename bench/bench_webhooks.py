"""Webhook benchmark: recipient.acknowledged webhooks to a local receiver, and
what webhooks add to the acknowledgement POST.

    .venv/bin/python bench/bench_webhooks.py [--acks 10000] [--samples 600 (per mode)]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_webhooks]
        [--broker-url redis://127.0.0.1:6379/9]

1. Latency: POST /a/<token>/ (a first acknowledgement, through Django's
   full stack in this process) with an endpoint listening to
   recipient.acknowledged ("on": the outbox row in the same transaction and
   the worker's nudge on Redis after commit) and without ("off"), in
   alternating blocks; p50, p90 and the ratio on/off. Target: under 10 %
   more. No webhook is sent inside the request: no worker runs meanwhile.
2. Throughput: ``--acks`` acknowledgements recorded (the events written
   to the outbox), then the worker's own loop (events.delivering,
   in this process, WEBHOOK_CONCURRENCY threads) sends their signed
   webhooks to a local HTTP receiver. Reference: the same number of bare
   POSTs to the same receiver with the same threads (no database, no
   signature). Target: 500 webhooks/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import campaign_launched, fresh_database  # noqa: E402


def _setup(database_url: str, broker_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "ACK_RATE_LIMIT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    fresh_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # "testserver" allowed; no e-mail leaves
    call_command("migrate", verbosity=0)


def _post_form(campaign) -> dict:  # type: ignore[no-untyped-def]
    content = campaign.contents.get(language="fr", is_current=True)
    return {
        "confirm": "on",
        "content": str(content.pk),
        "answer": campaign.answer_choices[0]["value"],
    }


def _latency(campaign, recipients, samples: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    from django.test import Client

    from events.models import WebhookEndpoint
    from events.outbox import forget_subscriptions
    from notifications.campaigns.services import recipient_token

    client = Client()
    form = _post_form(campaign)
    timings: dict[str, list[float]] = {"off": [], "on": []}
    block = max(samples // 20, 1)
    people = iter(recipients)
    for _ in range(0, samples, block):
        for mode in ("off", "on"):
            WebhookEndpoint.objects.update(enabled=mode == "on")
            forget_subscriptions()
            for _n in range(block):
                link = f"/a/{recipient_token(next(people))}/"
                started = time.perf_counter()
                answer = client.post(link, form)
                timings[mode].append(time.perf_counter() - started)
                assert answer.status_code in (200, 302), answer.status_code
    return timings


def _reference(url: str, count: int, threads: int) -> float:
    import urllib3

    pool = urllib3.PoolManager(maxsize=threads)
    body = b'{"type":"recipient.acknowledged","data":{}}'

    def one(_i: int) -> int:
        return pool.request("POST", url, body=body).status

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(one, range(count)))
    return count / (time.perf_counter() - started)


def _throughput(campaign, recipients, receiver) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    from events.delivering import deliver_pending
    from events.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
    from events.outbox import forget_subscriptions
    from notifications.acknowledgements.services import acknowledgement_record

    Event.objects.all().delete()
    WebhookEndpoint.objects.update(enabled=True)
    forget_subscriptions()
    content = campaign.contents.get(language="fr", is_current=True)
    started = time.perf_counter()
    for recipient in recipients:
        acknowledgement_record(recipient=recipient, content=content)
    recorded = time.perf_counter() - started
    count = Event.objects.count()
    before = len(receiver.requests)
    started = time.perf_counter()
    while (
        WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() < count
        or Event.objects.filter(fanned_out=False).exists()
    ):
        deliver_pending(linger=0.0, max_seconds=120)
    sent = time.perf_counter() - started
    assert len(receiver.handled) >= count and len(receiver.requests) - before >= count
    return count / recorded, count / sent, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--acks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_webhooks"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    _setup(args.database_url, args.broker_url)

    from django.conf import settings

    from config.celery import app
    from events.services import endpoint_create
    from notifications.models import Recipient
    from tests.events.receiver import Receiver

    # The nudges go to a queue no worker reads: nothing is sent meanwhile.
    app.conf.task_default_queue = "bench-webhooks-unread"
    campaign = campaign_launched(args.acks + 2 * args.samples, name="Bench webhooks")
    recipients = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    with Receiver() as receiver:
        endpoint_create(
            url=receiver.url, events=["recipient.acknowledged"], actor="bench"
        )
        timings = _latency(campaign, recipients[: 2 * args.samples], args.samples)
        rate_ack, rate_hooks, count = _throughput(
            campaign, recipients[2 * args.samples :], receiver
        )
        reference = _reference(receiver.url, count, settings.WEBHOOK_CONCURRENCY)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("bench-webhooks-unread")

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))] * 1000

    off, on = timings["off"], timings["on"]
    print(f"acknowledgement POST, {len(off)} each, p50 / p90 / mean (ms):")
    for name, values in (("webhooks off", off), ("webhooks on", on)):
        print(
            f"  {name:<13} {pct(values, 0.5):6.2f} / {pct(values, 0.9):6.2f} / "
            f"{statistics.mean(values) * 1000:6.2f}"
        )
    ratio = statistics.median(on) / statistics.median(off)
    print(
        f"  on / off (p50): {ratio:.3f}  (target < 1.10: {'met' if ratio < 1.10 else 'MISSED'})"
    )
    print(f"{count} acknowledgements recorded at {rate_ack:,.0f}/s")
    print(
        f"webhooks delivered: {rate_hooks:,.0f}/s (target 500/s: "
        f"{'met' if rate_hooks >= 500 else 'MISSED'})"
    )
    print(f"reference, bare POSTs to the same receiver: {reference:,.0f}/s")
    print(f"  webhooks / reference: {rate_hooks / reference:.2f}")


if __name__ == "__main__":
    main()
