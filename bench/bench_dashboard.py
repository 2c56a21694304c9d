"""Benchmark: the dashboard of a 100,000-employee campaign, and its export.

Builds (bulk inserts) a running campaign over 100,000 employees with 5 steps
and about 300,000 deliveries, then, logged in as a DPO through Django's test
client:

- renders the campaign's dashboard, its live JSON and the outstanding list:
  SQL queries and wall time (best and median of several runs, warm);
- then makes everyone outstanding and streams the outstanding CSV export of
  100,000 rows: rows/s (a plain run), then peak Python memory while
  streaming (a second run under tracemalloc, which slows Python down), and
  the process's max RSS before and after.

    .venv/bin/python bench/bench_dashboard.py
    .venv/bin/python bench/bench_dashboard.py --database-url sqlite:////tmp/bench_dashboard.sqlite3

The database is created afresh: by default the PostgreSQL database
``bench_dashboard`` on 127.0.0.1 (dropped and re-created).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_dashboard"


def _timed(client, url: str, runs: int) -> tuple[int, list[float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    for _ in range(runs):
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        times.append(time.perf_counter() - start)
        queries = len(captured)
        assert response.status_code == 200, response.status_code
    return queries, times, len(response.content)


def _export(client, url: str) -> tuple[int, float, int]:
    """Rows, seconds, bytes."""
    start = time.perf_counter()
    response = client.get(url)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    return lines - 1, time.perf_counter() - start, size


def _export_peak(client, url: str) -> float:
    """Peak MiB allocated by Python while streaming the export."""
    tracemalloc.start()
    _export(client, url)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the campaign a previous run built in this database (building "
        "1,000,000 people takes minutes); implies --no-export",
    )
    parser.add_argument("--no-export", action="store_true", help="time the pages only")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "true"
    os.environ["LANGUAGE_CODE"] = "en"
    if not args.reuse:
        fresh_database(args.database_url)

    import logging

    import django

    django.setup()
    logging.getLogger("notifications").setLevel(logging.WARNING)
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.urls import reverse

    from notifications.models import Campaign, Delivery, Recipient
    from tests.dashboard_factories import campaign_built

    call_command("migrate", verbosity=0)
    start = time.perf_counter()
    campaign = Campaign.objects.order_by("-pk").first() if args.reuse else None
    if campaign is None:
        campaign = campaign_built(args.employees).campaign
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
    print(
        f"built in {time.perf_counter() - start:.1f} s: "
        f"{Recipient.objects.filter(campaign=campaign).count():,} recipients, "
        f"{campaign.steps.count()} steps, "
        f"{Delivery.objects.filter(step__campaign=campaign).count():,} deliveries "
        f"({connection.vendor})"
    )

    user, _created = User.objects.get_or_create(username="bench-dpo", is_staff=True)
    user.groups.add(Group.objects.get(name="DPO"))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)

    def url(name: str, *extra: object) -> str:
        return reverse(
            f"admin:notifications_campaign_{name}", args=[campaign.pk, *extra]
        )

    pages = {
        "dashboard": url("dashboard"),
        "live JSON": url("dashboard_live"),
        "outstanding list (page 1)": url("people"),
        "overview": reverse("admin:notifications_campaign_dashboard_overview"),
    }
    # The reference: every figure counted for each request (what a campaign
    # up to DASHBOARD_LIVE_MAX_RECIPIENTS gets); then the project as
    # configured, a campaign this large read from its snapshot.
    live = {}
    with override_settings(DASHBOARD_LIVE_MAX_RECIPIENTS=10**12):
        for label, page in pages.items():
            queries, times, size = _timed(client, page, args.runs)
            live[label] = statistics.median(times)
            print(
                f"counted live   {label:28} {queries:3} queries  "
                f"best {min(times) * 1000:6.1f} ms  "
                f"median {statistics.median(times) * 1000:6.1f} ms  "
                f"({size / 1024:.0f} KiB)"
            )
    for page in pages.values():  # the first visit counts and keeps a snapshot
        client.get(page)
    for label, page in pages.items():
        queries, times, size = _timed(client, page, args.runs)
        median = statistics.median(times)
        print(
            f"as configured  {label:28} {queries:3} queries  "
            f"best {min(times) * 1000:6.1f} ms  median {median * 1000:6.1f} ms  "
            f"({size / 1024:.0f} KiB)  ratio to counted live {median / live[label]:.2f}"
        )

    if args.reuse or args.no_export:
        return
    # The export: everyone outstanding, so it has every row.
    Recipient.objects.filter(campaign=campaign).update(acknowledged_at=None, answer="")
    export = url("outstanding_export", "csv")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for _ in range(2):
        rows, seconds, size = _export(client, export)
        print(
            f"outstanding CSV export: {rows:,} rows in {seconds:.2f} s = "
            f"{rows / seconds:,.0f} rows/s ({size / 2**20:.1f} MiB)"
        )
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = _export_peak(client, export)
    print(
        f"memory: peak Python allocation while streaming {peak:.1f} MiB "
        f"for a {size / 2**20:.1f} MiB file; "
        f"process max RSS {rss_before:.0f} MiB before, {rss_after:.0f} MiB after"
    )


if __name__ == "__main__":
    main()
