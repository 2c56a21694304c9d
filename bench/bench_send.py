"""Benchmark: one 20,000-recipient step, end to end.

dispatcher tick (this process) → Redis → N real Celery worker processes →
an aiosmtpd sink on loopback (``--mode smtp``), or anymail batch sending to a
Postmark-shaped fake API on loopback (``--mode esp``). Prints messages/s from
the tick to the last message received, and SQL queries per 1,000 messages for
the dispatcher (measured on the tick) and for the sender (measured on one
chunk sent in this process before the workers take the rest).

    .venv/bin/python bench/bench_send.py --mode smtp
    .venv/bin/python bench/bench_send.py --mode esp
    .venv/bin/python bench/bench_send.py --database-url postgres://postgres@127.0.0.1:5432/bench_send

CPU is reported too (the machine may be shared, so wall-clock figures vary):
CPU-seconds per 1,000 messages in the worker processes (main + pool children,
read from /proc) and in this process, which runs the SMTP sink or fake ESP in a
thread and so competes with the workers for the same cores.

Needs Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379/15). The database
is created afresh: a SQLite file under /tmp by default, or the PostgreSQL
database named in --database-url (dropped and re-created).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    campaign_launched,
    cpu_by_pid,
    cpu_delta,
    fresh_database,
)


def _cpu_seconds(process_group: int) -> float:
    """CPU of every live process in a process group (a worker and its pool)."""
    return sum(cpu_by_pid(lambda _command, group: group == process_group).values())


def _cpu_of(command: str) -> dict[int, float]:
    return cpu_by_pid(lambda name, _group: name == command)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("smtp", "esp"), default="smtp")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100, help="SMTP chunk size")
    parser.add_argument("--batch", type=int, default=500, help="ESP per-call limit")
    parser.add_argument("--database-url", default="sqlite:////tmp/bench_send.sqlite3")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.sending_settings"
    # Workers as in production: DEBUG off (no query log kept per connection).
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("SITE_URL", "https://notify.example.com")
    os.environ["SEND_CHUNK_SIZE"] = str(args.chunk)
    os.environ["EMAIL_BATCH_SIZE"] = str(args.batch)
    fresh_database(args.database_url)

    import logging

    import django

    # aiosmtpd logs every SMTP command at INFO: that alone would cap the sink.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    from tests.fake_esp import FakePostmark, SmtpSink

    with ExitStack() as stack:
        if args.mode == "smtp":
            target = stack.enter_context(SmtpSink(keep_messages=False))
        else:
            target = stack.enter_context(FakePostmark(keep_messages=False))
        os.environ.update(target.env())
        django.setup()
        run(args, target, stack)


def run(args: argparse.Namespace, target: object, stack: ExitStack) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.delivery import dispatch, send
    from notifications.models import Delivery, DeliveryStatus
    from tests.services import REDIS_URL
    from tests.workers import celery_worker, client_app

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    campaign_launched(args.recipients, name="Bench")
    print(
        f"setup: {args.recipients} employees enrolled in "
        f"{time.perf_counter() - started:.1f}s ({connection.vendor})"
    )

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "tests.sending_settings",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
        # As the README's production settings: connections kept between tasks.
        "DATABASE_CONN_MAX_AGE": "60",
        **target.env(),
        "SEND_CHUNK_SIZE": str(args.chunk),
        "EMAIL_BATCH_SIZE": str(args.batch),
    }
    workers = [
        stack.enter_context(
            celery_worker(
                broker_url=REDIS_URL,
                queue=queue,
                env=env,
                pool="prefork",
                concurrency=args.concurrency,
                ready_timeout=60,
            )
        )
        for _ in range(args.workers)
    ]
    app = client_app(workers[0])

    chunks: list[list[int]] = []
    with CaptureQueriesContext(connection) as tick_queries:
        dispatch.dispatch_tick(enqueue=chunks.append)
    # One chunk sent here, to count the sender's queries; the rest to workers.
    with CaptureQueriesContext(connection) as send_queries:
        sample = send.deliveries_send(chunks[0])
    expected = args.recipients - sample.sent
    base = target.count
    worker_cpu = sum(_cpu_seconds(w.process.pid) for w in workers)
    own_cpu = _own_cpu_seconds()
    servers = ("postgres", "redis-server")
    server_cpu = {name: _cpu_of(name) for name in servers}
    start = time.perf_counter()
    for chunk in chunks[1:]:
        app.send_task("notifications.send_chunk", args=[chunk], queue=queue)
    last_count, last_change = base, time.perf_counter()
    while target.count - base < expected:
        time.sleep(0.05)
        if target.count != last_count:
            last_count, last_change = target.count, time.perf_counter()
        elif time.perf_counter() - last_change > 30:
            print(f"stalled at {target.count - base}/{expected}")
            break
    elapsed = time.perf_counter() - start
    sent = target.count - base
    worker_cpu = sum(_cpu_seconds(w.process.pid) for w in workers) - worker_cpu
    own_cpu = _own_cpu_seconds() - own_cpu
    server_cpu = {name: cpu_delta(server_cpu[name], _cpu_of(name)) for name in servers}
    # The workers record each result after the server accepted it: wait for
    # the database to agree, and report that time too (end to end).
    rows = Delivery.objects.filter(status=DeliveryStatus.SENT)
    while rows.count() < args.recipients and time.perf_counter() - start < elapsed + 30:
        time.sleep(0.05)
    recorded_after = time.perf_counter() - start
    recorded = rows.count()
    print(
        f"{args.mode}: {sent} messages in {elapsed:.2f}s = {sent / elapsed:,.0f} msg/s "
        f"({args.workers} worker(s) x {args.concurrency} processes, "
        f"chunk {args.batch if args.mode == 'esp' else args.chunk})"
    )
    print(
        f"recorded as sent in the database: {recorded}/{args.recipients} "
        f"after {recorded_after:.2f}s = {(recorded - sample.sent) / recorded_after:,.0f} msg/s"
    )
    print(
        f"CPU per 1,000 messages: workers {1000 * worker_cpu / max(1, sent):.2f} s, "
        f"this process (the {'SMTP sink' if args.mode == 'smtp' else 'fake ESP'} "
        f"and polling) {1000 * own_cpu / max(1, sent):.2f} s "
        f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
    )
    print(
        "CPU per 1,000 messages in the servers (when local): "
        + ", ".join(
            f"{name} {1000 * cpu / max(1, sent):.2f} s"
            for name, cpu in server_cpu.items()
        )
    )
    print(
        f"dispatcher: {len(tick_queries)} queries for {args.recipients} deliveries "
        f"= {1000 * len(tick_queries) / args.recipients:.2f} per 1,000"
    )
    print(
        f"sender: {len(send_queries)} queries for a chunk of {sample.sent} "
        f"= {1000 * len(send_queries) / max(1, sample.sent):.0f} per 1,000"
    )


if __name__ == "__main__":
    main()
