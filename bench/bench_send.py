"""Benchmark: a 20,000-recipient step, end to end, beside a plain reference.

Each figure is timed from the dispatcher's tick (this process: the step's
Delivery rows created and leased, the chunks handed to Redis) to the last
message received by the sink, through N real Celery worker processes: an
aiosmtpd sink on loopback (``--mode smtp``), or anymail batch sending to a
Postmark-shaped fake API on loopback (``--mode esp``), served from a process
of its own (bench.common.SinkApart). The sink counts what it received; the
line of each figure says how many of how many arrived, and that the
database recorded every one as sent.

In the same run, alternating, ``--rounds`` times:

- one language, one time zone (everyone in English, in the campaign's zone);
- ``--languages`` languages and ``--zones`` time zones (issue 14: 24 and 10,
  so 240 rendered prototypes instead of one);
- the plain reference, no database and no tick: in ``esp`` mode anymail
  batch calls of the same size with the same rendered texts, from as many
  processes as the worker has; in ``smtp`` mode one process sending the same
  messages with Django over one reused SMTP connection (as
  bench_smtp_reference.py).

Under each figure, the CPU seconds each party spent during it: the worker
processes (or the plain senders), PostgreSQL's and Redis's live processes,
the sink, and this process (the tick); at the end, the medians per message.
On 2 cores the ratio is one of CPU per message, and these lines say where
the project's extra goes.

Then the ratios, with the targets: end to end / plain reference (issue 19:
ESP at least 0.7, SMTP at least 0.85) and many languages and zones / one
(issue 14: at least 0.9). Absolute figures vary on a shared machine; the
ratios hold, and the load average is printed.

    .venv/bin/python bench/bench_send.py --mode esp
    .venv/bin/python bench/bench_send.py --mode smtp
    .venv/bin/python bench/bench_send.py --mode esp --slice-rows 1000000   # the step in one transaction
    .venv/bin/python bench/bench_send.py --database-url postgres://postgres@127.0.0.1:5432/bench_send

Needs PostgreSQL (the database named in --database-url is dropped and
re-created; a sqlite:/// URL works too) and Redis (TEST_REDIS_URL, default
redis://127.0.0.1:6379/15).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_by_pid, cpu_of, fresh_database  # noqa: E402

TEN_ZONES = (
    "Europe/Lisbon",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Warsaw",
    "Europe/Helsinki",
    "Europe/Athens",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Tokyo",
)
TOKEN = "Zq7BenchTokenMark7qZ"  # noqa: S105 (a marker, not a password)


@dataclass
class Figure:
    label: str
    expected: int
    received: int
    seconds: float
    recorded: int | None = None
    tick: float | None = None
    # CPU seconds by who spent them during the figure (_cpu_now).
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("smtp", "esp"), default="esp")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=100, help="SMTP chunk size")
    parser.add_argument("--batch", type=int, default=500, help="ESP per-call limit")
    parser.add_argument("--languages", type=int, default=24)
    parser.add_argument("--zones", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--slice-rows",
        type=int,
        help="recipients per slice of the tick (dispatch.SLICE_ROWS, 2,000); "
        "a number above --recipients writes the step in one transaction",
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_send"
    )
    parser.add_argument("--reference-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_child:
        reference_child(args.reference_child)
        return

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.sending_settings"
    # Workers as in production: DEBUG off (no query log kept per connection).
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("SITE_URL", "https://notify.example.com")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["SEND_CHUNK_SIZE"] = str(args.chunk)
    os.environ["EMAIL_BATCH_SIZE"] = str(args.batch)
    fresh_database(args.database_url)

    import logging

    import django

    from bench.common import SinkApart

    with ExitStack() as stack:
        # The sink in a process of its own, as a real ESP or relay is on
        # another machine: served from this one, it shared the GIL with the
        # dispatcher's tick (SinkApart).
        target = stack.enter_context(SinkApart(args.mode))
        os.environ.update(target.env())
        django.setup()
        logging.getLogger("notifications").setLevel(logging.WARNING)
        run(args, target, stack)


def run(args: argparse.Namespace, target: object, stack: ExitStack) -> None:
    from django.core.management import call_command
    from django.db import connection

    from common.languages import EU_LANGUAGES
    from tests.services import REDIS_URL
    from tests.workers import celery_worker, client_app

    call_command("migrate", verbosity=0)
    if args.slice_rows:
        from notifications.delivery import dispatch

        dispatch.SLICE_ROWS = args.slice_rows
    languages = tuple(code for code, _name in EU_LANGUAGES)[: args.languages]
    zones = TEN_ZONES[: args.zones]
    started = time.perf_counter()
    n = args.recipients
    people = {
        "one": dict(languages=("en",), zones=(), country="One"),
        "many": dict(languages=languages, zones=zones, country="Many"),
    }
    for spec in people.values():
        _employees(n, **spec)
    print(
        f"setup: 2 x {n:,} employees in {time.perf_counter() - started:.1f}s "
        f"({connection.vendor}); {len(languages)} languages, {len(zones)} zones"
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
    _GROUPS.update(worker.process.pid for worker in workers)

    def enqueue(chunk: list[int]) -> None:
        app.send_task("notifications.send_chunk", args=[chunk], queue=queue)

    # A small campaign first: the workers load their code and connect.
    _employees(args.batch * 2, languages=("en",), zones=(), country="Warm")
    _end_to_end("warm-up", "Warm", target, enqueue, args.batch * 2, 0)

    figures: dict[str, list[Figure]] = {"one": [], "many": [], "plain": []}
    scenarios = {
        "one": ("one language, one zone", "One"),
        "many": (f"{len(languages)} languages x {len(zones)} zones", "Many"),
    }
    for round_ in range(args.rounds):
        # Alternating which goes first: the first run after a pause meets
        # PostgreSQL's autovacuum of the rows written before it.
        order = ("one", "many") if round_ % 2 == 0 else ("many", "one")
        for key in order:
            label, country = scenarios[key]
            figures[key].append(_end_to_end(label, country, target, enqueue, n, round_))
        figures["plain"].append(_reference(args, target, n))
    _report(args, figures, len(languages), len(zones))


def _employees(n: int, **spec: object) -> None:
    from employees.models import Employee

    languages, zones, country = spec["languages"], spec["zones"], spec["country"]
    Employee.objects.bulk_create(
        (
            Employee(
                email=f"person{i}@{country.lower()}.example.com",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                language=languages[i % len(languages)],
                time_zone=zones[i % len(zones)] if zones else "",
                country=country,
            )
            for i in range(n)
        ),
        batch_size=2000,
    )


# The workers' process groups (each its own, tests.workers.celery_worker).
_GROUPS: set[int] = set()


def _cpu_now(target: object) -> dict[str, float]:
    """CPU seconds so far of who takes part in a figure (live processes: a
    PostgreSQL backend that ended in between is not counted)."""
    return {
        "workers": sum(cpu_by_pid(lambda _c, group: group in _GROUPS).values()),
        "PostgreSQL": sum(cpu_by_pid(lambda c, _g: c == "postgres").values()),
        "Redis": sum(cpu_by_pid(lambda c, _g: c == "redis-server").values()),
        "sink": cpu_of(target.pid),
        "tick": sum(os.times()[:2]),  # this process: the tick, then waiting
    }


def _cpu_since(before: dict[str, float], target: object) -> dict[str, float]:
    after = _cpu_now(target)
    return {who: after[who] - before[who] for who in before}


def _cpu_text(cpu: dict[str, float]) -> str:
    parts = ", ".join(f"{who} {seconds:.2f}" for who, seconds in cpu.items())
    return f"CPU s: {parts}; {sum(cpu.values()):.2f} in all"


def _end_to_end(
    label: str, country: str, target: object, enqueue: object, n: int, round_: int
) -> Figure:
    """Launch a campaign for ``country``'s people; time from the tick to the
    last message received; check every one arrived and was recorded."""
    from bench.common import campaign_for
    from notifications.delivery import dispatch
    from notifications.models import Delivery, DeliveryStatus

    campaign = campaign_for(name=f"Bench {country} {round_}", country=country)
    base = target.count
    cpu = _cpu_now(target)
    start = time.perf_counter()
    report = dispatch.dispatch_tick(enqueue=enqueue)
    tick = time.perf_counter() - start
    received = _wait_for(target, base, n)
    elapsed = time.perf_counter() - start
    cpu = _cpu_since(cpu, target)
    rows = Delivery.objects.filter(step__campaign=campaign, status=DeliveryStatus.SENT)
    deadline = time.perf_counter() + 30
    while rows.count() < n and time.perf_counter() < deadline:
        time.sleep(0.05)
    figure = Figure(
        label, n, received, elapsed, recorded=rows.count(), tick=tick, cpu=cpu
    )
    if label != "warm-up":
        print(
            f"  {label}: {figure.received:,}/{n:,} received, "
            f"{figure.rate:,.0f} msg/s from the dispatcher's tick to the last "
            f"message received (tick {tick:.2f}s for {report.deliveries_created:,} "
            f"deliveries, {report.chunks} chunks; {figure.recorded:,} recorded as sent)"
        )
        print(f"    {_cpu_text(cpu)}")
    return figure


def _wait_for(target: object, base: int, expected: int) -> int:
    last_count, last_change = target.count, time.perf_counter()
    while target.count - base < expected:
        time.sleep(0.01)
        if target.count != last_count:
            last_count, last_change = target.count, time.perf_counter()
        elif time.perf_counter() - last_change > 30:
            print(f"  stalled at {target.count - base}/{expected}")
            break
    return target.count - base


# --- The plain reference ---------------------------------------------------------


def _reference(args: argparse.Namespace, target: object, n: int) -> Figure:
    """The same messages without the project: rendered texts of the campaign
    sent by plain anymail batch calls (esp) or over one reused SMTP
    connection (smtp), timed from "go" to the last message received."""
    message = _rendered_message()
    processes = args.concurrency * args.workers if args.mode == "esp" else 1
    shares = [
        n // processes + (1 if i < n % processes else 0) for i in range(processes)
    ]
    children = []
    first = 0
    for share in shares:
        spec = {
            "mode": args.mode,
            "env": target.env(),
            "first": first,
            "count": share,
            "batch": args.batch,
            "message": message,
        }
        first += share
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--reference-child", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for child in children:  # each says "ready" once Django is set up
        assert child.stdout.readline().strip() == "ready"
    base = target.count
    cpu = _cpu_now(target)
    start = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    received = _wait_for(target, base, n)
    elapsed = time.perf_counter() - start
    cpu = _cpu_since(cpu, target)
    # Each sender says what it spent from "go" (it has exited by now).
    cpu["workers"] = sum(
        float(child.communicate(timeout=60)[0].split()[-1]) for child in children
    )
    label = (
        f"plain anymail batch calls of {args.batch}, {processes} processes"
        if args.mode == "esp"
        else "plain Django script, one reused SMTP connection"
    )
    figure = Figure(label, n, received, elapsed, cpu=cpu)
    print(
        f"  {label} (no database, no tick): {received:,}/{n:,} received, "
        f"{figure.rate:,.0f} msg/s"
    )
    print(f"    {_cpu_text(cpu)} (workers: the plain senders)")
    return figure


def _rendered_message() -> dict[str, str]:
    """The campaign's English message as the project renders it, with a
    marker where each person's link goes."""
    from django.utils import timezone

    from notifications.campaigns import content as content_mod
    from notifications.models import Campaign

    campaign = Campaign.objects.order_by("-pk").first()
    content = campaign.contents.get(language="en", is_current=True)
    rendered = content_mod.message_render(
        campaign=campaign,
        content=content,
        kind="first",
        first_name="First",
        last_name="Last",
        token=TOKEN,
        now=timezone.now(),
    )
    return {
        "subject": rendered.subject,
        "text": rendered.body_text,
        "html": rendered.body_html,
        "from": content_mod.from_address(campaign),
    }


