"""Benchmark: recovery from faults in the middle of a step, default settings.

For each fault, a fresh database, a throwaway redis-server (no persistence),
one real Celery worker (prefork, 2 processes), a real ``celery beat`` at its
default interval (DISPATCH_INTERVAL) and an aiosmtpd sink on loopback; no
SEND_* variable is set, so the defaults are what is measured. The campaign's
first step goes to ``--recipients`` people; when ``--at`` messages have
arrived the fault is injected:

- ``kill``: SIGKILL to the worker's main process and pool children, a new
  worker started 2 s later;
- ``flush``: FLUSHALL on the broker;
- ``restart``: the broker killed and started again 1 s later, empty;
- ``database``: every connection to the database ended
  (pg_terminate_backend) and new ones refused for 3 s (PostgreSQL only);
- ``two-beats``: no fault, but two ``celery beat`` processes from the start.

Prints, per fault: seconds from the fault to the last recipient reached,
recipients reached, duplicates, and the messages in flight at the fault
(accepted by the SMTP server, not yet recorded as sent in the database:
sampled, the two counts are read a moment apart, so it may read one low;
the bound is one per worker process).

    .venv/bin/python bench/bench_faults.py --database-url postgres://postgres@127.0.0.1:5432/bench_faults

The machine may be shared: the send rate varies, the recovery times are set
by the timeouts and the tick and vary by up to a tick (20 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import campaign_launched, fresh_database  # noqa: E402

FAULTS = ("kill", "flush", "restart", "database", "two-beats")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument(
        "--at", type=int, default=1000, help="messages before the fault"
    )
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--timeout", type=float, default=400.0)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_faults"
    )
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.sending_settings"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("SITE_URL", "https://notify.example.com")
    for name in list(os.environ):
        if name.startswith("SEND_") or name in (
            "DISPATCH_INTERVAL",
            "EMAIL_RATE_LIMIT",
        ):
            del os.environ[name]  # the defaults are what is measured

    import logging

    import django

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    django.setup()
    from config.celery import DISPATCH_INTERVAL

    print(
        f"{args.recipients} recipients, fault at {args.at} delivered, "
        f"beat every {DISPATCH_INTERVAL:g}s, default SEND_* settings"
    )
    for fault in args.faults.split(","):
        result = run(fault, args)
        print(
            f"{fault:>9}: last recipient {result['recovery']:.1f}s after the fault, "
            f"reached {result['reached']}/{args.recipients}, "
            f"duplicates {result['duplicates']}, in flight at fault "
            f"{result['in_flight']}, total {result['total']:.1f}s",
            flush=True,
        )


@contextmanager
def beat(env: dict[str, str], log_dir: Path):
    """A real `celery beat`, its own schedule file, stopped on exit."""
    name = uuid.uuid4().hex[:8]
    log = (log_dir / f"beat-{name}.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(log_dir / f"beat-{name}.schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()


def _campaign(recipients: int) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    campaign_launched(recipients, name="Faults")


def _database_outage(url: str, seconds: float) -> None:
    from urllib.parse import urlparse

    import psycopg
    from django.db import connection

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
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
    connection.close()


def _sent_rows() -> int:
    from django.db import connection

    from notifications.models import Delivery, DeliveryStatus

    for _ in range(50):
        try:
            return Delivery.objects.filter(status=DeliveryStatus.SENT).count()
        except Exception:  # the bench's own connection was ended: again
            connection.close()
            time.sleep(0.1)
    raise RuntimeError("database unreachable")


def run(fault: str, args: argparse.Namespace) -> dict[str, float | int]:
    from django.db import connection

    from tests.fake_esp import SmtpSink
    from tests.services import RedisThrowaway
    from tests.workers import celery_worker

    connection.close()
    fresh_database(args.database_url)
    _campaign(args.recipients)
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-faults-{fault}-"))
    with ExitStack() as stack:
        redis = stack.enter_context(RedisThrowaway())
        sink = stack.enter_context(SmtpSink())
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = {
            "DATABASE_URL": args.database_url,
            "DJANGO_SETTINGS_MODULE": "tests.sending_settings",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "LOG_LEVEL": "WARNING",
            "DATABASE_CONN_MAX_AGE": "60",
            **sink.env(),
        }

        def worker():
            return celery_worker(
                broker_url=redis.url,
                queue=queue,
                env=env,
                pool="prefork",
                concurrency=2,
                ready_timeout=60,
                log_dir=log_dir,
            )

        current = stack.enter_context(ExitStack())
        w = current.enter_context(worker())
        beat_env = {
            **os.environ,
            **env,
            "CELERY_BROKER_URL": redis.url,
            "CELERY_RESULT_BACKEND": redis.url,
        }
        started = time.monotonic()
        stack.enter_context(beat(beat_env, log_dir))
        if fault == "two-beats":
            stack.enter_context(beat(beat_env, log_dir))
        while sink.count < args.at:
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"no {args.at} messages: see {log_dir}")
            time.sleep(0.01)
        fault_at = time.monotonic()
        in_flight = sink.count - _sent_rows()
        if fault == "kill":
            w.kill()
            w.process.wait(timeout=10)
            current.close()
            time.sleep(2)
            current = stack.enter_context(ExitStack())
            w = current.enter_context(worker())
        elif fault == "flush":
            redis.flushall()
        elif fault == "restart":
            redis.kill()
            time.sleep(1)
            redis.start()
        elif fault == "database":
            _database_outage(args.database_url, 3.0)
        last, last_at = sink.count, time.monotonic()
        while len(set(sink.addresses())) < args.recipients:
            if time.monotonic() - fault_at > args.timeout:
                print(f"  gave up: logs in {log_dir}")
                break
            if sink.count != last:
                last, last_at = sink.count, time.monotonic()
            time.sleep(0.02)
        if sink.count != last:
            last_at = time.monotonic()
        received = Counter(sink.addresses())
        return {
            "recovery": last_at - fault_at,
            "reached": len(received),
            "duplicates": sum(n - 1 for n in received.values()),
            "in_flight": max(0, in_flight),
            "total": last_at - started,
        }


if __name__ == "__main__":
    main()
