"""Applying a plan (``apply_plan``): new employees inserted group by group
so that each INSERT carries its manager, the updates, the managers of
reporting cycles inside the file, the deactivations of ``--sync``, all in one
transaction; then the changed addresses announced (``_addresses_fixed``).

On PostgreSQL the plan's rows are in a temporary file and are written with
COPY and set-based INSERT ... SELECT / UPDATE ... FROM (``staged.apply``):
parameterised statements are bound on the client by Django's psycopg
backend, so PostgreSQL parsed and planned every row's INSERT and a first
import ran at about 16,000 rows/s on the 2-core reference machine
(bench/bench_import.py prints today's figure).

On SQLite, parameterised INSERT/UPDATE through Django's cursor and
executemany rather than QuerySet.bulk_create: bulk_create splits into
~70-row statements (999 variables) and prepares every value through the
field API, about 6,000 rows/s here; executemany of one prepared statement
reaches about 58,000 rows/s for a whole first import. Values are prepared
the way the ORM would (connection.ops adapters), and everything runs in one
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from employees.importing import staged
from employees.importing.planning import Plan
from employees.importing.snapshot import _COMPARED, _POS, _sql_names
from employees.importing.validating import Row
from employees.models import Employee
from employees.signals import AddressChange, addresses_changed_send

WRITE_BATCH = 2000

_WRITTEN = ("email", *_COMPARED)


def _values(row: Row, current: tuple) -> list[Any]:
    """The written fields of an updated employee: the file's over the current."""
    base = {name: current[_POS[name]] for name in _COMPARED}
    base.update(row.values)
    base["email"] = row.email
    return [base[name] for name in _WRITTEN]


def _new_params(row: Row, language: str, manager_id: int | None, now: Any) -> tuple:
    """The INSERT parameters of a new employee, in _WRITTEN order then manager,
    is_active, email_status, created_at, updated_at (the hot path of a first
    import: no intermediate dict or list)."""
    get = row.values.get
    return (
        row.email,
        get("hr_id", ""),
        get("first_name", ""),
        get("last_name", ""),
        get("department", ""),
        get("country", ""),
        get("language", language),
        get("time_zone", ""),
        manager_id,
        True,
        "ok",
        now,
        now,
    )


def _levels(rows: list[Row], existing_keys: set[str]) -> list[list[Row]]:
    """New employees in order: those whose manager already exists (or who have
    none) first, then their reports, and so on, so that each INSERT can carry
    its manager_id. Cycles within the file end in the last group."""
    pending = {row.key: row for row in rows}
    levels: list[list[Row]] = []
    ready = set(existing_keys)
    while pending:
        level = [
            r
            for r in pending.values()
            if not r.manager_key
            or r.manager_key in ready
            or r.manager_key not in pending
        ]
        if not level:
            levels.append(list(pending.values()))
            break
        levels.append(level)
        for row in level:
            del pending[row.key]
            ready.add(row.key)
    return levels


def _insert(
    rows: list[Row], existing: dict[int, tuple], now: Any, *, need_ids: bool
) -> tuple[dict[str, int], list[Row]]:
    """INSERT new employees with their managers.

    Returns the id of every employee by lower-cased email (the new ones only
    when ``need_ids`` or a reporting cycle needs them after the last group),
    and the rows whose manager could not be set yet (a cycle inside the file).
    """
    table, col = _sql_names()
    names = [
        *_WRITTEN,
        "manager",
        "is_active",
        "email_status",
        "created_at",
        "updated_at",
    ]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names from _meta)
        table, ", ".join(col[name] for name in names), ", ".join(["%s"] * len(names))
    )
    ids = {current[_POS["email"]].lower(): pk for pk, current in existing.items()}
    unlinked: list[Row] = []
    language = settings.LANGUAGE_CODE  # a lazy setting: read once, not per row
    with connection.cursor() as cursor:
        levels = _levels(rows, set(ids))
        for number, level in enumerate(levels, start=1):
            top = max(ids.values(), default=0)
            params = []
            for row in level:
                manager_id = ids.get(row.manager_key) if row.manager_key else None
                if row.manager_key and manager_id is None:
                    unlinked.append(row)
                params.append(_new_params(row, language, manager_id, now))
            for start in range(0, len(params), WRITE_BATCH):
                cursor.executemany(sql, params[start : start + WRITE_BATCH])
            if number == len(levels) and not (need_ids or unlinked):
                break
            new = Employee.objects.filter(pk__gt=top).values_list("id", "email")
            ids.update(
                (email.lower(), pk) for pk, email in new.iterator(chunk_size=10000)
            )
    return ids, unlinked