def reference_child(raw: str) -> None:
    """One plain sender process (--reference-child): no project code."""
    spec = json.loads(raw)
    env, message = spec["env"], spec["message"]
    from django.conf import settings

    if spec["mode"] == "esp":
        settings.configure(
            EMAIL_BACKEND=env["EMAIL_BACKEND"],
            ANYMAIL={
                "POSTMARK_SERVER_TOKEN": env["ANYMAIL_POSTMARK_SERVER_TOKEN"],
                "POSTMARK_API_URL": env["ANYMAIL_POSTMARK_API_URL"],
            },
        )
    else:
        settings.configure(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=env["EMAIL_HOST"],
            EMAIL_PORT=int(env["EMAIL_PORT"]),
            EMAIL_TIMEOUT=10,
        )
    import django

    django.setup()
    from django.core.mail import EmailMultiAlternatives, get_connection

    addresses = [
        f"plain{i}@reference.example.com"
        for i in range(spec["first"], spec["first"] + spec["count"])
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    connection = get_connection()
    connection.open()
    if spec["mode"] == "esp":
        for start in range(0, len(addresses), spec["batch"]):
            batch = addresses[start : start + spec["batch"]]
            email = EmailMultiAlternatives(from_email=message["from"], to=batch)
            email.template_id = env["EMAIL_BATCH_TEMPLATE"]
            email.merge_data = {
                to: {
                    "subject": message["subject"],
                    "body_text": message["text"].replace(TOKEN, to),
                    "body_html": message["html"].replace(TOKEN, to),
                }
                for to in batch
            }
            connection.send_messages([email])
    else:
        for to in addresses:
            email = EmailMultiAlternatives(
                subject=message["subject"],
                body=message["text"].replace(TOKEN, to),
                from_email=message["from"],
                to=[to],
                connection=connection,
            )
            email.attach_alternative(message["html"].replace(TOKEN, to), "text/html")
            email.send()
    connection.close()
    print(f"cpu {time.process_time() - cpu}", flush=True)


# --- Report ---------------------------------------------------------------------


def _per_message(figures: list[Figure]) -> str:
    """Median CPU microseconds a message, in all and by who spent them."""
    total = statistics.median(sum(f.cpu.values()) / f.expected for f in figures)
    parts = ", ".join(
        f"{who} {statistics.median(f.cpu[who] / f.expected for f in figures) * 1e6:.0f}"
        for who in figures[0].cpu
    )
    return f"{total * 1e6:.0f} µs ({parts})"


def _slicing(args: argparse.Namespace) -> str:
    """How the tick wrote each step (dispatch.SLICE_ROWS, PostgreSQL)."""
    from django.db import connection

    from notifications.delivery import dispatch

    if connection.vendor != "postgresql":
        return "each step in one transaction (SQLite)"
    if dispatch.SLICE_ROWS >= args.recipients:
        return "each step in one transaction"
    return f"each step in slices of {dispatch.SLICE_ROWS:,} people"


def _report(
    args: argparse.Namespace,
    figures: dict[str, list[Figure]],
    languages: int,
    zones: int,
) -> None:
    one = statistics.median(f.rate for f in figures["one"])
    many = statistics.median(f.rate for f in figures["many"])
    plain = statistics.median(f.rate for f in figures["plain"])
    complete = all(
        f.received == f.expected and (f.recorded is None or f.recorded == f.expected)
        for group in figures.values()
        for f in group
    )
    target = 0.7 if args.mode == "esp" else 0.85
    setup = (
        f"{args.workers} worker(s) x {args.concurrency} processes, "
        f"{'batch' if args.mode == 'esp' else 'chunk'} "
        f"{args.batch if args.mode == 'esp' else args.chunk}, "
        f"the tick writing {_slicing(args)}"
    )
    print(f"{args.mode} ({setup}), medians of {args.rounds} round(s):")
    print(
        f"  end to end, one language: {one:,.0f} msg/s from the dispatcher's tick "
        f"to the last message received; plain reference {plain:,.0f} msg/s; "
        f"ratio {one / plain:.2f} (target >= {target})"
    )
    print(
        f"  end to end, {languages} languages x {zones} zones: {many:,.0f} msg/s "
        f"from the dispatcher's tick to the last message received; ratio to one "
        f"language {many / one:.2f} (target >= 0.90); to the plain reference "
        f"{many / plain:.2f}"
    )
    print(
        f"  CPU a message (medians): end to end, one language {_per_message(figures['one'])};"
        f" plain reference {_per_message(figures['plain'])}"
    )
    print(
        f"  every message received and recorded as sent: {'yes' if complete else 'NO'}"
        f" ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
