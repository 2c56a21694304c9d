"""A worker's claim reads its chunk once, whatever PostgreSQL's statistics say.

A step's rows are written and claimed at once, long before autovacuum
analyses them: the statistics still say no row is queued. With the chunk's
locking selection joined as a subquery, the planner then started from the
"queued" index (one row expected, every row of the step found) and ran the
selection again for each of them: the first claims of a new installation's
first campaign took 2 s each (bench_send.py's warm-up, 1,000 rows), and a
20,000-row step would have taken minutes a chunk.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from employees.models import Employee
from notifications.campaigns import services
from notifications.delivery import claim, dispatch
from notifications.models import Delivery, DeliveryStatus
from tests.campaign_factories import campaign_make

PEOPLE = 1_200


class _Undo(Exception):
    pass


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_locks_its_chunk_in_one_pass_with_stale_statistics(settings):
    settings.SEND_CHUNK_SIZE = 500
    Employee.objects.bulk_create(
        Employee(email=f"person{i}@example.com", first_name=f"P{i}")
        for i in range(PEOPLE)
    )
    campaign = campaign_make(
        name="Stale statistics",
        deadline=timezone.now() + timedelta(days=10),
        window=services.WindowSpec(enabled=False),
    )
    services.campaign_launch(campaign=campaign)
    with connection.cursor() as cursor:  # as autovacuum last saw it: no row queued
        cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    chunks: list[list[int]] = []
    dispatch.dispatch_tick(enqueue=chunks.append)
    chunk = chunks[0]

    with CaptureQueriesContext(connection) as queries:
        try:
            with transaction.atomic():
                claimed = claim.deliveries_claim(chunk, now=timezone.now())
                raise _Undo
        except _Undo:
            pass
    assert claimed == sorted(chunk)
    statement = next(q["sql"] for q in queries if "SKIP LOCKED" in q["sql"])

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")
            (plan,) = cursor.fetchone()[0]  # psycopg decodes the JSON
            raise _Undo
    except _Undo:
        pass
    locking = [n for n in _nodes(plan["Plan"]) if n["Node Type"] == "LockRows"]
    assert locking and all(n["Actual Loops"] == 1 for n in locking), [
        (n["Node Type"], n["Actual Loops"]) for n in _nodes(plan["Plan"])
    ]
    assert plan["Plan"]["Actual Rows"] == len(chunk)  # the whole chunk claimed
    assert Delivery.objects.filter(status=DeliveryStatus.QUEUED).count() == PEOPLE