def _manager_of(row: Row, current: tuple, ids: dict[str, int]) -> int | None:
    if row.manager_key is None:
        return current[_POS["manager_id"]]
    return ids.get(row.manager_key) if row.manager_key else None


def _update(
    updates: list[tuple[int, Row]],
    existing: dict[int, tuple],
    ids: dict[str, int],
    now: Any,
) -> None:
    table, col = _sql_names()
    assignments = ", ".join(
        f"{col[name]} = %s" for name in (*_WRITTEN, "manager", "is_active")
    )
    sql = (
        f"UPDATE {table} SET {assignments}, "  # noqa: S608 (names from _meta)
        f"{col['deactivated_at']} = NULL, {col['updated_at']} = %s WHERE {col['id']} = %s"
    )
    params = [
        [
            *_values(row, existing[pk]),
            _manager_of(row, existing[pk], ids),
            True,
            now,
            pk,
        ]
        for pk, row in updates
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(params), WRITE_BATCH):
            cursor.executemany(sql, params[start : start + WRITE_BATCH])


def _link_cycles(rows: list[Row], ids: dict[str, int], now: Any) -> None:
    """Managers of new employees who manage each other inside the file."""
    table, col = _sql_names()
    sql = f"UPDATE {table} SET {col['manager']} = %s, {col['updated_at']} = %s WHERE {col['id']} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(ids.get(row.manager_key), now, ids[row.key]) for row in rows]
        )


def _deactivate(ids: list[int], now: datetime) -> None:
    for start in range(0, len(ids), 5000):
        Employee.objects.filter(
            pk__in=ids[start : start + 5000], is_active=True
        ).update(is_active=False, deactivated_at=now, updated_at=now)


def apply_plan(plan: Plan) -> None:
    """Write the plan: all of it in one transaction, or nothing."""
    # One time for the whole import, new employees written while it was
    # read (``writing``) included.
    now = plan.written_at or timezone.now()
    db_now = connection.ops.adapt_datetimefield_value(now)
    if plan.is_staged:
        with transaction.atomic():
            changes = staged.apply(
                plan.staged,
                db_now,
                creates=bool(plan.creates) and not plan.new_written,
                updates=bool(plan.updates),
            )
            _deactivate(plan.deactivate_ids, now)
            addresses_changed_send(sender=Employee, changes=changes)
        return
    if connection.vendor == "sqlite" and plan.creates:
        # A 64 MB page cache for this connection: the unique e-mail index of
        # a large directory stays in memory while thousands of rows go in.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -65536")
    with transaction.atomic():
        ids, unlinked = _insert(
            plan.creates, plan.existing, db_now, need_ids=bool(plan.updates)
        )
        _update(plan.updates, plan.existing, ids, db_now)
        if unlinked:
            _link_cycles(unlinked, ids, db_now)
        _deactivate(plan.deactivate_ids, now)
        _addresses_fixed(plan)


def _addresses_fixed(plan: Plan) -> None:
    """A new address for a known employee (matched by HR id) clears a bounced
    status and follows into running campaigns, as an admin edit does: the
    listeners of ``addresses_changed`` hear of the whole import at once."""
    changes = []
    for pk, row in plan.updates:
        previous = plan.existing[pk][_POS["email"]]
        if previous.lower() != row.key:
            changes.append(AddressChange(pk, row.email, previous))
    addresses_changed_send(sender=Employee, changes=changes)
