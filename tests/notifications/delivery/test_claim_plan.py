"""A chunk's claim and record read the chunk, whatever PostgreSQL's statistics say.

A step's rows are written and claimed at once, long before autovacuum
analyses them: the statistics still say no row is queued. With the chunk's
locking selection joined as a subquery, the planner then started from the
"queued" index (one row expected, every row of the step found) and ran the
selection again for each of them: the first claims of a new installation's
first campaign took 2 s each (bench_send.py's warm-up, 1,000 rows), and a
20,000-row step would have taken minutes a chunk.

The plans are PostgreSQL's own, as it ran the statements: auto_explain in
the test's session (LOAD needs the superuser the test database runs as),
reporting each plan to the client as a notice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from notifications.delivery import send
from notifications.models import Delivery, DeliveryStatus
from tests.fake_esp import FakePostmark
from tests.notifications.delivery.test_sending import launched, tick, use_fake_postmark

PEOPLE = 1_200
CHUNK = 500
TABLE = Delivery._meta.db_table


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@contextmanager
def _plans() -> Iterator[list[dict]]:
    """The plan of each statement run meanwhile, with its actual rows and
    loops, as PostgreSQL executed it."""
    plans: list[dict] = []
    connection.ensure_connection()
    raw = connection.connection

    def notice(diagnostic) -> None:  # type: ignore[no-untyped-def]
        text = diagnostic.message_primary or ""
        if text.startswith("duration:") and "{" in text:
            plans.append(json.loads(text[text.index("{") :]))

    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for name, value in (
            ("log_min_duration", "0"),
            ("log_analyze", "on"),
            ("log_format", "json"),
            ("log_level", "notice"),
        ):
            cursor.execute(f"SET auto_explain.{name} = '{value}'")
    raw.add_notice_handler(notice)
    try:
        yield plans
    finally:
        raw.remove_notice_handler(notice)
        with connection.cursor() as cursor:
            cursor.execute("SET auto_explain.log_min_duration = -1")


def _delivery_rows_read(plan: dict) -> int:
    """Rows of the messages table the statement went through: each scan's
    rows times the times it ran."""
    return sum(
        node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        for node in _nodes(plan["Plan"])
        if node.get("Relation Name") == TABLE and "Scan" in node["Node Type"]
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunk_is_claimed_and_recorded_by_reading_its_own_rows(settings):
    settings.SEND_CHUNK_SIZE = CHUNK
    launched(PEOPLE)
    with connection.cursor() as cursor:  # as autovacuum last saw it: no row queued
        cursor.execute(f"ANALYZE {TABLE}")
    _report, chunks = tick()

    with FakePostmark() as fake:
        use_fake_postmark(settings, fake, batch_size=CHUNK)
        with _plans() as plans:
            report = send.deliveries_send(chunks[0])

    assert report.sent == CHUNK == len(fake.addresses())
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == CHUNK
    writes = {
        "claim": [p for p in plans if "SKIP LOCKED" in p["Query Text"]],
        "record": [
            p
            for p in plans
            if p["Query Text"].startswith(f'UPDATE "{TABLE}"')
            and "SKIP LOCKED" not in p["Query Text"]
        ],
    }
    assert writes["claim"] and writes["record"], [p["Query Text"][:80] for p in plans]
    for what, statements in writes.items():
        for plan in statements:
            # The chunk's rows, a few times over (the lookup, the lock, the
            # update), never the step's 1,200 once per row.
            assert _delivery_rows_read(plan) <= 4 * CHUNK, (
                what,
                [(n["Node Type"], n.get("Actual Loops")) for n in _nodes(plan["Plan"])],
            )
